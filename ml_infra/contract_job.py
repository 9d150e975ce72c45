"""The optional AWS Glue 5 job that validates a dataset against a contract of the stack's registry on Spark
(`ml_infra.contracts.spark`, the job script of docs/examples/glue_validate_contract.py), declared only when the
stack turns `contractJobEnabled` on.

Hardened like the rest of the stack:
- One customer-managed KMS key (rotation on) for everything the job writes: a Glue security configuration uses it
  for the job's S3 writes (SSE-KMS), its CloudWatch logs and its job bookmarks (CSE-KMS); the key policy lets
  CloudWatch Logs use it for this job's log groups only.
- The job script is uploaded by the stack into a hardened bucket (`ml_infra.hardened_bucket`: public access
  blocked, SSE-KMS with this key, versioning, TLS only; its requests recorded by S3 server access logging,
  required in prod), which also holds Glue's temporary files (`--TempDir`), expired after the configured days.
- The job's log groups exist before the first run, encrypted with the key and with a retention, so Glue never
  creates unencrypted, never-expiring ones (`--custom-logGroup-prefix`, Glue 5's logging).
- The role trusts Glue, for this account only, and its inline policy reaches: the script and the temporary
  prefix, the library wheel, the input prefix (read only), the two output prefixes (write, and the staging folder
  the valid output is moved from), `glue:GetSchemaVersion` on the one registry and schema, the key, and the
  job's own log groups. No AWS-managed policy (AWSGlueServiceRole grants far more).
- Job bookmarks are off: a validation run judges the whole input it is given (docs/spark.md says why); they would
  be encrypted all the same.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from ml_infra.access_logs import AccessLogBucket, access_logs_for
from ml_infra.aws_iam import service_trust_policy
from ml_infra.aws_kms import customer_managed_key, logs_may_use_key
from ml_infra.hardened_bucket import Expiry, HardenedBucket, hardened_bucket
from ml_infra.stack_config import ContractJobSettings, s3_prefix_parts

GLUE_VERSION = "5.0"
SCRIPT_KEY = "jobs/glue_validate_contract.py"
TEMPORARY_PREFIX = "temporary/"
LOG_GROUP_ROOT = "/aws-glue/jobs/"


@dataclass
class ContractJobArgs:
    project: str
    environment: str
    settings: ContractJobSettings
    registry_name: pulumi.Input[str]  # the stack's Glue schema registry, holding the contract
    script_path: Path  # the job script uploaded to the job's bucket
    kms_deletion_window_days: int
    protect: bool


def job_name(project: str, environment: str, contract: str) -> str:
    return f"{project}-{environment}-validate-{contract}"


class ContractJob(pulumi.ComponentResource):
    """A Glue 5 Spark job validating an S3 prefix against one registry contract, with its key, security
    configuration, script bucket, log groups and role."""

    key: aws.kms.Key
    key_alias: aws.kms.Alias
    security_configuration: aws.glue.SecurityConfiguration
    bucket: HardenedBucket
    access_logs: AccessLogBucket | None
    script: aws.s3.BucketObjectv2
    log_groups: dict[str, aws.cloudwatch.LogGroup]
    role: aws.iam.Role
    role_policy: aws.iam.RolePolicy
    role_policy_document: pulumi.Output[str]
    job: aws.glue.Job

    def __init__(self, name: str, args: ContractJobArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-infra:contract_job:ContractJob", name, None, opts)
        settings = args.settings
        child = pulumi.ResourceOptions(parent=self)
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protect)
        invoke = pulumi.InvokeOptions(parent=self)

        account = aws.get_caller_identity_output(opts=invoke).account_id
        partition = aws.get_partition_output(opts=invoke).partition
        region = aws.get_region_output(opts=invoke).region

        self.job_name = job_name(args.project, args.environment, settings.contract)
        # Glue 5 writes a job's logs to <prefix>/output and <prefix>/error when given --custom-logGroup-prefix
        # (https://docs.aws.amazon.com/glue/latest/dg/monitor-continuous-logging.html, "Custom logging").
        log_prefix = f"{LOG_GROUP_ROOT}{self.job_name}"
        log_groups_arn = pulumi.Output.concat(
            "arn:", partition, ":logs:", region, ":", account, ":log-group:", log_prefix, "*"
        )

        self.role = aws.iam.Role(
            f"{name}-role",
            description=f"Runs the {self.job_name} Glue job.",
            assume_role_policy=service_trust_policy("glue.amazonaws.com", account),
            max_session_duration=3600,
            opts=child,
        )
        self.key = customer_managed_key(
            f"{name}-key",
            description=f"Encrypts the S3 writes, logs and job bookmarks of {self.job_name}.",
            deletion_window_days=args.kms_deletion_window_days,
            partition=partition,
            account=account,
            statements=[
                logs_may_use_key("LogsEncryptThisJobsLogGroups", region, log_groups_arn, operator="ArnLike"),
            ],
            opts=stateful,
        )
        self.key_alias = aws.kms.Alias(
            f"{name}-key-alias", name=f"alias/{self.job_name}", target_key_id=self.key.key_id, opts=child
        )
        self.security_configuration = aws.glue.SecurityConfiguration(
            f"{name}-security",
            name=self.job_name,
            encryption_configuration={
                "s3_encryption": {"s3_encryption_mode": "SSE-KMS", "kms_key_arn": self.key.arn},
                "cloudwatch_encryption": {"cloudwatch_encryption_mode": "SSE-KMS", "kms_key_arn": self.key.arn},
                "job_bookmarks_encryption": {"job_bookmarks_encryption_mode": "CSE-KMS", "kms_key_arn": self.key.arn},
            },
            opts=child,
        )

        self.bucket = hardened_bucket(
            f"{name}-bucket",
            parent=self,
            protect=args.protect,
            kms_key_arn=self.key.arn,
            expiry=Expiry("expire-temporary-files", TEMPORARY_PREFIX, settings.temporary_retention_days),
        )
        self.access_logs = access_logs_for(
            f"{name}-access-logs", self.bucket.bucket, account, settings.access_logs, args.protect, opts=child
        )
        script_text = args.script_path.read_bytes()
        self.script = aws.s3.BucketObjectv2(
            f"{name}-script",
            bucket=self.bucket.bucket.id,
            key=SCRIPT_KEY,
            source=pulumi.FileAsset(str(args.script_path)),
            content_type="text/x-python",
            server_side_encryption="aws:kms",
            kms_key_id=self.key.arn,
            bucket_key_enabled=True,
            # With SSE-KMS the ETag is no MD5 of the content: the hash is what tells Pulumi the script changed.
            source_hash=hashlib.sha256(script_text).hexdigest(),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.bucket.encryption, self.bucket.policy]),
        )
        self.log_groups = {
            stream: aws.cloudwatch.LogGroup(
                f"{name}-logs-{stream}",
                name=f"{log_prefix}/{stream}",
                retention_in_days=settings.log_retention_days,
                kms_key_id=self.key.arn,
                opts=child,
            )
            for stream in ("output", "error")
        }

        self.role_policy_document = pulumi.Output.json_dumps(
            {
                "Version": "2012-10-17",
                "Statement": self._role_statements(
                    settings, args.registry_name, partition, region, account, log_groups_arn
                ),
            }
        )
        self.role_policy = aws.iam.RolePolicy(
            f"{name}-role-policy", role=self.role.name, policy=self.role_policy_document, opts=child
        )

        temporary = pulumi.Output.concat("s3://", self.bucket.bucket.bucket, "/", TEMPORARY_PREFIX)
        default_arguments: dict[str, pulumi.Input[str]] = {
            # The library and its dependencies, installed with pip on every worker before the script starts.
            # Not the `spark` extra: Glue 5 has PySpark, pyarrow and pandas already.
            "--additional-python-modules": settings.library_wheel_url,
            "--registry": args.registry_name,
            "--schema": settings.contract,
            "--input": settings.input_url,
            "--valid-output": settings.valid_output_url,
            "--rejected-output": settings.rejected_output_url,
            "--fail-on-rejected": "true" if settings.fail_on_rejected else "false",
            "--region": region,
            "--TempDir": temporary,
            "--job-bookmark-option": "job-bookmark-disable",
            "--enable-continuous-cloudwatch-log": "true",
            "--custom-logGroup-prefix": log_prefix,
            "--job-language": "python",
        }
        if settings.schema_version is not None:
            default_arguments["--schema-version"] = str(settings.schema_version)
        self.job = aws.glue.Job(
            f"{name}-job",
            name=self.job_name,
            description=f"Validates {settings.input_url} against the {settings.contract} contract (docs/spark.md).",
            role_arn=self.role.arn,
            glue_version=GLUE_VERSION,
            command={
                "name": "glueetl",
                "python_version": "3",
                "script_location": pulumi.Output.concat("s3://", self.bucket.bucket.bucket, "/", SCRIPT_KEY),
            },
            worker_type=settings.worker_type,
            number_of_workers=settings.number_of_workers,
            timeout=settings.timeout_minutes,
            max_retries=settings.max_retries,
            execution_property={"max_concurrent_runs": 1},
            security_configuration=self.security_configuration.name,
            default_arguments=default_arguments,
            # Glue checks the role when a run starts; the policy, logs and script must exist by then.
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[self.role_policy, self.script, *self.log_groups.values()]
            ),
        )
        self.register_outputs(
            {
                "job_name": self.job.name,
                "role_arn": self.role.arn,
                "security_configuration": self.security_configuration.name,
                "bucket": self.bucket.bucket.bucket,
            }
        )

    def _role_statements(
        self,
        settings: ContractJobSettings,
        registry_name: pulumi.Input[str],
        partition: pulumi.Input[str],
        region: pulumi.Input[str],
        account: pulumi.Input[str],
        log_groups_arn: pulumi.Input[str],
    ) -> list[dict[str, Any]]:
        def objects(bucket: str, pattern: str) -> pulumi.Output[str]:
            return pulumi.Output.concat("arn:", partition, ":s3:::", bucket, "/", pattern)

        def glue_arn(resource: pulumi.Input[str]) -> pulumi.Output[str]:
            return pulumi.Output.concat("arn:", partition, ":glue:", region, ":", account, ":", resource)

        def bucket_arn(bucket: str) -> pulumi.Output[str]:
            return pulumi.Output.concat("arn:", partition, ":s3:::", bucket)

        in_bucket, in_prefix = s3_prefix_parts(settings.input_url)
        valid_bucket, valid_prefix = s3_prefix_parts(settings.valid_output_url)
        rejected_bucket, rejected_prefix = s3_prefix_parts(settings.rejected_output_url)
        wheel_bucket, wheel_key = s3_prefix_parts(settings.library_wheel_url)
        # Spark lists what it reads and writes: ListBucket limited to the prefixes, per bucket.
        listed: dict[str, list[str]] = {}
        for bucket, prefix in (
            (in_bucket, f"{in_prefix}/*"),
            (in_bucket, in_prefix),
            (valid_bucket, f"{valid_prefix}*"),
            (rejected_bucket, f"{rejected_prefix}*"),
        ):
            listed.setdefault(bucket, []).append(prefix)
        job_bucket = self.bucket.bucket
        statements: list[dict[str, Any]] = [
            {
                "Sid": "ReadScriptAndLibrary",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": [pulumi.Output.concat(job_bucket.arn, "/", SCRIPT_KEY), objects(wheel_bucket, wheel_key)],
            },
            {
                "Sid": "UseTemporaryFolder",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": pulumi.Output.concat(job_bucket.arn, "/", TEMPORARY_PREFIX, "*"),
            },
            {
                "Sid": "ListTemporaryFolder",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": job_bucket.arn,
                "Condition": {"StringLike": {"s3:prefix": [f"{TEMPORARY_PREFIX}*"]}},
            },
            {
                "Sid": "ReadInput",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": objects(in_bucket, f"{in_prefix}/*"),
            },
            {
                # The valid output is written into a staging folder beside it (`<valid>.staging-*`) and moved;
                # on S3 a move is a copy and a delete, so both outputs need read, write and delete.
                "Sid": "WriteOutputs",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": [
                    objects(valid_bucket, f"{valid_prefix}/*"),
                    objects(valid_bucket, f"{valid_prefix}.staging-*"),
                    objects(rejected_bucket, f"{rejected_prefix}/*"),
                ],
            },
            *[
                {
                    "Sid": f"ListDataPrefixes{i}",
                    "Effect": "Allow",
                    "Action": "s3:ListBucket",
                    "Resource": bucket_arn(bucket),
                    "Condition": {"StringLike": {"s3:prefix": prefixes}},
                }
                for i, (bucket, prefixes) in enumerate(sorted(listed.items()))
            ],
            {
                "Sid": "ReadTheContract",
                "Effect": "Allow",
                "Action": "glue:GetSchemaVersion",
                "Resource": [
                    glue_arn(pulumi.Output.concat("registry/", registry_name)),
                    glue_arn(pulumi.Output.concat("schema/", registry_name, "/", settings.contract)),
                ],
            },
            {
                "Sid": "UseJobKey",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                "Resource": self.key.arn,
            },
            {
                "Sid": "WriteJobLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:AssociateKmsKey"],
                "Resource": [log_groups_arn, pulumi.Output.concat(log_groups_arn, ":log-stream:*")],
            },
        ]
        return statements
