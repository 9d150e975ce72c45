"""The model-configuration stores outside AWS.

Azure (`AzureConfigStore`): a resource group created by the stack and an App Configuration store hardened the
way Checkov's CKV_AZURE_184..188 expect (Standard SKU or better, local-key auth off, public network access
off unless the stack allows it, purge protection and soft-delete retention, a system-assigned identity),
seeded with every model's non-secret key-values labelled with the environment. Secrets stay in SSM: an App
Configuration store is not a secret store.

Because local auth is off, the key-values are written through the store's data-plane proxy with the
deployer's own Azure AD identity ("Pass-through"), which needs the App Configuration Data Owner role: the
component grants it to the identity running `pulumi up`, on this store only.

For run-time configuration (`ml_infra.modelconfig.azure_appconfig`, `ml-infra config --backend azure`) the
component also seeds each model's declared schema (`_schema:<model>`, the same document as SSM's `_schema`) and
grants the data-plane roles to the principals the stack names: App Configuration Data Owner to operators, Data
Reader to applications. App Configuration RBAC is store-wide: there is no per-key or per-label role, so an
operator of one model can change every model in the store (use one store per trust boundary). The first release
is cut by `ml-infra config release` (a snapshot: azure-native has no snapshot resource, and a release is a
run-time act, not a deployment), then `ml-infra config activate` writes the pointer. Pulumi owns which keys
exist and the schema; a key's value, content type and tags belong to the run time after the first deployment
(`ignore_changes`), so the next `pulumi up` never reverts a `ml-infra config set`.

GCP (`VertexStores`): a Cloud KMS key ring and rotating key created by the stack, granted to the Vertex AI
service agent, encrypting a Vertex AI metadata store (lineage of models, datasets and runs) and a Vertex AI
feature online store (the current Feature Store; the legacy `AiFeatureStore` is not used), which a stack can
leave out (`gcp.featureOnlineStore.enabled`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_azure_native as azure_native
import pulumi_gcp as gcp

from ml_infra.modelconfig.layout import ModelSchema
from ml_infra.stack_config import FeatureOnlineStoreSettings, ModelConfig, ParameterConfig

# Built-in Azure role "App Configuration Data Owner": read and write key-values through the data plane.
APP_CONFIGURATION_DATA_OWNER_ROLE = "5ae67dd6-50cb-40e7-96ff-dc2bfa4b606b"
# Built-in Azure role "App Configuration Data Reader": read key-values and snapshots through the data plane.
APP_CONFIGURATION_DATA_READER_ROLE = "516239f1-63e1-4d78-a4de-a74fb236a071"
# A key-value's value, content type and tags are the run time's after the first deployment (`ml-infra config
# set` writes them, with a version tag); Pulumi keeps owning the key's existence.
RUNTIME_OWNED_KEY_VALUE_PROPERTIES = ["value", "contentType", "tags"]


def app_configuration_entry(parameter: ParameterConfig) -> tuple[str, str | None]:
    """The value and content type of a non-secret parameter in App Configuration. Lists and JSON values are
    stored as JSON so that App Configuration's own JSON support (and its SDKs) read them as structures."""
    if parameter.type == "StringList":
        return json.dumps(parameter.values), "application/json"
    if parameter.effective_value_type == "json":
        return parameter.value or "", "application/json"
    return parameter.value or "", None


@dataclass
class AzureConfigStoreArgs:
    project: str
    environment: str
    location: str
    sku: str
    public_network_access: bool
    soft_delete_retention_days: int
    models: Mapping[str, ModelConfig]
    tags: Mapping[str, str]
    protect: bool
    operator_principal_ids: Sequence[str] = ()
    application_principal_ids: Sequence[str] = ()


