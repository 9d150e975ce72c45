"""The ml-infra guardrails policy pack. It only builds the pack: the rules are in `ml_infra.guardrails` (shared
with the tests and `ml-infra preview`), and constructing `PolicyPack` starts the analyzer server the Pulumi CLI
talks to, so nothing else imports this file.

The pack's environment (`policy/venv`, created by `pulumi install` in this directory from the hash-locked
`requirements.txt`) holds the rules' dependencies but not this project: pip's hash-checking mode refuses a
directory requirement such as `-e ..`. The rules are therefore imported from the project checkout this pack
lives in, one directory up.
"""

import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from ml_infra.guardrails.policy_pack import PACK_NAME, build_policies  # noqa: E402

PolicyPack(
    name=PACK_NAME,
    policies=build_policies(),
    # Each policy sets its own level (mandatory unless the rule is advisory); this is only the fallback.
    enforcement_level=EnforcementLevel.MANDATORY,
)
