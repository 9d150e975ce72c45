"""The model registry GraphQL API (AWS AppSync): a DynamoDB-backed registry of model versions and their life
cycle (REGISTERED -> STAGING -> PRODUCTION -> ARCHIVED), for pipelines and people.

The schema (`appsync/schema.graphql`) and one APPSYNC_JS resolver per Query/Mutation field
(`appsync/resolvers/<Type>.<field>.js`) are files shipped with this package and uploaded as they are; the
resolvers do the data rules (a registration never overwrites, a status change never skips a step, a serving
version is never deleted) as conditional DynamoDB writes. They are checked offline by `npm test` (AWS's eslint
rules for the AppSync runtime and node unit tests).

Security: AWS_IAM is the default authorization mode and the only one that may change the registry; a Cognito
user pool (where configured) and an API key (where the stack allows one, never in prod) may read and
subscribe. An AWS WAF web ACL (`ml_infra.waf`: per-IP rate limit, AWS managed rule groups; required in prod)
sits in front of the API. The table and the API's log group are encrypted with a customer-managed key created here; the
table has point-in-time recovery and, when the stack protects stateful resources, deletion protection. Every
role has its own policy written for it, scoped to this API's table, index, key and log group; no AWS-managed
policy is attached.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import pulumi
import pulumi_aws as aws

from ml_infra.aws_iam import service_trust_policy
from ml_infra.aws_kms import customer_managed_key, logs_may_use_key
from ml_infra.stack_config import AppSyncSettings
from ml_infra.waf import ApiFirewall, ApiFirewallArgs

APPSYNC_DIR = Path(__file__).resolve().parent / "appsync"
SCHEMA_FILE = APPSYNC_DIR / "schema.graphql"
RESOLVERS_DIR = APPSYNC_DIR / "resolvers"

# The table's key is the model version's identity, so a registration cannot create a duplicate of it.
PARTITION_KEY = "name"
SORT_KEY = "version"
# listModels(filter: {status}) queries this index: every version in one status, latest change first.
STATUS_INDEX = "byStatus"
# listModels(filter: {name}) queries this index: every version of one model, highest version first. The table's
# sort key `version` is text, and DynamoDB orders text by bytes ("2026.9.1" after "2026.11.2"); registerModel
# also stores `versionOrder`, the version with each number zero-padded, whose byte order is version order.
VERSION_INDEX = "byVersion"
VERSION_ORDER = "versionOrder"

# What the resolvers ask DynamoDB to do (see appsync/resolvers); the data-source role may do nothing else.
TABLE_ACTIONS = [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
    "dynamodb:Scan",
]
INDEX_ACTIONS = ["dynamodb:Query"]
# What a principal needs for DynamoDB to use a customer-managed table key on its behalf (the same list AWS
# grants in the key policy of its own aws/dynamodb key, its wildcards spelled out), limited below to calls made
# through DynamoDB.
TABLE_KEY_ACTIONS = [
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:DescribeKey",
    "kms:CreateGrant",
]
LOG_ACTIONS = ["logs:CreateLogStream", "logs:PutLogEvents"]

APPSYNC_JS_RUNTIME: aws.appsync.ResolverRuntimeArgsDict = {"name": "APPSYNC_JS", "runtime_version": "1.0.0"}

# The schema's directive for each additional authorization mode. A directive whose mode the API does not
# have is removed before upload, so the deployed schema names only the modes the stack configures.
_MODE_DIRECTIVES = {"AMAZON_COGNITO_USER_POOLS": "aws_cognito_user_pools", "API_KEY": "aws_api_key"}

_RESOLVER_FILE = re.compile(r"^(Query|Mutation|Subscription)\.([A-Za-z_][A-Za-z0-9_]*)\.js$")


@dataclass(frozen=True)
class ResolverFile:
    type_name: str
    field_name: str
    path: Path

    @property
    def code(self) -> str:
        return self.path.read_text(encoding="utf-8")


def resolver_files() -> list[ResolverFile]:
    """Every resolver shipped in `appsync/resolvers`, named `<Type>.<field>.js`, in a stable order."""
    found = []
    for path in sorted(RESOLVERS_DIR.glob("*.js")):
        match = _RESOLVER_FILE.match(path.name)
        if match is None:
            raise ValueError(f"{path}: a resolver file is named <Query|Mutation|Subscription>.<field>.js")
        found.append(ResolverFile(type_name=match[1], field_name=match[2], path=path))
    return found


def schema_for(additional_modes: set[str]) -> str:
    """The schema file with the directives of the additional authorization modes the API does not have removed."""
    text = SCHEMA_FILE.read_text(encoding="utf-8")
    for mode, directive in _MODE_DIRECTIVES.items():
        if mode not in additional_modes:
            text = re.sub(rf"[ \t]*@{directive}\b(\([^)]*\))?", "", text)
    return text


def api_key_expiry(today: date, lifetime_days: int) -> str:
    """The API key's expiry (RFC 3339, UTC midnight), derived from the date alone so that every preview and
    update on the same day, and on the following days of the same renewal window, asks for the same value.

    Days are counted from a fixed reference (day 1 of the proleptic Gregorian calendar) in windows of about
    half the key's lifetime. Within a window the expiry is constant, so a preview shows no change; the first
    `pulumi up` in the next window moves the expiry forward (an in-place update, the key itself is kept). A key
    thus stays valid between half its lifetime and its full lifetime after any deployment, and never less
    than the one day AppSync requires: a stack deployed at least once per half lifetime never loses its key.
    """
    renewal_days = max(1, (lifetime_days + 1) // 2)
    day = today.toordinal()
    window_start = day - day % renewal_days
    expires = date.fromordinal(window_start + max(lifetime_days, 2))
    return datetime(expires.year, expires.month, expires.day, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ModelRegistryApiArgs:
    project: str
    environment: str
    settings: AppSyncSettings
    kms_deletion_window_days: int
    protect: bool
    # The date the API key's expiry is derived from (see api_key_expiry); today in UTC unless given.
    today: date = field(default_factory=lambda: datetime.now(UTC).date())


class ModelRegistryApi(pulumi.ComponentResource):
    """The AppSync model registry API, its DynamoDB table and key, roles, log group, resolvers and invoke policy."""

    key: aws.kms.Key
    key_alias: aws.kms.Alias
    table: aws.dynamodb.Table
    logs_role: aws.iam.Role
    api: aws.appsync.GraphQLApi
    log_group: aws.cloudwatch.LogGroup
    firewall: ApiFirewall | None
    logs_role_policy: aws.iam.RolePolicy
    logs_policy_document: pulumi.Output[str]
    data_source_role: aws.iam.Role
    data_source_role_policy: aws.iam.RolePolicy
    data_source_policy_document: pulumi.Output[str]
    data_source: aws.appsync.DataSource
    resolvers: dict[str, aws.appsync.Resolver]
    api_key: aws.appsync.ApiKey | None
    invoke_policy: aws.iam.Policy
    invoke_policy_document: pulumi.Output[str]
    graphql_url: pulumi.Output[str]

    def __init__(self, name: str, args: ModelRegistryApiArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-infra:appsync_api:ModelRegistryApi", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protect)
        settings = args.settings
        base = f"{args.project}-{args.environment}-model-registry"

        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(parent=self))
        partition = aws.get_partition_output(opts=pulumi.InvokeOptions(parent=self))
        region = aws.get_region_output(opts=pulumi.InvokeOptions(parent=self))
        account_id = identity.account_id

        # The logging role exists before the API (the API names it); its policy and the key follow the API,
        # whose id names the log group.
        self.logs_role = aws.iam.Role(
            f"{name}-logs-role",
            name=f"{base}-logs",
            description=f"AppSync writes the logs of the {base} API.",
            assume_role_policy=service_trust_policy("appsync.amazonaws.com", account_id),
            opts=child,
        )

        additional_modes: set[str] = set()
        providers: list[aws.appsync.GraphQLApiAdditionalAuthenticationProviderArgsDict] = []
        if settings.cognito_user_pool_id is not None:
            additional_modes.add("AMAZON_COGNITO_USER_POOLS")
            # A pool id starts with its region (eu-west-1_AbC...), which need not be the API's.
            pool_region = settings.cognito_user_pool_id.split("_", 1)[0]
            providers.append(
                {
                    "authentication_type": "AMAZON_COGNITO_USER_POOLS",
                    "user_pool_config": {"user_pool_id": settings.cognito_user_pool_id, "aws_region": pool_region},
                }
            )
        if settings.api_key_enabled:
            additional_modes.add("API_KEY")
            providers.append({"authentication_type": "API_KEY"})

        self.api = aws.appsync.GraphQLApi(
            f"{name}-api",
            name=base,
            authentication_type="AWS_IAM",
            additional_authentication_providers=providers or None,
            schema=schema_for(additional_modes),
            log_config={
                "cloudwatch_logs_role_arn": self.logs_role.arn,
                "field_log_level": settings.field_log_level,
                # Never log request headers, resolver contexts or evaluated requests (they carry user data).
                "exclude_verbose_content": True,
            },
            xray_enabled=True,
            query_depth_limit=settings.query_depth_limit,
            resolver_count_limit=settings.resolver_count_limit,
            introspection_config="ENABLED" if settings.introspection_enabled else "DISABLED",
            opts=child,
        )

        # AppSync writes to /aws/appsync/apis/<api id>. Created here (and the role may not create log groups)
        # so that the retention and the encryption are the stack's.
        log_group_name = pulumi.Output.concat("/aws/appsync/apis/", self.api.id)
        log_group_arn = pulumi.Output.concat(
            "arn:", partition.partition, ":logs:", region.region, ":", account_id, ":log-group:", log_group_name
        )
        # The web ACL's request logs (WAF requires the aws-waf-logs- prefix), encrypted with the same key.
        waf_log_group_name = f"aws-waf-logs-{base}"
        waf_log_group_arn = pulumi.Output.concat(
            "arn:", partition.partition, ":logs:", region.region, ":", account_id, ":log-group:", waf_log_group_name
        )
        encrypted_log_groups = [log_group_arn, waf_log_group_arn] if settings.waf.enabled else log_group_arn
        self.key = customer_managed_key(
            f"{name}-key",
            description=f"Encrypts the model registry table and API logs of {args.project}/{args.environment}.",
            deletion_window_days=args.kms_deletion_window_days,
            partition=partition.partition,
            account=account_id,
            # The data-source role gets the key through its IAM policy (through DynamoDB only); CloudWatch Logs
            # needs a key policy statement, limited to this API's log group (and its web ACL's).
            statements=[
                logs_may_use_key("LogsEncryptThisApisLogGroup", region.region, encrypted_log_groups),
            ],
            opts=stateful,
        )
        # Rate limiting and AWS managed rules in front of the API (required in prod by the config model).
        self.firewall = (
            ApiFirewall(
                f"{name}-waf",
                ApiFirewallArgs(
                    resource_arn=self.api.arn,
                    acl_name=base,
                    rate_limit_per_five_minutes=settings.waf.rate_limit_per_five_minutes,
                    managed_rule_groups=settings.waf.managed_rule_groups,
                    log_group_name=waf_log_group_name,
                    log_retention_days=settings.waf.log_retention_days,
                    kms_key_arn=self.key.arn,
                ),
                opts=child,
            )
            if settings.waf.enabled
            else None
        )
        self.key_alias = aws.kms.Alias(
            f"{name}-key-alias",
            name=f"alias/{base}",
            target_key_id=self.key.key_id,
            opts=child,
        )

        self.table = aws.dynamodb.Table(
            f"{name}-table",
            name=base,
            billing_mode="PAY_PER_REQUEST",
            hash_key=PARTITION_KEY,
            range_key=SORT_KEY,
            attributes=[
                {"name": PARTITION_KEY, "type": "S"},
                {"name": SORT_KEY, "type": "S"},
                {"name": "status", "type": "S"},
                {"name": "updatedAt", "type": "S"},
                {"name": VERSION_ORDER, "type": "S"},
            ],
            global_secondary_indexes=[
                # A global index, not a local one: DynamoDB adds a global index to an existing table in place,
                # while a local index exists only from the table's creation (adding one replaces the table and
                # its registry). Reads from it are eventually consistent: a version registered a moment ago may
                # be missing from the very next listModels page; getModel reads the table itself.
                {
                    "name": VERSION_INDEX,
                    "key_schemas": [
                        {"attribute_name": PARTITION_KEY, "key_type": "HASH"},
                        {"attribute_name": VERSION_ORDER, "key_type": "RANGE"},
                    ],
                    "projection_type": "ALL",
                },
                {
                    "name": STATUS_INDEX,
                    "key_schemas": [
                        {"attribute_name": "status", "key_type": "HASH"},
                        {"attribute_name": "updatedAt", "key_type": "RANGE"},
                    ],
                    # listModels returns whole items from the index, so the index holds them whole.
                    "projection_type": "ALL",
                }
            ],
            point_in_time_recovery={"enabled": True},
            server_side_encryption={"enabled": True, "kms_key_arn": self.key.arn},
            deletion_protection_enabled=args.protect,
            opts=stateful,
        )

        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=log_group_name,
            retention_in_days=settings.log_retention_days,
            kms_key_id=self.key.arn,
            opts=stateful,
        )
        self.logs_policy_document = pulumi.Output.json_dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "WriteThisApisLogs",
                        "Effect": "Allow",
                        "Action": LOG_ACTIONS,
                        # The log group's streams: arn:...:log-group:<name>:log-stream:<stream>.
                        "Resource": pulumi.Output.concat(log_group_arn, ":*"),
                    }
                ],
            }
        )
        self.logs_role_policy = aws.iam.RolePolicy(
            f"{name}-logs-policy",
            name="write-api-logs",
            role=self.logs_role.id,
            policy=self.logs_policy_document,
            opts=child,
        )

        self.data_source_role = aws.iam.Role(
            f"{name}-datasource-role",
            name=f"{base}-datasource",
            description=f"AppSync reads and writes the {base} table for the API's resolvers.",
            assume_role_policy=service_trust_policy("appsync.amazonaws.com", account_id),
            opts=child,
        )
        self.data_source_policy_document = pulumi.Output.json_dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "RegistryTable",
                        "Effect": "Allow",
                        "Action": TABLE_ACTIONS,
                        "Resource": self.table.arn,
                    },
                    {
                        "Sid": "RegistryIndexes",
                        "Effect": "Allow",
                        "Action": INDEX_ACTIONS,
                        "Resource": [
                            pulumi.Output.concat(self.table.arn, "/index/", index)
                            for index in (STATUS_INDEX, VERSION_INDEX)
                        ],
                    },
                    {
                        "Sid": "RegistryTableKeyThroughDynamoDb",
                        "Effect": "Allow",
                        "Action": TABLE_KEY_ACTIONS,
                        "Resource": self.key.arn,
                        "Condition": {
                            "StringEquals": {
                                "kms:ViaService": pulumi.Output.concat("dynamodb.", region.region, ".amazonaws.com"),
                                "kms:CallerAccount": account_id,
                            }
                        },
                    },
                ],
            }
        )
        self.data_source_role_policy = aws.iam.RolePolicy(
            f"{name}-datasource-policy",
            name="registry-table",
            role=self.data_source_role.id,
            policy=self.data_source_policy_document,
            opts=child,
        )
        self.data_source = aws.appsync.DataSource(
            f"{name}-table-source",
            api_id=self.api.id,
            name="model_registry_table",
            description="The model registry table.",
            type="AMAZON_DYNAMODB",
            service_role_arn=self.data_source_role.arn,
            dynamodb_config={"table_name": self.table.name, "region": region.region},
            # The role's permissions are in place before any resolver can use the data source.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.data_source_role_policy]),
        )

        self.resolvers = {}
        for resolver in resolver_files():
            key = f"{resolver.type_name}.{resolver.field_name}"
            self.resolvers[key] = aws.appsync.Resolver(
                f"{name}-{resolver.type_name}-{resolver.field_name}",
                api_id=self.api.id,
                type=resolver.type_name,
                field=resolver.field_name,
                kind="UNIT",
                data_source=self.data_source.name,
                runtime=APPSYNC_JS_RUNTIME,
                code=resolver.code,
                opts=child,
            )

        self.api_key = None
        if settings.api_key_enabled:
            self.api_key = aws.appsync.ApiKey(
                f"{name}-api-key",
                api_id=self.api.id,
                description=f"Read-only key of the {base} API (never in prod); renewed by deployments.",
                expires=api_key_expiry(args.today, settings.api_key_expires_in_days),
                opts=child,
            )

        self.invoke_policy_document = pulumi.Output.json_dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "InvokeModelRegistryApi",
                        "Effect": "Allow",
                        "Action": "appsync:GraphQL",
                        "Resource": [
                            pulumi.Output.concat(self.api.arn, f"/types/{type_name}/fields/*")
                            for type_name in ("Query", "Mutation", "Subscription")
                        ],
                    }
                ],
            }
        )
        self.invoke_policy = aws.iam.Policy(
            f"{name}-invoke",
            name=f"{base}-invoke",
            description=f"Query, change and subscribe to the {base} GraphQL API.",
            policy=self.invoke_policy_document,
            opts=child,
        )

        self.graphql_url = self.api.uris.apply(lambda uris: uris["GRAPHQL"])
        self.register_outputs(
            {
                "graphql_url": self.graphql_url,
                "api_id": self.api.id,
                "invoke_policy_arn": self.invoke_policy.arn,
                "table_arn": self.table.arn,
            }
        )
