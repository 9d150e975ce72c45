"""The protected SageMaker endpoint, as declared for the real `dev` and `prod` stacks: the properties a security
reviewer checks, including the negative ones (no managed policy, no wildcard where a resource exists)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ml_infra.preview import Evaluation, Registration, evaluate, read_stack_files

# Actions that support no resource-level permission: the only ones allowed a "*" resource.
NO_RESOURCE_LEVEL = {
    "ecr:GetAuthorizationToken",
    "cloudwatch:PutMetricData",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeVpcs",
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
}


def one(evaluation: Evaluation, name: str) -> Registration:
    return evaluation.named(name)


def statements(document: str) -> list[dict[str, Any]]:
    return json.loads(document)["Statement"]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.fixture(params=["dev", "prod"])
def stack(request: pytest.FixtureRequest) -> Evaluation:
    return request.getfixturevalue(request.param)


def test_endpoint_key_rotates_and_grants_the_execution_role_only_key_use(stack: Evaluation):
    key = one(stack, "serving-key").raw_inputs
    role_arn = one(stack, "serving-execution-role").state["arn"]
    assert key["enableKeyRotation"] is True
    by_sid = {s["Sid"]: s for s in statements(key["policy"])}
    assert all(s["Principal"] != "*" and s["Principal"] != {"AWS": "*"} for s in by_sid.values())
    assert by_sid["ExecutionRoleUsesKey"]["Principal"] == {"AWS": role_arn}
    assert by_sid["ExecutionRoleUsesKey"]["Action"] == [
        "kms:Decrypt",
        "kms:Encrypt",
        "kms:GenerateDataKey",
        "kms:DescribeKey",
    ]
    assert by_sid["ExecutionRoleGrantsToSageMakerVolumes"]["Condition"] == {
        "Bool": {"kms:GrantIsForAWSResource": "true"}
    }
    logs = by_sid["LogsEncryptThisEndpointsLogGroup"]
    assert logs["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:logs:arn"].endswith(
        f":log-group:/aws/sagemaker/Endpoints/ml-infra-{stack.stack}-serving"
    )


def test_capture_bucket_is_private_encrypted_versioned_tls_only_and_expires_captures(stack: Evaluation):
    bucket = one(stack, "serving-capture")
    bucket_id = bucket.id
    key_arn = one(stack, "serving-key").state["arn"]
    public = one(stack, "serving-capture-public-access").raw_inputs
    assert public == {
        "bucket": bucket_id,
        "blockPublicAcls": True,
        "blockPublicPolicy": True,
        "ignorePublicAcls": True,
        "restrictPublicBuckets": True,
    }
    assert one(stack, "serving-capture-ownership").raw_inputs["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    (rule,) = one(stack, "serving-capture-encryption").raw_inputs["rules"]
    assert rule == {
        "applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key_arn},
        "bucketKeyEnabled": True,
    }
    assert one(stack, "serving-capture-versioning").raw_inputs["versioningConfiguration"] == {"status": "Enabled"}
    (deny,) = statements(one(stack, "serving-capture-policy").raw_inputs["policy"])
    assert (deny["Effect"], deny["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": "false"}})
    assert deny["Resource"] == [bucket.state["arn"], bucket.state["arn"] + "/*"]
    expiry = one(stack, "serving-capture-lifecycle").raw_inputs["rules"][0]
    assert expiry["filter"] == {"prefix": "capture/"}
    # dev serves serverless and captures nothing; its bucket keeps the default retention.
    assert expiry["expiration"] == {"days": {"dev": 30, "prod": 90}[stack.stack]}


def test_execution_role_trusts_sagemaker_in_this_account_only(stack: Evaluation):
    role = one(stack, "serving-execution-role").raw_inputs
    (trust,) = statements(role["assumeRolePolicy"])
    assert trust["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    account = "210987654321" if stack.stack == "prod" else "123456789012"
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": account}}
    assert "managedPolicyArns" not in role


def test_no_aws_managed_policy_is_attached_anywhere(stack: Evaluation):
    for attachment in stack.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment"):
        assert ":aws:policy/" not in attachment.raw_inputs["policyArn"], attachment.name
    for role in stack.of_type("aws:iam/role:Role"):
        assert not role.raw_inputs.get("managedPolicyArns"), role.name


def test_execution_policy_reaches_only_its_artifact_capture_prefix_repository_key_and_logs(stack: Evaluation):
    by_sid = {s["Sid"]: s for s in statements(one(stack, "serving-execution-policy").raw_inputs["policy"])}
    for statement in by_sid.values():
        if "*" in as_list(statement["Resource"]):
            assert set(as_list(statement["Action"])) <= NO_RESOURCE_LEVEL, statement["Sid"]
        assert not any(a == "*" or a.endswith(":*") for a in as_list(statement["Action"])), statement["Sid"]
    models_bucket = f"acme-ml-{stack.stack}-models"
    version = {"dev": "2026.11.2", "prod": "2026.11.1"}[stack.stack]
    assert by_sid["ReadModelArtifact"]["Resource"] == f"arn:aws:s3:::{models_bucket}/fraud-detector/{version}/*"
    capture_arn = one(stack, "serving-capture").state["arn"]
    assert by_sid["WriteCapturedData"]["Resource"] == f"{capture_arn}/capture/*"
    account = "210987654321" if stack.stack == "prod" else "123456789012"
    assert by_sid["PullInferenceImage"]["Resource"] == f"arn:aws:ecr:eu-west-1:{account}:repository/fraud-detector"
    assert by_sid["UseEndpointKey"]["Resource"] == one(stack, "serving-key").state["arn"]
    assert by_sid["PublishEndpointMetrics"]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": "/aws/sagemaker/Endpoints"}
    }
    assert ("AttachToConfiguredSubnets" in by_sid) == (stack.stack == "prod")


def test_model_runs_network_isolated_and_in_the_vpc_in_prod(dev: Evaluation, prod: Evaluation):
    model = one(prod, "serving-model").raw_inputs
    assert model["enableNetworkIsolation"] is True
    assert model["executionRoleArn"] == one(prod, "serving-execution-role").state["arn"]
    assert model["primaryContainer"] == {
        "image": "210987654321.dkr.ecr.eu-west-1.amazonaws.com/fraud-detector:2026.11.1",
        "modelDataUrl": "s3://acme-ml-prod-models/fraud-detector/2026.11.1/model.tar.gz",
        "mode": "SingleModel",
    }
    assert model["vpcConfig"] == {
        "subnets": ["subnet-0a1b2c3d4e5f60718", "subnet-0b2c3d4e5f6071829"],
        "securityGroupIds": ["sg-0c3d4e5f607182930"],
    }
    assert "vpcConfig" not in one(dev, "serving-model").raw_inputs


def test_endpoint_configuration_encrypts_volume_and_captures_with_the_key(prod: Evaluation):
    stack = prod
    config = one(stack, "serving-config").raw_inputs
    key_arn = one(stack, "serving-key").state["arn"]
    assert config["kmsKeyArn"] == key_arn
    capture = config["dataCaptureConfig"]
    assert capture["enableCapture"] is True
    assert capture["kmsKeyId"] == key_arn
    assert capture["initialSamplingPercentage"] == 20
    assert capture["destinationS3Uri"] == f"s3://{one(stack, 'serving-capture').state['bucket']}/capture"
    assert capture["captureOptions"] == [{"captureMode": "Input"}, {"captureMode": "Output"}]
    assert capture["captureContentTypeHeader"] == {
        "jsonContentTypes": ["application/json"],
        "csvContentTypes": ["text/csv"],
    }
    (variant,) = config["productionVariants"]
    assert variant["instanceType"] == "ml.m7i.xlarge"
    assert variant["modelName"] == one(stack, "serving-model").state["name"]


def test_dev_serves_serverless_so_an_idle_endpoint_has_no_instances(dev: Evaluation):
    config = one(dev, "serving-config").raw_inputs
    (variant,) = config["productionVariants"]
    assert variant["serverlessConfig"] == {"memorySizeInMb": 2048, "maxConcurrency": 5}
    assert "instanceType" not in variant and "initialInstanceCount" not in variant
    # What AWS documents as unsupported on serverless endpoints is absent, as the stack file says explicitly.
    assert "dataCaptureConfig" not in config
    assert one(dev, "serving-model").raw_inputs["enableNetworkIsolation"] is False
    assert "vpcConfig" not in one(dev, "serving-model").raw_inputs
    assert not dev.of_type("aws:appautoscaling/target:Target")
    assert not dev.of_type("aws:appautoscaling/policy:Policy")
    assert config["kmsKeyArn"] == one(dev, "serving-key").state["arn"]


def test_updates_are_blue_green_and_roll_back_on_the_components_alarms(prod: Evaluation):
    endpoint = one(prod, "serving-endpoint")
    deployment = endpoint.raw_inputs["deploymentConfig"]
    assert "blueGreenUpdatePolicy" in deployment
    alarms = {
        one(prod, "serving-errors-alarm").raw_inputs["name"],
        one(prod, "serving-latency-alarm").raw_inputs["name"],
    }
    assert {a["alarmName"] for a in deployment["autoRollbackConfiguration"]["alarms"]} == alarms
    errors = one(prod, "serving-errors-alarm").raw_inputs
    latency = one(prod, "serving-latency-alarm").raw_inputs
    assert (errors["metricName"], errors["threshold"]) == ("Invocation5XXErrors", 5)
    assert (latency["metricName"], latency["threshold"]) == ("ModelLatency", 500_000)  # 500 ms in microseconds
    for alarm in (errors, latency):
        assert alarm["dimensions"] == {"EndpointName": "ml-infra-prod-serving", "VariantName": "primary"}
    assert endpoint.protect


def test_autoscaling_tracks_invocations_between_the_configured_bounds(prod: Evaluation):
    target = one(prod, "serving-scaling-target").raw_inputs
    assert (target["minCapacity"], target["maxCapacity"]) == (2, 6)
    assert target["resourceId"] == "endpoint/ml-infra-prod-serving/variant/primary"
    tracking = one(prod, "serving-scaling-policy").raw_inputs["targetTrackingScalingPolicyConfiguration"]
    assert tracking["targetValue"] == 200
    assert tracking["predefinedMetricSpecification"] == {
        "predefinedMetricType": "SageMakerVariantInvocationsPerInstance"
    }


def test_invocation_is_allowed_on_this_endpoint_only_for_the_granted_roles(prod: Evaluation):
    (statement,) = statements(one(prod, "serving-invoke").raw_inputs["policy"])
    assert statement["Action"] == ["sagemaker:InvokeEndpoint", "sagemaker:InvokeEndpointWithResponseStream"]
    assert statement["Resource"] == one(prod, "serving-endpoint").state["arn"]
    (attachment,) = prod.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert attachment.raw_inputs["role"] == "fraud-scoring-service-prod"
    assert attachment.raw_inputs["policyArn"] == one(prod, "serving-invoke").state["arn"]
    assert prod.outputs["endpointInvokePolicyArn"].value == one(prod, "serving-invoke").state["arn"]


def test_an_nvme_instance_type_gets_no_volume_key_but_still_encrypted_capture(project_dir: Path):
    files = read_stack_files(project_dir, "dev")
    config = dict(files.config)
    sagemaker = json.loads(config["ml-infra:sagemaker"])
    # dev serves serverless: back to provisioned instances for this case.
    provisioned = {k: v for k, v in sagemaker.items() if k not in ("serverless", "networkIsolation", "dataCapture")}
    config["ml-infra:sagemaker"] = json.dumps(
        {**provisioned, "instanceType": "ml.g5.xlarge", "volumeEncryption": False}
    )
    evaluation = evaluate(project_dir, "dev", config=config, secret_keys=files.secret_keys)
    endpoint_config = evaluation.named("serving-config").raw_inputs
    assert "kmsKeyArn" not in endpoint_config
    assert endpoint_config["dataCaptureConfig"]["kmsKeyId"] == evaluation.named("serving-key").state["arn"]
