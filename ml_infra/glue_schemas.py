"""Data contracts in the AWS Glue Schema Registry: one registry per stack and one schema per contract file in
`contracts/` (see `ml_infra.contracts.catalog`), each with its own compatibility mode and description.

The files are read and checked by the catalog before this component is built, so a broken file stops the
program with an error naming it before any resource is declared. Glue itself does not refuse an incompatible
new version (it registers it with status FAILURE), which is why `ml-infra contracts check` gates changes
before they reach this component.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from ml_infra.contracts.catalog import Contract


@dataclass
class ContractRegistryArgs:
    registry_name: str
    description: str
    contracts: Sequence[Contract]
    protect: bool


class ContractRegistry(pulumi.ComponentResource):
    """A Glue schema registry holding the project's data contracts."""

    registry: aws.glue.Registry
    schemas: dict[str, aws.glue.Schema]

    def __init__(self, name: str, args: ContractRegistryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ml-infra:glue_schemas:ContractRegistry", name, None, opts)
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protect)

        self.registry = aws.glue.Registry(
            f"{name}-registry",
            registry_name=args.registry_name,
            description=args.description,
            opts=stateful,
        )
        self.schemas = {}
        for contract in args.contracts:
            self.schemas[contract.name] = aws.glue.Schema(
                f"{name}-{contract.name}",
                schema_name=contract.name,
                registry_arn=self.registry.arn,
                data_format=contract.data_format,
                compatibility=contract.compatibility,
                schema_definition=contract.definition,
                description=contract.description,
                opts=stateful,
            )

        self.register_outputs(
            {
                "registry_arn": self.registry.arn,
                "schema_arns": {contract: schema.arn for contract, schema in self.schemas.items()},
            }
        )
