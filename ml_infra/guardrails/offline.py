"""The guardrail rules over an offline evaluation (`ml_infra.preview.evaluate`): what `ml-infra preview` and the
tests run, with no Pulumi CLI and no `pulumi_policy`.

Resource rules see each registration's inputs as the engine received them, secrets revealed (the policy SDK
hands policies plain values too). Stack rules see outputs, as in the engine: offline, a registration's outputs
are the mock's state over its inputs. Stack outputs keep their secret flag, which the offline run knows and the
engine's Python policy SDK does not, and the placeholders of the stack's secret config values are known, so an
output that leaks one unmarked is caught here.
"""

from __future__ import annotations

from collections.abc import Sequence

from ml_infra.guardrails.core import Context, Report, Resource, Rule, StackOutputValue, evaluate_rules
from ml_infra.guardrails.rules import RULES
from ml_infra.preview import OFFLINE_SECRET_PLACEHOLDER, Evaluation, reveal_secrets


def check_evaluation(evaluation: Evaluation, environment: str, rules: Sequence[Rule] = RULES) -> Report:
    inputs = [
        Resource(type=r.type, name=r.name, urn=r.urn, props=reveal_secrets(r.raw_inputs)) for r in evaluation.resources
    ]
    states = [
        Resource(type=r.type, name=r.name, urn=r.urn, props=reveal_secrets({**r.raw_inputs, **r.state}))
        for r in evaluation.resources
    ]
    outputs = [StackOutputValue(name, out.value, out.secret) for name, out in evaluation.outputs.items()]
    context = Context(environment=environment, known_secret_values=frozenset({OFFLINE_SECRET_PLACEHOLDER}))
    return evaluate_rules(rules, inputs, outputs, context, stack_resources=states)
