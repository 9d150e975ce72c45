"""The `ml-infra` command line: one entry point, one sub-command group per concern.

Exit codes mean the same everywhere: 0 ok, 1 a finding (a breaking change, a policy violation), 2 unusable
input (bad config, a missing file). Sub-command groups import their heavy dependencies (Pulumi, boto3) lazily,
so `ml-infra --help` is fast and works without the Pulumi SDKs.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from ml_infra.contracts.cli import app as contracts_app
from ml_infra.modelconfig.cli import app as config_app

app = typer.Typer(
    name="ml-infra",
    help="Infrastructure and run-time tools for the ML platform.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Infrastructure and run-time tools for the ML platform."""


class PreviewFormat(StrEnum):
    text = "text"
    json = "json"
    terraform_plan = "terraform-plan"


@app.command()
def preview(
    stack: Annotated[str, typer.Option("--stack", "-s", help="Stack name: reads Pulumi.<stack>.yaml.")] = "dev",
    project_dir: Annotated[
        Path, typer.Option("--project-dir", help="Folder holding Pulumi.yaml.", file_okay=False)
    ] = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
    output_format: Annotated[
        PreviewFormat,
        typer.Option(
            "--format",
            help="text (the tree), json (what --json prints) or terraform-plan (Terraform plan JSON, for "
            "Checkov, Trivy or conftest; see docs/terraform-plan.md).",
        ),
    ] = PreviewFormat.text,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the document to this file instead of stdout.")
    ] = None,
) -> None:
    """Evaluate the real Pulumi program for a stack offline, on Pulumi's mock runtime, and print what it
    declares. Needs no Pulumi CLI and no cloud credentials."""
    from ml_infra.preview import run_preview_command

    chosen = PreviewFormat.json if as_json and output_format is PreviewFormat.text else output_format
    raise typer.Exit(
        run_preview_command(
            stack=stack,
            project_dir=project_dir,
            as_json=chosen is PreviewFormat.json,
            output_format=chosen.value,
            output=output,
        )
    )


@app.command()
def cost(
    stack: Annotated[str, typer.Option("--stack", "-s", help="Stack name: reads Pulumi.<stack>.yaml.")] = "dev",
    compare: Annotated[
        list[str] | None,
        typer.Option("--compare", "-c", help="Another stack to price side by side (repeatable), e.g. prod."),
    ] = None,
    project_dir: Annotated[
        Path, typer.Option("--project-dir", help="Folder holding Pulumi.yaml.", file_okay=False)
    ] = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="The side-by-side idle table as Markdown.")] = False,
    requests_per_month: Annotated[
        int, typer.Option("--requests-per-month", min=0, help="Assumed requests per month, for usage prices.")
    ] = 100_000,
    capture_gb: Annotated[
        float, typer.Option("--capture-gb", min=0, help="Assumed GB of captured data per month, for usage prices.")
    ] = 1.0,
    log_gb: Annotated[
        float, typer.Option("--log-gb", min=0, help="Assumed GB written to each log group per month, for usage prices.")
    ] = 1.0,
    hours: Annotated[
        float, typer.Option("--hours", min=0, max=744, help="Hours a month, for prices per hour or day.")
    ] = 730.0,
) -> None:
    """What a stack costs left up with no traffic, per resource and per cloud, and its usage-driven prices,
    from the same offline evaluation as `preview` and the repository's price file. Unpriced resources are
    listed as unknown, never guessed."""
    from ml_infra.cost import Assumptions, run_cost_command

    assumptions = Assumptions(
        requests_per_month=requests_per_month,
        capture_gb_per_month=capture_gb,
        log_gb_per_month=log_gb,
        hours_per_month=hours,
    )
    stacks = [stack, *[other for other in compare or [] if other != stack]]
    raise typer.Exit(run_cost_command(stacks, project_dir, as_json, markdown, assumptions))


# Sub-command groups of the run-time libraries register here.
app.add_typer(contracts_app, name="contracts")
app.add_typer(config_app, name="config")


def main() -> None:
    app()
