"""One explicit provider per enabled cloud, configured from the stack, so no resource can land in an account,
project, subscription or region by accident (the stack files also disable Pulumi's default providers).

Tags and labels shared by every resource are set here once, as provider defaults where the provider has them
(AWS `default_tags`, GCP `default_labels`); azure-native has none, so Azure components tag their resources.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_azure_native as azure_native
import pulumi_gcp as gcp

from ml_infra.stack_config import StackConfig


@dataclass(frozen=True)
class CloudProviders:
    aws: aws.Provider | None
    gcp: gcp.Provider | None
    azure: azure_native.Provider | None


def create_providers(config: StackConfig) -> CloudProviders:
    tags = config.standard_tags()
    aws_provider = gcp_provider = azure_provider = None
    if config.aws_enabled and config.aws is not None:
        aws_provider = aws.Provider(
            "aws",
            region=config.aws.region,
            allowed_account_ids=[config.aws.account_id] if config.aws.account_id else None,
            default_tags={"tags": tags},
        )
    if config.gcp_enabled and config.gcp is not None:
        gcp_provider = gcp.Provider(
            "gcp",
            project=config.gcp.project,
            region=config.gcp.region,
            default_labels=tags,
        )
    if config.azure_enabled and config.azure is not None:
        azure_provider = azure_native.Provider(
            "azure",
            location=config.azure.location,
            subscription_id=config.azure.subscription_id,
        )
    return CloudProviders(aws=aws_provider, gcp=gcp_provider, azure=azure_provider)


def with_provider(provider: pulumi.ProviderResource) -> pulumi.ResourceOptions:
    """Options for a component whose children must all use `provider` (children inherit it through parent)."""
    return pulumi.ResourceOptions(providers=[provider])
