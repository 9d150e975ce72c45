"""The guardrail rules as Pulumi CrossGuard policies: what `policy/__main__.py` hands to `PolicyPack`.

Each rule becomes one `ResourceValidationPolicy` or `StackValidationPolicy` with the rule's id, its
description (naming the public rules it mirrors) and its enforcement level, and a config schema with one
property, `environment` (dev, staging, prod; default prod, the strictest). The policy config files in
`policy/` set it per stack: `pulumi preview --policy-pack policy --policy-pack-config policy/config.dev.json`.

The engine hands a policy its properties behind proxies that raise on values unknown during preview, and
secret values unwrapped. This module turns them into plain values (unknowns become `core.UNKNOWN`), runs the
rule, and turns a rule's `Undecidable` back into the SDK's `UnknownValueError`, so the engine prints its usual
"can't run policy during preview" note and runs the policy again with known values during `pulumi up`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError
from pulumi_policy.secret import Secret

from ml_infra.guardrails.core import (
    DEFAULT_ENVIRONMENT,
    ENVIRONMENTS,
    UNKNOWN,
    Context,
    Resource,
    Rule,
    StackOutputValue,
    Undecidable,
    run_resource_rule,
)
from ml_infra.guardrails.rules import RULES

PACK_NAME = "ml-infra-guardrails"
ROOT_STACK_TYPE = "pulumi:pulumi:Stack"

CONFIG_SCHEMA = PolicyConfigSchema(
    properties={
        "environment": {
            "type": "string",
            "enum": list(ENVIRONMENTS),
            "default": DEFAULT_ENVIRONMENT,
            "description": "Environment of the stack under review; rules that differ by environment read it.",
        }
    }
)


def plain(value: Any) -> Any:
    """A plain copy of an engine property value: proxies unwrapped, secrets revealed, unknowns as UNKNOWN."""
    if isinstance(value, Secret):
        return plain(value.value)
    if isinstance(value, str | bytes | int | float | bool) or value is None:
        return value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key in value:
            try:
                out[key] = plain(value[key])
            except UnknownValueError:
                out[key] = UNKNOWN
        return out
    if isinstance(value, Sequence):
        items: list[Any] = []
        for index in range(len(value)):
            try:
                items.append(plain(value[index]))
            except UnknownValueError:
                items.append(UNKNOWN)
        return items
    return value


def context_from(config: Mapping[str, Any] | None) -> Context:
    environment = (config or {}).get("environment") or DEFAULT_ENVIRONMENT
    if environment not in ENVIRONMENTS:
        # A typo must not silently relax the rules: judge as the strictest environment.
        environment = DEFAULT_ENVIRONMENT
    return Context(environment=environment)


def _cannot_decide(error: Undecidable) -> UnknownValueError:
    return UnknownValueError(UNKNOWN_STRING_VALUE, error.path.split("."))


def _resource_validation(rule: Rule):
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type not in rule.resource_types:
            return
        resource = Resource(type=args.resource_type, name=args.name, urn=args.urn, props=plain(args.props))
        try:
            messages = run_resource_rule(rule, resource, context_from(args.get_config()))
        except Undecidable as error:
            raise _cannot_decide(error) from error
        for message in messages:
            report_violation(message, None)

    return validate


def _stack_validation(rule: Rule):
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        assert rule.check_stack is not None
        resources: list[Resource] = []
        outputs: list[StackOutputValue] = []
        for r in args.resources:
            props = plain(r.props)
            if r.resource_type == ROOT_STACK_TYPE:
                # The root stack resource's properties are the stack outputs. The SDK has already unwrapped
                # their secrets, so whether one was marked secret cannot be told here (secret=None).
                outputs += [StackOutputValue(name, value, None) for name, value in props.items()]
            else:
                resources.append(Resource(type=r.resource_type, name=r.name, urn=r.urn, props=props))
        try:
            findings = list(rule.check_stack(resources, outputs, context_from(args.get_config())))
        except Undecidable as error:
            raise _cannot_decide(error) from error
        for finding in findings:
            report_violation(finding.message, finding.resource.urn if finding.resource else None)

    return validate


def _enforcement(rule: Rule) -> EnforcementLevel:
    return EnforcementLevel.MANDATORY if rule.enforcement == "mandatory" else EnforcementLevel.ADVISORY


def build_policy(rule: Rule) -> Policy:
    if rule.check_stack is not None:
        return StackValidationPolicy(
            name=rule.id,
            description=rule.full_description,
            validate=_stack_validation(rule),
            enforcement_level=_enforcement(rule),
            config_schema=CONFIG_SCHEMA,
        )
    return ResourceValidationPolicy(
        name=rule.id,
        description=rule.full_description,
        validate=_resource_validation(rule),
        enforcement_level=_enforcement(rule),
        config_schema=CONFIG_SCHEMA,
    )


def build_policies(rules: Sequence[Rule] = RULES) -> list[Policy]:
    """One CrossGuard policy per rule, in the pack's order."""
    return [build_policy(rule) for rule in rules]


def policy_config(environment: str, rules: Sequence[Rule] = RULES) -> dict[str, dict[str, str]]:
    """The `--policy-pack-config` document for a stack of `environment`: config is per policy in CrossGuard,
    so every policy gets the environment (the ones that do not read it ignore it)."""
    return {rule.id: {"environment": environment} for rule in rules}
