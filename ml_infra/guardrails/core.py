"""The rule model of the guardrails: what a rule is, what it is given and what it reports.

A rule sees resources the way the Pulumi engine describes them to a policy pack: a type token
(`aws:kms/key:Key`), a logical name, a URN and camelCase properties (inputs for resource rules, outputs for
stack rules) as plain Python values. It reports violations as full sentences that name the resource and the
fix. Nothing here imports Pulumi or `pulumi_policy`: the offline preview and the tests run the rules directly,
and `ml_infra.guardrails.policy_pack` wraps the same rules as CrossGuard policies.

Values the engine cannot know yet (during `pulumi preview`, e.g. the ARN of a key that does not exist yet)
arrive as `UNKNOWN`. A rule that needs such a value raises `Undecidable`: the policy pack turns it into the
engine's own "can't run policy during preview" note, and the rule runs again with known values at `pulumi up`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Enforcement = Literal["mandatory", "advisory"]
ENVIRONMENTS = ("dev", "staging", "prod")
# The strictest environment is the default: a pack run without config judges a stack as prod.
DEFAULT_ENVIRONMENT = "prod"


class _Unknown:
    """The marker of a value the engine cannot know during preview."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()


class Undecidable(Exception):
    """A rule needs a value that is unknown until the update runs."""

    def __init__(self, path: str):
        super().__init__(f"{path} is not known until the update runs")
        self.path = path


@dataclass(frozen=True)
class Resource:
    """One resource as a policy sees it."""

    type: str
    name: str
    urn: str
    props: Mapping[str, Any]


@dataclass(frozen=True)
class StackOutputValue:
    """A stack output. `secret` is None where the caller cannot tell (see the stack rule)."""

    name: str
    value: Any
    secret: bool | None


@dataclass(frozen=True)
class Context:
    environment: str = DEFAULT_ENVIRONMENT
    # Plaintext of the stack's secret config values, where the caller knows them (the offline preview knows
    # its placeholders): an output carrying one of them unmarked leaks a secret.
    known_secret_values: frozenset[str] = frozenset()

    @property
    def is_prod(self) -> bool:
        return self.environment == "prod"


@dataclass(frozen=True)
class Violation:
    policy: str
    enforcement: Enforcement
    message: str
    resource_type: str | None = None
    resource_name: str | None = None
    urn: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "enforcement": self.enforcement,
            "resourceType": self.resource_type,
            "resourceName": self.resource_name,
            "urn": self.urn,
            "message": self.message,
        }


@dataclass(frozen=True)
class Finding:
    """What a stack rule reports: a message, about one resource (or the stack when `resource` is None)."""

    message: str
    resource: Resource | None = None


