"""The AppSync model registry API (ml_infra/appsync_api.py), evaluated for the real dev and prod stacks: its
schema and resolvers, its table, key and roles, its authorization modes and hardening, and its outputs."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from graphql import GraphQLNonNull, GraphQLObjectType, build_schema, get_named_type, validate_schema

from ml_infra.appsync_api import (
    RESOLVERS_DIR,
    SCHEMA_FILE,
    STATUS_INDEX,
    VERSION_INDEX,
    VERSION_ORDER,
    api_key_expiry,
    resolver_files,
    schema_for,
)
from ml_infra.preview import Evaluation, Registration

COMPONENT = "ml-infra:appsync_api:ModelRegistryApi"
API = "aws:appsync/graphQLApi:GraphQLApi"
API_KEY = "aws:appsync/apiKey:ApiKey"
RESOLVER = "aws:appsync/resolver:Resolver"
DATA_SOURCE = "aws:appsync/dataSource:DataSource"
TABLE = "aws:dynamodb/table:Table"
KMS_KEY = "aws:kms/key:Key"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
POLICY = "aws:iam/policy:Policy"
ACCOUNTS = {"dev": "123456789012", "prod": "210987654321"}

# What AppSync defines for every schema: its scalars and its authorization and subscription directives.
APPSYNC_PRELUDE = """
scalar AWSDate
scalar AWSTime
scalar AWSDateTime
scalar AWSTimestamp
scalar AWSEmail
scalar AWSJSON
scalar AWSURL
scalar AWSPhone
scalar AWSIPAddress
directive @aws_iam on OBJECT | FIELD_DEFINITION
directive @aws_api_key on OBJECT | FIELD_DEFINITION
directive @aws_oidc on OBJECT | FIELD_DEFINITION
directive @aws_lambda on OBJECT | FIELD_DEFINITION
directive @aws_cognito_user_pools(cognito_groups: [String]) on OBJECT | FIELD_DEFINITION
directive @aws_auth(cognito_groups: [String]) on FIELD_DEFINITION
directive @aws_subscribe(mutations: [String]) on FIELD_DEFINITION
"""


@pytest.fixture(params=["dev", "prod"])
def stack(request: pytest.FixtureRequest) -> Evaluation:
    return request.getfixturevalue(request.param)


def registry(evaluation: Evaluation) -> list[Registration]:
    (component,) = evaluation.of_type(COMPONENT)
    return evaluation.children_of(component)


def one(evaluation: Evaluation, type_token: str) -> Registration:
    found = [r for r in registry(evaluation) if r.type == type_token]
    assert len(found) == 1, f"{len(found)} registry resources of type {type_token}"
    return found[0]


def of_type(evaluation: Evaluation, type_token: str) -> list[Registration]:
    return [r for r in registry(evaluation) if r.type == type_token]


def role_policy(evaluation: Evaluation, role: Registration) -> dict[str, Any]:
    (policy,) = [p for p in of_type(evaluation, ROLE_POLICY) if p.raw_inputs["role"] == role.state["name"]]
    return json.loads(policy.raw_inputs["policy"])


def role_named(evaluation: Evaluation, suffix: str) -> Registration:
    (role,) = [r for r in of_type(evaluation, ROLE) if r.raw_inputs["name"].endswith(suffix)]
    return role


def appsync_schema(text: str):
    return build_schema(APPSYNC_PRELUDE + text)


def fields_of(schema, type_name: str) -> dict[str, Any]:
    root = schema.get_type(type_name)
    assert isinstance(root, GraphQLObjectType)
    return dict(root.fields)


# ---------------------------------------------------------------------------------------------------------------
# Schema and resolvers


def test_schema_file_is_valid_graphql_with_appsyncs_scalars_and_directives():
    schema = appsync_schema(SCHEMA_FILE.read_text())
    assert validate_schema(schema) == []
    assert set(fields_of(schema, "Query")) == {"getModel", "listModels"}
    assert set(fields_of(schema, "Mutation")) == {"registerModel", "updateModelStatus", "deleteModel"}
    model = fields_of(schema, "Model")
    assert {"name", "version", "framework", "status", "tags", "metrics", "endpointName", "createdAt"} <= set(model)
    assert get_named_type(model["metrics"].type).name == "AWSJSON"
    assert get_named_type(model["updatedAt"].type).name == "AWSDateTime"
    assert set(fields_of(schema, "ModelConnection")) == {"items", "nextToken"}
    assert {"filter", "limit", "nextToken"} == set(fields_of(schema, "Query")["listModels"].args)


def test_status_subscription_follows_status_updates_and_filters_on_model_fields():
    schema = appsync_schema(SCHEMA_FILE.read_text())
    subscription = fields_of(schema, "Subscription")["onModelStatusChanged"]
    directive = subscription.ast_node.directives[0]
    assert directive.name.value == "aws_subscribe"
    (mutations,) = [argument.value for argument in directive.arguments if argument.name.value == "mutations"]
    assert [value.value for value in mutations.values] == ["updateModelStatus"]
    # AppSync delivers the mutation's result to subscribers: both must return the same type, and a
    # subscription argument filters on the result field of the same name.
    mutation = fields_of(schema, "Mutation")["updateModelStatus"]
    assert get_named_type(subscription.type) is get_named_type(mutation.type)
    model = fields_of(schema, "Model")
    for name, argument in subscription.args.items():
        assert not isinstance(argument.type, GraphQLNonNull), name
        assert get_named_type(argument.type) is get_named_type(model[name].type), name


def test_every_query_and_mutation_field_has_a_resolver_file_and_no_file_is_left_over():
    schema = appsync_schema(SCHEMA_FILE.read_text())
    declared = {(t, f) for t in ("Query", "Mutation") for f in fields_of(schema, t)}
    files = {(r.type_name, r.field_name) for r in resolver_files()}
    assert files == declared
    assert len(list(RESOLVERS_DIR.glob("*.js"))) == len(files)


def test_each_resolver_runs_its_file_on_appsync_js_against_the_table(stack: Evaluation):
    api = one(stack, API)
    source = one(stack, DATA_SOURCE)
    assert source.raw_inputs["type"] == "AMAZON_DYNAMODB"
    assert source.raw_inputs["dynamodbConfig"]["tableName"] == one(stack, TABLE).raw_inputs["name"]
    resolvers = {(r.raw_inputs["type"], r.raw_inputs["field"]): r.raw_inputs for r in of_type(stack, RESOLVER)}
    files = {(r.type_name, r.field_name): r.path for r in resolver_files()}
    assert set(resolvers) == set(files)
    for key, inputs in resolvers.items():
        assert inputs["code"] == files[key].read_text(), key
        assert inputs["runtime"] == {"name": "APPSYNC_JS", "runtimeVersion": "1.0.0"}
        assert (inputs["kind"], inputs["dataSource"], inputs["apiId"]) == ("UNIT", source.state["name"], api.id)


def test_deployed_schema_names_only_the_authorization_modes_the_stack_configures(dev: Evaluation, prod: Evaluation):
    dev_schema = one(dev, API).raw_inputs["schema"]
    prod_schema = one(prod, API).raw_inputs["schema"]
    assert "@aws_api_key" in dev_schema and "@aws_cognito_user_pools" not in dev_schema
    assert "@aws_cognito_user_pools" in prod_schema and "@aws_api_key" not in prod_schema
    for text in (dev_schema, prod_schema):
        assert validate_schema(appsync_schema(text)) == []
        assert "type Mutation @aws_iam {" in text  # changes: IAM principals only, in every stack
    assert prod_schema == schema_for({"AMAZON_COGNITO_USER_POOLS"})


# ---------------------------------------------------------------------------------------------------------------
# Authorization


def test_api_defaults_to_iam_with_the_cognito_pool_as_the_only_other_mode_in_prod(prod: Evaluation):
    inputs = one(prod, API).raw_inputs
    assert inputs["authenticationType"] == "AWS_IAM"
    assert inputs["additionalAuthenticationProviders"] == [
        {
            "authenticationType": "AMAZON_COGNITO_USER_POOLS",
            "userPoolConfig": {"userPoolId": "eu-west-1_AbCdEf123", "awsRegion": "eu-west-1"},
        }
    ]


def test_prod_api_accepts_no_api_key(prod: Evaluation):
    assert of_type(prod, API_KEY) == []
    assert prod.of_type(API_KEY) == []
    providers = one(prod, API).raw_inputs["additionalAuthenticationProviders"]
    assert "API_KEY" not in {p["authenticationType"] for p in providers}
    assert "graphqlApiKey" not in prod.outputs


def test_dev_api_key_expires_on_a_date_derived_from_the_day_and_is_exported_as_a_secret(dev: Evaluation):
    key = one(dev, API_KEY)
    assert key.raw_inputs["apiId"] == one(dev, API).id
    expires = key.raw_inputs["expires"]
    # The fixture evaluated the program today (UTC); a run at midnight may have seen yesterday.
    today = datetime.now(UTC).date()
    assert expires in {api_key_expiry(today + timedelta(days=shift), 7) for shift in (-1, 0, 1)}
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T00:00:00Z", expires)
    assert key.ignore_changes == []  # renewed by deployments, not frozen
    exported = dev.outputs["graphqlApiKey"]
    assert exported.secret is True
    assert exported.value == key.state["key"]
    providers = one(dev, API).raw_inputs["additionalAuthenticationProviders"]
    assert providers == [{"authenticationType": "API_KEY"}]


@pytest.mark.parametrize("lifetime", [1, 2, 7, 30, 90, 182, 365])
def test_api_key_expiry_is_constant_within_a_renewal_window_and_always_within_appsyncs_bounds(lifetime: int):
    start = date(2026, 1, 1)
    expiries = [(start + timedelta(days=n), api_key_expiry(start + timedelta(days=n), lifetime)) for n in range(800)]
    changes = 0
    for (day, expiry), (_, previous) in zip(expiries[1:], expiries, strict=False):
        expires = datetime.strptime(expiry, "%Y-%m-%dT%H:%M:%SZ").date()
        # Valid more than one day after any moment of the deployment day, and at most a year after it.
        assert timedelta(days=2) <= expires - day <= timedelta(days=max(lifetime, 2))
        assert expires - day > timedelta(days=lifetime // 2)
        changes += expiry != previous
    # One renewal per window of about half the lifetime, never a new value every run.
    assert changes <= 800 // max(1, (lifetime + 1) // 2) + 1


# ---------------------------------------------------------------------------------------------------------------
# Hardening


@pytest.mark.parametrize(
    ("stack_name", "level", "introspection"), [("dev", "ALL", "ENABLED"), ("prod", "ERROR", "DISABLED")]
)
def test_api_logs_at_the_configured_level_traces_and_limits_queries(
    stack_name: str, level: str, introspection: str, request: pytest.FixtureRequest
):
    evaluation: Evaluation = request.getfixturevalue(stack_name)
    inputs = one(evaluation, API).raw_inputs
    logs_role = role_named(evaluation, "-logs")
    assert inputs["logConfig"] == {
        "cloudwatchLogsRoleArn": logs_role.state["arn"],
        "fieldLogLevel": level,
        "excludeVerboseContent": True,
    }
    assert inputs["xrayEnabled"] is True
    assert (inputs["queryDepthLimit"], inputs["resolverCountLimit"]) == (10, 1000)
    assert inputs["introspectionConfig"] == introspection


def test_api_logs_go_to_its_own_encrypted_log_group_with_the_configured_retention(stack: Evaluation):
    api = one(stack, API)
    group = one(stack, LOG_GROUP).raw_inputs
    assert group["name"] == f"/aws/appsync/apis/{api.id}"
    assert group["retentionInDays"] == {"dev": 14, "prod": 365}[stack.stack]
    assert group["kmsKeyId"] == one(stack, KMS_KEY).state["arn"]
    (statement,) = role_policy(stack, role_named(stack, "-logs"))["Statement"]
    assert statement["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    account = ACCOUNTS[stack.stack]
    assert statement["Resource"] == f"arn:aws:logs:eu-west-1:{account}:log-group:/aws/appsync/apis/{api.id}:*"


def test_roles_trust_only_appsync_on_behalf_of_this_account(stack: Evaluation):
    roles = of_type(stack, ROLE)
    assert len(roles) == 2
    for role in roles:
        (statement,) = json.loads(role.raw_inputs["assumeRolePolicy"])["Statement"]
        assert statement["Principal"] == {"Service": "appsync.amazonaws.com"}
        assert statement["Action"] == "sts:AssumeRole"
        assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNTS[stack.stack]}}


def test_roles_have_policies_written_for_them_and_no_aws_managed_policy(stack: Evaluation):
    roles = of_type(stack, ROLE)
    role_names = {role.state["name"] for role in roles}
    for role in roles:
        assert "managedPolicyArns" not in role.raw_inputs
        for statement in role_policy(stack, role)["Statement"]:
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            assert "*" not in resources and all(resource.startswith("arn:aws:") for resource in resources)
    for attachment in stack.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment"):
        assert attachment.raw_inputs["role"] not in role_names


def test_data_source_role_may_do_only_what_the_resolvers_do_on_the_table_its_index_and_key(stack: Evaluation):
    table = one(stack, TABLE)
    key = one(stack, KMS_KEY)
    role = role_named(stack, "-datasource")
    assert one(stack, DATA_SOURCE).raw_inputs["serviceRoleArn"] == role.state["arn"]
    table_statement, index_statement, key_statement = role_policy(stack, role)["Statement"]

    operations = set()
    for resolver in resolver_files():
        operations |= set(re.findall(r"operation: '(\w+)'", resolver.code))
    assert operations == {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan"}
    assert set(table_statement["Action"]) == {f"dynamodb:{operation}" for operation in operations}
    assert table_statement["Resource"] == table.state["arn"]
    assert index_statement["Action"] == ["dynamodb:Query"]
    assert index_statement["Resource"] == [f"{table.state['arn']}/index/{i}" for i in (STATUS_INDEX, VERSION_INDEX)]

    assert key_statement["Resource"] == key.state["arn"]
    assert all(action.startswith("kms:") for action in key_statement["Action"])
    assert key_statement["Condition"]["StringEquals"] == {
        "kms:ViaService": "dynamodb.eu-west-1.amazonaws.com",
        "kms:CallerAccount": ACCOUNTS[stack.stack],
    }


def test_table_has_the_indexes_the_resolvers_query(stack: Evaluation):
    table = one(stack, TABLE).raw_inputs
    assert (table["hashKey"], table["rangeKey"]) == ("name", "version")  # getModel
    indexes = {index["name"]: index for index in table["globalSecondaryIndexes"]}
    # Only global indexes: a local one cannot be added to the deployed table without replacing it.
    assert "localSecondaryIndexes" not in table
    queried = {name for r in resolver_files() for name in re.findall(r"index: '(\w+)'", r.code)}
    assert queried == {STATUS_INDEX, VERSION_INDEX} and queried <= set(indexes)
    # listModels by name: the versions of one model in version order (registerModel writes versionOrder).
    assert indexes[VERSION_INDEX]["keySchemas"] == [
        {"attributeName": "name", "keyType": "HASH"},
        {"attributeName": VERSION_ORDER, "keyType": "RANGE"},
    ]
    assert indexes[VERSION_INDEX]["projectionType"] == "ALL"
    assert indexes[STATUS_INDEX]["keySchemas"] == [
        {"attributeName": "status", "keyType": "HASH"},
        {"attributeName": "updatedAt", "keyType": "RANGE"},
    ]
    assert indexes[STATUS_INDEX]["projectionType"] == "ALL"
    declared = {attribute["name"] for attribute in table["attributes"]}
    assert declared == {"name", "version", "status", "updatedAt", VERSION_ORDER}


def test_table_and_logs_are_encrypted_with_their_own_rotating_key_and_the_table_is_recoverable(stack: Evaluation):
    prod = stack.stack == "prod"
    table = one(stack, TABLE)
    key = one(stack, KMS_KEY)
    inputs = table.raw_inputs
    assert inputs["billingMode"] == "PAY_PER_REQUEST"
    assert inputs["pointInTimeRecovery"] == {"enabled": True}
    assert inputs["serverSideEncryption"] == {"enabled": True, "kmsKeyArn": key.state["arn"]}
    assert inputs["deletionProtectionEnabled"] is prod
    assert key.raw_inputs["enableKeyRotation"] is True
    assert key.raw_inputs["deletionWindowInDays"] == (30 if prod else 7)
    account, logs = json.loads(key.raw_inputs["policy"])["Statement"]
    assert account["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNTS[stack.stack]}:root"}
    # CloudWatch Logs may use the key for this API's log group and its web ACL's request logs only.
    assert logs["Principal"] == {"Service": "logs.eu-west-1.amazonaws.com"}
    groups = f"arn:aws:logs:eu-west-1:{ACCOUNTS[stack.stack]}:log-group:"
    log_group = f"{groups}/aws/appsync/apis/{one(stack, API).id}"
    waf_log_group = f"{groups}aws-waf-logs-ml-infra-{stack.stack}-model-registry"
    # dev turns the web ACL off (appsync.waf.enabled: false), so only the API's own log group there.
    expected = [log_group, waf_log_group] if prod else log_group
    assert logs["Condition"] == {"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": expected}}
    assert (table.protect, key.protect, one(stack, LOG_GROUP).protect) == (prod, prod, prod)


# ---------------------------------------------------------------------------------------------------------------
# Outputs


def test_invoke_policy_grants_graphql_on_this_apis_operations_only(stack: Evaluation):
    api = one(stack, API)
    policy = one(stack, POLICY)
    (statement,) = json.loads(policy.raw_inputs["policy"])["Statement"]
    assert statement["Action"] == "appsync:GraphQL"
    assert statement["Resource"] == [
        f"{api.state['arn']}/types/{type_name}/fields/*" for type_name in ("Query", "Mutation", "Subscription")
    ]
    assert api.state["arn"] == f"arn:aws:appsync:eu-west-1:{ACCOUNTS[stack.stack]}:apis/{api.id}"
    assert stack.outputs["graphqlInvokePolicyArn"].value == policy.state["arn"]


def test_stack_exports_the_graphql_url_and_api_id(stack: Evaluation):
    api = one(stack, API)
    assert stack.outputs["graphqlUrl"].value == api.state["uris"]["GRAPHQL"]
    assert stack.outputs["graphqlApiId"].value == api.id
    assert not stack.outputs["graphqlUrl"].secret and not stack.outputs["graphqlApiId"].secret
