"""A protected SageMaker real-time serving endpoint, built the way a security reviewer signs off.

- One customer-managed KMS key (rotation on) encrypts the instances' storage volume, the captured data, the
  capture bucket and the endpoint's log group. Its policy grants the execution role only the key operations
  SageMaker needs, and CloudWatch Logs only this endpoint's log group.
- Captured requests and responses land in a bucket the stack creates: all four public-access blocks, SSE-KMS
  with a bucket key, versioning, a TLS-only bucket policy, owner-enforced object ownership, and a lifecycle
  rule that expires captures after the configured number of days. Every request to it is recorded by S3 server
  access logging in a hardened log bucket (`ml_infra.access_logs`; required in prod).
- The execution role trusts SageMaker only, for this account only, and its own inline policy reaches the model
  artifact prefix, the capture prefix, the image repository, the key and the log group: no AWS-managed
  policy. Wildcard resources appear only for actions that support no resource, each said so below.
- The model runs with network isolation, in the configured VPC subnets (required in prod).
- Updates are blue/green with automatic rollback on two alarms the component creates (5XX errors, model
  latency); target-tracking autoscaling keeps the variant between the configured instance counts.
- Invocation: an IAM policy that allows `sagemaker:InvokeEndpoint` on this endpoint only, attached to the
  roles the stack names and exported for any other application that needs it.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from ml_infra.access_logs import AccessLogBucket, access_logs_for
from ml_infra.aws_iam import service_trust_policy
from ml_infra.aws_kms import customer_managed_key, logs_may_use_key
from ml_infra.hardened_bucket import Expiry, hardened_bucket
from ml_infra.stack_config import ECR_IMAGE, S3_MODEL_ARTIFACT, SageMakerSettings

VARIANT_NAME = "primary"
CAPTURE_PREFIX = "capture"
SAGEMAKER_NAMESPACE = "AWS/SageMaker"


@dataclass(frozen=True)
class ImageRepository:
    account: str
    region: str
    name: str


def image_repository(image_uri: str) -> ImageRepository:
    """The ECR repository an image URI points into (the config model has checked the URI's shape)."""
    match = ECR_IMAGE.match(image_uri)
    if match is None:
        raise ValueError(f"not an ECR image URI: {image_uri}")
    registry, _, rest = image_uri.partition("/")
    account, _, _, region = registry.split(".")[:4]
    repository = rest.split("@", 1)[0].rsplit(":", 1)[0]  # without the tag or digest
    return ImageRepository(account=account, region=region, name=repository)


def artifact_object_pattern(model_data_url: str) -> str:
    """The `bucket/...` part of the S3 ARN that grants reading a model artifact: the folder holding it
    (`bucket/prefix/*`, so the versions next to it stay readable), or the artifact itself when it sits at the
    bucket's root (`bucket/model.tar.gz`; `bucket//*` would match no object, and `bucket/*` every object)."""
    match = S3_MODEL_ARTIFACT.match(model_data_url)
    if match is None:
        raise ValueError(f"not an s3:// model artifact: {model_data_url}")
    folder = posixpath.dirname(match["key"])
    return f"{match['bucket']}/{folder}/*" if folder else f"{match['bucket']}/{match['key']}"


@dataclass
class ServingEndpointArgs:
    project: str
    environment: str
    settings: SageMakerSettings
    kms_deletion_window_days: int
    protect: bool


class ServingEndpoint(pulumi.ComponentResource):
    """The endpoint, its model, key, capture bucket, roles, alarms, autoscaling and invoke policy."""

    key: aws.kms.Key
    key_alias: aws.kms.Alias
    capture_bucket: aws.s3.Bucket
    capture_bucket_public_access: aws.s3.BucketPublicAccessBlock
    capture_bucket_ownership: aws.s3.BucketOwnershipControls
    capture_bucket_encryption: aws.s3.BucketServerSideEncryptionConfiguration
    capture_bucket_versioning: aws.s3.BucketVersioning
    capture_bucket_lifecycle: aws.s3.BucketLifecycleConfiguration
    capture_bucket_policy: aws.s3.BucketPolicy
    capture_access_logs: AccessLogBucket | None
    log_group: aws.cloudwatch.LogGroup
    execution_role: aws.iam.Role
    execution_policy: aws.iam.RolePolicy
    model: aws.sagemaker.Model
    endpoint_config: aws.sagemaker.EndpointConfiguration
    error_alarm: aws.cloudwatch.MetricAlarm
    latency_alarm: aws.cloudwatch.MetricAlarm
    endpoint: aws.sagemaker.Endpoint
    scaling_target: aws.appautoscaling.Target | None
    scaling_policy: aws.appautoscaling.Policy | None
    invoke_policy: aws.iam.Policy
    invoke_policy_document: pulumi.Output[str]
    invoker_attachments: list[aws.iam.RolePolicyAttachment]

    def __init__(self, name: str, args: ServingEndpointArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-infra:sagemaker_endpoint:ServingEndpoint", name, None, opts)
        settings = args.settings
        child = pulumi.ResourceOptions(parent=self)
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protect)
        invoke = pulumi.InvokeOptions(parent=self)

        identity = aws.get_caller_identity_output(opts=invoke)
        partition = aws.get_partition_output(opts=invoke).partition
        region = aws.get_region_output(opts=invoke).region
        account = identity.account_id

        endpoint_name = f"{args.project}-{args.environment}-serving"
        log_group_name = f"/aws/sagemaker/Endpoints/{endpoint_name}"
        log_group_arn = pulumi.Output.concat(
            "arn:", partition, ":logs:", region, ":", account, ":log-group:", log_group_name
        )

        # The role first: the key policy names it, and its own policy names the key (no cycle: the trust
        # policy needs neither).
        self.execution_role = aws.iam.Role(
            f"{name}-execution-role",
            description=f"Runs the {endpoint_name} model containers.",
            assume_role_policy=service_trust_policy("sagemaker.amazonaws.com", account),
            max_session_duration=3600,
            opts=child,
        )

        key_use = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
        self.key = customer_managed_key(
            f"{name}-key",
            description=f"Encrypts the storage volume, captured data and logs of {endpoint_name}.",
            deletion_window_days=args.kms_deletion_window_days,
            partition=partition,
            account=account,
            statements=[
                {
                    "Sid": "ExecutionRoleUsesKey",
                    "Effect": "Allow",
                    "Principal": {"AWS": self.execution_role.arn},
                    "Action": key_use,
                    "Resource": "*",
                },
                {
                    # SageMaker attaches the volume through a grant; only for AWS resources.
                    "Sid": "ExecutionRoleGrantsToSageMakerVolumes",
                    "Effect": "Allow",
                    "Principal": {"AWS": self.execution_role.arn},
                    "Action": "kms:CreateGrant",
                    "Resource": "*",
                    "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
                },
                logs_may_use_key("LogsEncryptThisEndpointsLogGroup", region, log_group_arn),
            ],
            opts=stateful,
        )
        self.key_alias = aws.kms.Alias(
            f"{name}-key-alias", name=f"alias/{endpoint_name}", target_key_id=self.key.key_id, opts=child
        )

        # Captured requests and responses: a hardened bucket under the endpoint's key.
        capture = hardened_bucket(
            f"{name}-capture",
            parent=self,
            protect=args.protect,
            kms_key_arn=self.key.arn,
            expiry=Expiry(
                rule_id="expire-captured-data",
                prefix=f"{CAPTURE_PREFIX}/",
                days=settings.data_capture.retention_days,
            ),
        )
        self.capture_bucket = capture.bucket
        self.capture_bucket_public_access = capture.public_access
        self.capture_bucket_ownership = capture.ownership
        self.capture_bucket_encryption = capture.encryption
        self.capture_bucket_versioning = capture.versioning
        self.capture_bucket_lifecycle = capture.lifecycle
        self.capture_bucket_policy = capture.policy
        # Who read or wrote captured payloads: every request to the capture bucket, in a hardened log bucket.
        self.capture_access_logs = access_logs_for(
            f"{name}-capture-access-logs", self.capture_bucket, account, settings.access_logs, args.protect, opts=child
        )
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=log_group_name,
            retention_in_days=365 if args.environment == "prod" else 30,
            kms_key_id=self.key.arn,
            opts=stateful,
        )

        repository = image_repository(settings.image_uri)
        artifact_objects = artifact_object_pattern(settings.model_data_url)
        repository_arn = pulumi.Output.concat(
            "arn:", partition, ":ecr:", repository.region, ":", repository.account, ":repository/", repository.name
        )
        statements: list[dict[str, object]] = [
            {
                "Sid": "ReadModelArtifact",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": pulumi.Output.concat("arn:", partition, ":s3:::", artifact_objects),
            },
            {
                "Sid": "WriteCapturedData",
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": pulumi.Output.concat(self.capture_bucket.arn, "/", CAPTURE_PREFIX, "/*"),
            },
            {
                "Sid": "PullInferenceImage",
                "Effect": "Allow",
                "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
                "Resource": repository_arn,
            },
            {
                # ecr:GetAuthorizationToken supports no resource-level permission: "*" is the only value.
                "Sid": "AuthenticateToEcr",
                "Effect": "Allow",
                "Action": "ecr:GetAuthorizationToken",
                "Resource": "*",
            },
            {
                "Sid": "UseEndpointKey",
                "Effect": "Allow",
                "Action": key_use,
                "Resource": self.key.arn,
            },
            {
                "Sid": "GrantKeyToSageMakerVolumes",
                "Effect": "Allow",
                "Action": "kms:CreateGrant",
                "Resource": self.key.arn,
                "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
            },
            {
                "Sid": "WriteEndpointLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                "Resource": [log_group_arn, pulumi.Output.concat(log_group_arn, ":log-stream:*")],
            },
            {
                # cloudwatch:PutMetricData supports no resource-level permission; the condition limits it to
                # SageMaker's endpoint namespace.
                "Sid": "PublishEndpointMetrics",
                "Effect": "Allow",
                "Action": "cloudwatch:PutMetricData",
                "Resource": "*",
                "Condition": {"StringEquals": {"cloudwatch:namespace": "/aws/sagemaker/Endpoints"}},
            },
        ]
        if settings.vpc is not None:
            network_interfaces = pulumi.Output.concat(
                "arn:", partition, ":ec2:", region, ":", account, ":network-interface/*"
            )
            statements += [
                {
                    "Sid": "AttachToConfiguredSubnets",
                    "Effect": "Allow",
                    "Action": ["ec2:CreateNetworkInterface", "ec2:CreateNetworkInterfacePermission"],
                    "Resource": [
                        network_interfaces,
                        *[
                            pulumi.Output.concat("arn:", partition, ":ec2:", region, ":", account, ":subnet/", subnet)
                            for subnet in settings.vpc.subnet_ids
                        ],
                        *[
                            pulumi.Output.concat(
                                "arn:", partition, ":ec2:", region, ":", account, ":security-group/", group
                            )
                            for group in settings.vpc.security_group_ids
                        ],
                    ],
                },
                {
                    "Sid": "DetachNetworkInterfaces",
                    "Effect": "Allow",
                    "Action": ["ec2:DeleteNetworkInterface", "ec2:DeleteNetworkInterfacePermission"],
                    "Resource": network_interfaces,
                },
                {
                    # EC2 Describe* actions support no resource-level permission.
                    "Sid": "DescribeNetwork",
                    "Effect": "Allow",
                    "Action": [
                        "ec2:DescribeNetworkInterfaces",
                        "ec2:DescribeVpcs",
                        "ec2:DescribeDhcpOptions",
                        "ec2:DescribeSubnets",
                        "ec2:DescribeSecurityGroups",
                    ],
                    "Resource": "*",
                },
            ]
        self.execution_policy = aws.iam.RolePolicy(
            f"{name}-execution-policy",
            role=self.execution_role.name,
            policy=pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": statements}),
            opts=child,
        )

        self.model = aws.sagemaker.Model(
            f"{name}-model",
            execution_role_arn=self.execution_role.arn,
            primary_container={
                "image": settings.image_uri,
                "model_data_url": settings.model_data_url,
                "mode": "SingleModel",
            },
            # Off only for serverless endpoints, which do not support it (the config model allows nothing else).
            enable_network_isolation=settings.network_isolation,
            vpc_config={"subnets": settings.vpc.subnet_ids, "security_group_ids": settings.vpc.security_group_ids}
            if settings.vpc is not None
            else None,
            # SageMaker checks the role's access when the model is created: the policy must be in place first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.execution_policy]),
        )

        capture = settings.data_capture
        variant: aws.sagemaker.EndpointConfigurationProductionVariantArgsDict = {
            "variant_name": VARIANT_NAME,
            "model_name": self.model.name,
            "initial_variant_weight": 1.0,
        }
        if settings.serverless is not None:
            # Scales to zero between requests: no instances, so no instance type, count or autoscaling.
            variant["serverless_config"] = {
                "memory_size_in_mb": settings.serverless.memory_size_in_mb,
                "max_concurrency": settings.serverless.max_concurrency,
            }
        else:
            variant["instance_type"] = settings.instance_type
            variant["initial_instance_count"] = settings.initial_instance_count
        self.endpoint_config = aws.sagemaker.EndpointConfiguration(
            f"{name}-config",
            production_variants=[variant],
            # Not allowed on instance types with (hardware-encrypted) local NVMe storage; the config model
            # only lets volumeEncryption be off for those. On serverless endpoints the key encrypts the image.
            kms_key_arn=self.key.arn if settings.volume_encryption else None,
            data_capture_config=None
            if not capture.enabled
            else {
                "enable_capture": True,
                "initial_sampling_percentage": capture.sampling_percentage,
                "destination_s3_uri": pulumi.Output.concat("s3://", self.capture_bucket.bucket, "/", CAPTURE_PREFIX),
                "kms_key_id": self.key.arn,
                "capture_options": [
                    {"capture_mode": mode}
                    for mode, wanted in (("Input", capture.capture_inputs), ("Output", capture.capture_outputs))
                    if wanted
                ],
                "capture_content_type_header": {
                    "json_content_types": ["application/json"],
                    "csv_content_types": ["text/csv"],
                },
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.capture_bucket_policy]),
        )

        dimensions = {"EndpointName": endpoint_name, "VariantName": VARIANT_NAME}
        alarms = settings.alarms
        self.error_alarm = aws.cloudwatch.MetricAlarm(
            f"{name}-errors-alarm",
            name=f"{endpoint_name}-invocation-5xx-errors",
            alarm_description="Model containers answer with server errors: rolls back a deployment in progress.",
            namespace=SAGEMAKER_NAMESPACE,
            metric_name="Invocation5XXErrors",
            dimensions=dimensions,
            statistic="Sum",
            period=60,
            evaluation_periods=2,
            datapoints_to_alarm=2,
            threshold=alarms.max_server_errors_per_minute,
            comparison_operator="GreaterThanOrEqualToThreshold",
            treat_missing_data="notBreaching",
            opts=child,
        )
        self.latency_alarm = aws.cloudwatch.MetricAlarm(
            f"{name}-latency-alarm",
            name=f"{endpoint_name}-model-latency",
            alarm_description="Model latency above the limit: rolls back a deployment in progress.",
            namespace=SAGEMAKER_NAMESPACE,
            metric_name="ModelLatency",
            dimensions=dimensions,
            statistic="Average",
            period=60,
            evaluation_periods=3,
            datapoints_to_alarm=3,
            threshold=alarms.max_model_latency_ms * 1000,  # SageMaker reports ModelLatency in microseconds
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching",
            opts=child,
        )

        self.endpoint = aws.sagemaker.Endpoint(
            f"{name}-endpoint",
            name=endpoint_name,
            endpoint_config_name=self.endpoint_config.name,
            deployment_config={
                "blue_green_update_policy": {
                    # The new fleet takes all traffic at once, then bakes for ten minutes while the alarms
                    # watch it; the old fleet is kept until the bake ends, so a rollback is immediate.
                    "traffic_routing_configuration": {"type": "ALL_AT_ONCE", "wait_interval_in_seconds": 600},
                    "termination_wait_in_seconds": 300,
                    "maximum_execution_timeout_in_seconds": 3600,
                },
                "auto_rollback_configuration": {
                    "alarms": [{"alarm_name": self.error_alarm.name}, {"alarm_name": self.latency_alarm.name}]
                },
            },
            opts=stateful,
        )

        # Instance autoscaling; a serverless endpoint scales itself (up to maxConcurrency) and has none.
        self.scaling_target = None
        self.scaling_policy = None
        if settings.serverless is None:
            resource_id = pulumi.Output.concat("endpoint/", self.endpoint.name, "/variant/", VARIANT_NAME)
            self.scaling_target = aws.appautoscaling.Target(
                f"{name}-scaling-target",
                service_namespace="sagemaker",
                resource_id=resource_id,
                scalable_dimension="sagemaker:variant:DesiredInstanceCount",
                min_capacity=settings.min_instances,
                max_capacity=settings.max_instances,
                opts=child,
            )
            self.scaling_policy = aws.appautoscaling.Policy(
                f"{name}-scaling-policy",
                policy_type="TargetTrackingScaling",
                service_namespace=self.scaling_target.service_namespace,
                resource_id=self.scaling_target.resource_id,
                scalable_dimension=self.scaling_target.scalable_dimension,
                target_tracking_scaling_policy_configuration={
                    "target_value": float(settings.target_invocations_per_instance),
                    "predefined_metric_specification": {
                        "predefined_metric_type": "SageMakerVariantInvocationsPerInstance"
                    },
                    "scale_in_cooldown": 300,
                    "scale_out_cooldown": 60,
                },
                opts=child,
            )

        self.invoke_policy_document = pulumi.Output.json_dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "InvokeThisEndpointOnly",
                        "Effect": "Allow",
                        "Action": ["sagemaker:InvokeEndpoint", "sagemaker:InvokeEndpointWithResponseStream"],
                        "Resource": self.endpoint.arn,
                    }
                ],
            }
        )
        self.invoke_policy = aws.iam.Policy(
            f"{name}-invoke",
            name=f"{endpoint_name}-invoke",
            description=f"Invoke the {endpoint_name} endpoint, and nothing else.",
            policy=self.invoke_policy_document,
            opts=child,
        )
        self.invoker_attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-invoker-{role_name}", role=role_name, policy_arn=self.invoke_policy.arn, opts=child
            )
            for role_name in settings.invoker_role_names
        ]

        self.register_outputs(
            {
                "endpoint_name": self.endpoint.name,
                "endpoint_arn": self.endpoint.arn,
                "capture_bucket": self.capture_bucket.bucket,
                "invoke_policy_arn": self.invoke_policy.arn,
            }
        )
