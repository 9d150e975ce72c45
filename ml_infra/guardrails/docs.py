"""The rules table of docs/guardrails.md, generated from the rules (a test keeps the file in step):
`python -m ml_infra.guardrails.docs` prints it."""

from __future__ import annotations

from ml_infra.guardrails.rules import RULES


def _short(token: str) -> str:
    # `aws:kms/key:Key` -> `aws:kms Key`: the table stays readable and the token stays recognisable.
    provider, module, kind = [*token.split(":"), "", ""][:3]
    return f"`{provider}:{module.split('/')[0]} {kind}`" if kind else f"`{token}`"


def rules_markdown() -> str:
    lines = [
        "| id | enforcement | requirement | mirrors | resources covered |",
        "| --- | --- | --- | --- | --- |",
    ]
    for rule in RULES:
        level = rule.enforcement + (", by environment" if rule.by_environment else "")
        level += " (stack)" if rule.is_stack_rule else ""
        covered = ", ".join(_short(token) for token in rule.resource_types)
        if rule.id == "stack-outputs-secret-marked":
            covered = "stack outputs"
        lines.append(f"| `{rule.id}` | {level} | {rule.description} | {rule.mirrors} | {covered} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(rules_markdown(), end="")
