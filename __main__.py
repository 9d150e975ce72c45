"""The ml-infra Pulumi program: reads the validated stack configuration and composes the components."""

from pathlib import Path

import pulumi

from ml_infra.appsync_api import ModelRegistryApi, ModelRegistryApiArgs
from ml_infra.config_store import AzureConfigStore, AzureConfigStoreArgs, VertexStores, VertexStoresArgs
from ml_infra.contract_job import ContractJob, ContractJobArgs
from ml_infra.contracts.catalog import CONTRACTS_DIR_NAME
from ml_infra.glue_schemas import ContractRegistry, ContractRegistryArgs
from ml_infra.program_inputs import load_contracts, load_stack_config
from ml_infra.providers import create_providers, with_provider
from ml_infra.sagemaker_endpoint import ServingEndpoint, ServingEndpointArgs
from ml_infra.ssm_params import ModelParameters, ModelParametersArgs

# Everything that can be wrong with the inputs is found here, before any resource is declared.
config = load_stack_config()
contracts = load_contracts(Path(__file__).parent / CONTRACTS_DIR_NAME, config)
providers = create_providers(config)
protect = config.protect_stateful_resources
base = f"{config.project}-{config.environment}"

if providers.aws is not None:
    parameters = ModelParameters(
        "model-params",
        ModelParametersArgs(
            project=config.project,
            environment=config.environment,
            models=config.models,
            kms_deletion_window_days=config.kms_deletion_window_days,
            protect=protect,
        ),
        opts=with_provider(providers.aws),
    )
    registry = ContractRegistry(
        "contracts",
        ContractRegistryArgs(
            registry_name=base,
            description=f"Data contracts of {config.project} ({config.environment}).",
            contracts=contracts,
            protect=protect,
        ),
        opts=with_provider(providers.aws),
    )
    pulumi.export("ssmKeyArn", parameters.key.arn)
    pulumi.export("modelReadPolicyArns", {m: p.arn for m, p in parameters.read_policies.items()})
    pulumi.export("modelOperatePolicyArns", {m: p.arn for m, p in parameters.operate_policies.items()})
    pulumi.export("contractRegistryArn", registry.registry.arn)

    if config.contract_job_enabled and config.contract_job is not None:
        contract_job = ContractJob(
            "contract-job",
            ContractJobArgs(
                project=config.project,
                environment=config.environment,
                settings=config.contract_job,
                registry_name=registry.registry.registry_name,
                script_path=Path(__file__).parent / "docs" / "examples" / "glue_validate_contract.py",
                kms_deletion_window_days=config.kms_deletion_window_days,
                protect=protect,
            ),
            opts=with_provider(providers.aws),
        )
        pulumi.export("contractJobName", contract_job.job.name)
        pulumi.export("contractJobRoleArn", contract_job.role.arn)

    if config.appsync_enabled and config.appsync is not None:
        model_registry = ModelRegistryApi(
            "model-registry",
            ModelRegistryApiArgs(
                project=config.project,
                environment=config.environment,
                settings=config.appsync,
                kms_deletion_window_days=config.kms_deletion_window_days,
                protect=protect,
            ),
            opts=with_provider(providers.aws),
        )
        pulumi.export("graphqlUrl", model_registry.graphql_url)
        pulumi.export("graphqlApiId", model_registry.api.id)
        pulumi.export("graphqlInvokePolicyArn", model_registry.invoke_policy.arn)
        if model_registry.api_key is not None:
            pulumi.export("graphqlApiKey", pulumi.Output.secret(model_registry.api_key.key))

if providers.aws is not None and config.sagemaker_enabled and config.sagemaker is not None:
    serving = ServingEndpoint(
        "serving",
        ServingEndpointArgs(
            project=config.project,
            environment=config.environment,
            settings=config.sagemaker,
            kms_deletion_window_days=config.kms_deletion_window_days,
            protect=protect,
        ),
        opts=with_provider(providers.aws),
    )
    pulumi.export("endpointName", serving.endpoint.name)
    pulumi.export("endpointInvokePolicyArn", serving.invoke_policy.arn)
    pulumi.export("captureBucket", serving.capture_bucket.bucket)

if providers.azure is not None and config.azure is not None:
    azure_store = AzureConfigStore(
        "config-store",
        AzureConfigStoreArgs(
            project=config.project,
            environment=config.environment,
            location=config.azure.location,
            sku=config.azure.sku,
            public_network_access=config.allow_public_network_access,
            soft_delete_retention_days=config.azure.soft_delete_retention_days,
            models=config.models,
            tags=config.standard_tags(),
            protect=protect,
            operator_principal_ids=config.azure.operator_principal_ids,
            application_principal_ids=config.azure.application_principal_ids,
        ),
        opts=with_provider(providers.azure),
    )
    pulumi.export("appConfigurationEndpoint", azure_store.store.endpoint)

if providers.gcp is not None and config.gcp is not None:
    vertex = VertexStores(
        "vertex",
        VertexStoresArgs(
            project=config.project,
            environment=config.environment,
            gcp_project=config.gcp.project,
            region=config.gcp.region,
            key_rotation_days=config.gcp.key_rotation_days,
            feature_online_store=config.gcp.feature_online_store,
            protect=protect,
        ),
        opts=with_provider(providers.gcp),
    )
    pulumi.export("vertexMetadataStore", vertex.metadata_store.id)
    if vertex.feature_online_store is not None:
        pulumi.export("vertexFeatureOnlineStore", vertex.feature_online_store.id)