ResourceCheck = Callable[[Resource, Context], Iterable[str]]
StackCheck = Callable[[Sequence[Resource], Sequence[StackOutputValue], Context], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    """One policy. `mirrors` names the public scanner rules it reproduces, for an auditor's trace."""

    id: str
    description: str
    mirrors: str
    resource_types: tuple[str, ...]
    enforcement: Enforcement = "mandatory"
    check_resource: ResourceCheck | None = None
    check_stack: StackCheck | None = None
    # Whether the verdict depends on the environment (those read `environment` from the policy config).
    by_environment: bool = False

    @property
    def is_stack_rule(self) -> bool:
        return self.check_stack is not None

    @property
    def full_description(self) -> str:
        return f"{self.description} Mirrors {self.mirrors}."


# ---------------------------------------------------------------------------------------------------------------
# Reading properties


def get(props: Mapping[str, Any] | Any, *path: str | int, default: Any = None) -> Any:
    """The value at `path`, `default` when any step is missing; `Undecidable` when a step is unknown."""
    value: Any = props
    walked: list[str] = []
    for step in path:
        walked.append(str(step))
        if value is UNKNOWN:
            raise Undecidable(".".join(walked[:-1]) or "value")
        if isinstance(step, int):
            if not isinstance(value, list) or step >= len(value):
                return default
            value = value[step]
        else:
            if not isinstance(value, Mapping) or step not in value:
                return default
            value = value[step]
    if value is UNKNOWN:
        raise Undecidable(".".join(walked))
    return value


def known(value: Any, path: str) -> Any:
    """`value`, or `Undecidable` when it (or anything inside it) is unknown."""
    if value is UNKNOWN:
        raise Undecidable(path)
    if isinstance(value, Mapping):
        for key, item in value.items():
            known(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            known(item, f"{path}[{index}]")
    return value


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def json_document(props: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    """A JSON-valued property (policies arrive as JSON text) parsed; None when absent or not an object."""
    text = get(props, key)
    if text is None or text == "":
        return None
    if isinstance(text, Mapping):
        return dict(text)
    if not isinstance(text, str):
        return None
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        return None
    return document if isinstance(document, dict) else None


def statements(document: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    if not document:
        return []
    return [s for s in as_list(document.get("Statement")) if isinstance(s, dict)]


# ---------------------------------------------------------------------------------------------------------------
# What looks like a secret: shared by the SSM rule and the stack-output rule

# Single words that make a name secret, and word pairs (adjacent) that do.
_SECRET_WORDS = frozenset(
    {"secret", "secrets", "password", "passwd", "passphrase", "token", "tokens", "credential", "credentials", "pwd"}
)
_SECRET_PAIRS = frozenset(
    {
        ("api", "key"),
        ("apikey",),
        ("access", "key"),
        ("private", "key"),
        ("secret", "key"),
        ("signing", "key"),
        ("client", "secret"),
        ("connection", "string"),
    }
)
# A name ending in one of these words names a reference to a secret, not the secret itself (`apiKeyId`,
# `tokenEndpoint`, `secretArn`): references are not secret.
_REFERENCE_SUFFIXES = frozenset({"arn", "arns", "id", "ids", "name", "names", "url", "uri", "endpoint", "version"})

# Shapes of credentials that are secret wherever they appear.
CREDENTIAL_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("an AWS access key id", re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b")),
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("an AppSync API key", re.compile(r"\bda2-[a-z0-9]{26}\b")),
    ("a GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b")),
    ("a Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b")),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("an Azure connection string key", re.compile(r"AccountKey=[A-Za-z0-9+/=]{20,}")),
)


def name_words(name: str) -> list[str]:
    """`scoring-service-api-key` / `ssmKeyArn` / `DB_PASSWORD` as lower-case words."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return [word.lower() for word in re.split(r"[^A-Za-z0-9]+", spaced) if word]


def name_looks_secret(name: str) -> bool:
    words = name_words(name)
    if not words or words[-1] in _REFERENCE_SUFFIXES:
        return False
    if any(word in _SECRET_WORDS for word in words):
        return True
    pairs = {tuple(words[i : i + 2]) for i in range(len(words) - 1)} | {(word,) for word in words}
    return bool(pairs & _SECRET_PAIRS)


def credential_in(value: Any) -> str | None:
    """What kind of credential `value` (or any string inside it) carries, or None."""
    for text in _strings(value):
        for kind, pattern in CREDENTIAL_PATTERNS:
            if pattern.search(text):
                return kind
    return None


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def contains_any(value: Any, needles: frozenset[str]) -> bool:
    return any(needle and needle in text for text in _strings(value) for needle in needles)


# ---------------------------------------------------------------------------------------------------------------
# Running rules


@dataclass
class Report:
    violations: list[Violation] = field(default_factory=list)
    # (policy, resource name or None, unknown path): checks that could not decide yet.
    undecided: list[tuple[str, str | None, str]] = field(default_factory=list)

    @property
    def mandatory(self) -> list[Violation]:
        return [v for v in self.violations if v.enforcement == "mandatory"]


def run_resource_rule(rule: Rule, resource: Resource, context: Context) -> list[str]:
    """The messages `rule` reports for `resource` (empty when it does not apply). Raises `Undecidable`."""
    if rule.check_resource is None or resource.type not in rule.resource_types:
        return []
    return list(rule.check_resource(resource, context))


def evaluate_rules(
    rules: Sequence[Rule],
    resources: Sequence[Resource],
    outputs: Sequence[StackOutputValue],
    context: Context,
    *,
    stack_resources: Sequence[Resource] | None = None,
) -> Report:
    """Every rule over every resource (resource rules see `resources`, i.e. inputs; stack rules see
    `stack_resources`, i.e. outputs, which default to `resources`) and the stack outputs."""
    report = Report()
    for rule in rules:
        if rule.check_stack is not None:
            try:
                findings = list(rule.check_stack(stack_resources or resources, outputs, context))
            except Undecidable as unknown:
                report.undecided.append((rule.id, None, unknown.path))
                continue
            for finding in findings:
                target = finding.resource
                report.violations.append(
                    Violation(
                        policy=rule.id,
                        enforcement=rule.enforcement,
                        message=finding.message,
                        resource_type=target.type if target else None,
                        resource_name=target.name if target else None,
                        urn=target.urn if target else None,
                    )
                )
            continue
        for resource in resources:
            try:
                messages = run_resource_rule(rule, resource, context)
            except Undecidable as unknown:
                report.undecided.append((rule.id, resource.name, unknown.path))
                continue
            report.violations.extend(
                Violation(
                    policy=rule.id,
                    enforcement=rule.enforcement,
                    message=message,
                    resource_type=resource.type,
                    resource_name=resource.name,
                    urn=resource.urn,
                )
                for message in messages
            )
    return report
