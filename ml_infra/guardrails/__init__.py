"""Guardrails: the security checklist of the public IaC scanners for this project's resources, as rules that run
everywhere the stack is judged: in the tests and `ml-infra preview` (`offline.check_evaluation`), and in
`pulumi preview/up --policy-pack policy` (`policy_pack.build_policies`, wrapped by `policy/__main__.py`).

`core` is the rule model, `rules` the rules; neither imports Pulumi or `pulumi_policy`.
"""
