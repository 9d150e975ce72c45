"""The ml-infra guardrails policy pack. It only builds the pack: the rules are in `ml_infra.guardrails` (shared
with the tests and `ml-infra preview`), and constructing `PolicyPack` starts the analyzer server the Pulumi CLI
talks to, so nothing else imports this file."""

from pulumi_policy import EnforcementLevel, PolicyPack

from ml_infra.guardrails.policy_pack import PACK_NAME, build_policies

PolicyPack(
    name=PACK_NAME,
    policies=build_policies(),
    # Each policy sets its own level (mandatory unless the rule is advisory); this is only the fallback.
    enforcement_level=EnforcementLevel.MANDATORY,
)