class AzureConfigStore(pulumi.ComponentResource):
    """An Azure App Configuration store seeded with the models' key-values."""

    resource_group: azure_native.resources.ResourceGroup
    store: azure_native.appconfiguration.ConfigurationStore
    data_owner_assignment: azure_native.authorization.RoleAssignment
    operator_assignments: dict[str, azure_native.authorization.RoleAssignment]
    application_assignments: dict[str, azure_native.authorization.RoleAssignment]
    key_values: dict[str, azure_native.appconfiguration.KeyValue]
    schemas: dict[str, azure_native.appconfiguration.KeyValue]

    def __init__(self, name: str, args: AzureConfigStoreArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-infra:config_store:AzureConfigStore", name, None, opts)
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protect)
        tags = dict(args.tags)
        free = args.sku == "free"

        self.resource_group = azure_native.resources.ResourceGroup(
            f"{name}-rg",
            resource_group_name=f"rg-{args.project}-{args.environment}",
            location=args.location,
            tags=tags,
            opts=stateful,
        )
        self.store = azure_native.appconfiguration.ConfigurationStore(
            f"{name}-store",
            resource_group_name=self.resource_group.name,
            location=args.location,
            sku={"name": args.sku},
            disable_local_auth=True,
            public_network_access=azure_native.appconfiguration.PublicNetworkAccess.ENABLED
            if args.public_network_access
            else azure_native.appconfiguration.PublicNetworkAccess.DISABLED,
            # The free SKU has neither soft delete nor purge protection (the config model allows it outside prod
            # only); Azure refuses the settings there.
            enable_purge_protection=None if free else True,
            soft_delete_retention_in_days=None if free else args.soft_delete_retention_days,
            identity={"type": azure_native.appconfiguration.IdentityType.SYSTEM_ASSIGNED},
            # Lets Azure Resource Manager (and so Pulumi) write key-values with the caller's identity while
            # local auth is off, including through ARM's private link when public access is off.
            data_plane_proxy={
                "authentication_mode": azure_native.appconfiguration.AuthenticationMode.PASS_THROUGH,
                "private_link_delegation": azure_native.appconfiguration.PrivateLinkDelegation.ENABLED,
            },
            tags=tags,
            opts=stateful,
        )

        deployer = azure_native.authorization.get_client_config_output(opts=pulumi.InvokeOptions(parent=self))

        def role_id(role: str) -> pulumi.Output[str]:
            return pulumi.Output.concat(
                "/subscriptions/", deployer.subscription_id, "/providers/Microsoft.Authorization/roleDefinitions/", role
            )

        self.data_owner_assignment = azure_native.authorization.RoleAssignment(
            f"{name}-deployer-data-owner",
            principal_id=deployer.object_id,
            role_definition_id=role_id(APP_CONFIGURATION_DATA_OWNER_ROLE),
            scope=self.store.id,
            description="Lets the identity that runs `pulumi up` seed key-values while local auth is off.",
            opts=pulumi.ResourceOptions(parent=self),
        )

        def assignments(
            kind: str, principals: Sequence[str], role: str, description: str
        ) -> dict[str, azure_native.authorization.RoleAssignment]:
            # Named after the principal, so adding or removing one principal touches only its own assignment.
            return {
                principal: azure_native.authorization.RoleAssignment(
                    f"{name}-{kind}-{principal}",
                    principal_id=principal,
                    role_definition_id=role_id(role),
                    scope=self.store.id,
                    description=description,
                    opts=pulumi.ResourceOptions(parent=self),
                )
                for principal in dict.fromkeys(principals)
            }

        self.operator_assignments = assignments(
            "operator",
            args.operator_principal_ids,
            APP_CONFIGURATION_DATA_OWNER_ROLE,
            "ml-infra config operator: App Configuration Data Owner on the whole store.",
        )
        self.application_assignments = assignments(
            "application",
            args.application_principal_ids,
            APP_CONFIGURATION_DATA_READER_ROLE,
            "Application loading model configuration: App Configuration Data Reader on the store.",
        )

        seeded = pulumi.ResourceOptions(parent=self, depends_on=[self.data_owner_assignment])
        runtime_owned = pulumi.ResourceOptions.merge(
            seeded, pulumi.ResourceOptions(ignore_changes=RUNTIME_OWNED_KEY_VALUE_PROPERTIES)
        )
        self.key_values = {}
        self.schemas = {}
        for model, model_config in args.models.items():
            schema = ModelSchema(
                project=args.project,
                environment=args.environment,
                model=model,
                keys={key: parameter.key_schema() for key, parameter in model_config.parameters.items()},
            )
            self.schemas[model] = azure_native.appconfiguration.KeyValue(
                f"{name}-{model}-schema",
                config_store_name=self.store.name,
                resource_group_name=self.resource_group.name,
                key_value_name=f"_schema:{model}${args.environment}",
                value=schema.model_dump_json(),
                content_type="application/json",
                tags={"model": model, "owner": "pulumi"},
                opts=seeded,
            )
            for key, parameter in model_config.parameters.items():
                if parameter.type == "SecureString":
                    continue
                value, content_type = app_configuration_entry(parameter)
                self.key_values[f"{model}:{key}"] = azure_native.appconfiguration.KeyValue(
                    f"{name}-{model}-{key}",
                    config_store_name=self.store.name,
                    resource_group_name=self.resource_group.name,
                    # "<key>$<label>": the label is the environment, so one store could serve several.
                    key_value_name=f"{model}:{key}${args.environment}",
                    value=value,
                    content_type=content_type,
                    # The run-time library's version counter and type (`azure_appconfig`): a list and a JSON
                    # value are both JSON text, the type tag tells them apart.
                    tags={"model": model, "version": "1", "type": parameter.type},
                    opts=runtime_owned,
                )

        self.register_outputs({"store_id": self.store.id, "endpoint": self.store.endpoint})


@dataclass
class VertexStoresArgs:
    project: str
    environment: str
    gcp_project: str
    region: str
    key_rotation_days: int
    feature_online_store: FeatureOnlineStoreSettings
    protect: bool


def vertex_resource_name(project: str, environment: str) -> str:
    """Vertex AI names allow [a-z0-9_] only, starting with a letter."""
    return f"{project}_{environment}".replace("-", "_").lower()


class VertexStores(pulumi.ComponentResource):
    """Vertex AI metadata and feature online stores, encrypted with a stack-owned Cloud KMS key."""

    services: dict[str, gcp.projects.Service]
    key_ring: gcp.kms.KeyRing
    key: gcp.kms.CryptoKey
    vertex_agent: gcp.projects.ServiceIdentity
    vertex_key_access: gcp.kms.CryptoKeyIAMMember
    metadata_store: gcp.vertex.AiMetadataStore
    feature_online_store: gcp.vertex.AiFeatureOnlineStore | None

    def __init__(self, name: str, args: VertexStoresArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-infra:config_store:VertexStores", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # Terraform-style deletion guard of the Google provider, on top of Pulumi's protect.
        deletion_policy = "PREVENT" if args.protect else "DELETE"

        # The APIs are left enabled on destroy: other workloads in the project may use them.
        self.services = {
            api: gcp.projects.Service(
                f"{name}-{api.split('.')[0]}-api",
                project=args.gcp_project,
                service=api,
                disable_on_destroy=False,
                opts=child,
            )
            for api in ("aiplatform.googleapis.com", "cloudkms.googleapis.com")
        }
        self.key_ring = gcp.kms.KeyRing(
            f"{name}-keyring",
            name=f"{args.project}-{args.environment}-vertex",
            location=args.region,
            project=args.gcp_project,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.services["cloudkms.googleapis.com"]]),
        )
        self.key = gcp.kms.CryptoKey(
            f"{name}-key",
            name="vertex-cmek",
            key_ring=self.key_ring.id,
            purpose="ENCRYPT_DECRYPT",
            rotation_period=f"{args.key_rotation_days * 86400}s",
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        self.vertex_agent = gcp.projects.ServiceIdentity(
            f"{name}-vertex-agent",
            project=args.gcp_project,
            service="aiplatform.googleapis.com",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.services["aiplatform.googleapis.com"]]),
        )
        self.vertex_key_access = gcp.kms.CryptoKeyIAMMember(
            f"{name}-vertex-key-access",
            crypto_key_id=self.key.id,
            role="roles/cloudkms.cryptoKeyEncrypterDecrypter",
            member=self.vertex_agent.member,
            opts=child,
        )
        encrypted = pulumi.ResourceOptions(parent=self, protect=args.protect, depends_on=[self.vertex_key_access])
        resource_name = vertex_resource_name(args.project, args.environment)
        self.metadata_store = gcp.vertex.AiMetadataStore(
            f"{name}-metadata",
            name=resource_name,
            project=args.gcp_project,
            region=args.region,
            description=f"Lineage of models, datasets and runs for {args.project}/{args.environment}.",
            encryption_spec={"kms_key_name": self.key.id},
            deletion_policy=deletion_policy,
            opts=encrypted,
        )
        sizing = args.feature_online_store
        # Optional per stack: its Bigtable nodes bill every hour whether or not features are served.
        self.feature_online_store = None
        if sizing.enabled:
            self.feature_online_store = gcp.vertex.AiFeatureOnlineStore(
                f"{name}-features",
                name=resource_name,
                project=args.gcp_project,
                region=args.region,
                bigtable={
                    "auto_scaling": {
                        "min_node_count": sizing.min_node_count,
                        "max_node_count": sizing.max_node_count,
                        "cpu_utilization_target": sizing.cpu_utilization_target,
                    }
                },
                encryption_spec={"kms_key_name": self.key.id},
                deletion_policy=deletion_policy,
                force_destroy=False,
                opts=encrypted,
            )

        self.register_outputs(
            {
                "key_id": self.key.id,
                "metadata_store_id": self.metadata_store.id,
                "feature_online_store_id": self.feature_online_store.id if self.feature_online_store else None,
            }
        )
