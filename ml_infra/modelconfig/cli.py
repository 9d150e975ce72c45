"""`ml-infra config`: the operators' commands for model configuration (show, set, release, activate, rollback,
history, diff, releases).

Tables for people, `--json` for scripts (one JSON object on stdout, errors included). Exit status: 0 ok, 1 a
refusal or a fault (validation refused a release, AWS denied permission, eviction risk, SSM unreachable, a prod
change not confirmed), 2 unusable input (unknown model or release, a malformed value). Secret values are never
printed and never taken from the command line: `set --secret KEY` reads them from a hidden prompt or stdin.
AWS settings come from the environment as for any AWS tool (`AWS_PROFILE`, `AWS_REGION`, `AWS_ENDPOINT_URL`).

The same commands work on Azure App Configuration: `ml-infra config --backend azure --endpoint URL ...`, or per
model from the stack file's `configBackend` (see `routing`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated, Any, NoReturn

import typer

from ml_infra import console as cli_console
from ml_infra.modelconfig.errors import (
    ConfigValidationError,
    InvalidInputError,
    ModelConfigError,
    NotConfirmedError,
)

app = typer.Typer(
    name="config",
    help="Model configuration at run time: stage values, release, activate, roll back, audit.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

PROD_ENVIRONMENTS = frozenset({"prod", "production"})

ProjectOption = Annotated[str, typer.Option("--project", help="Project: the first segment of every SSM path.")]
EnvOption = Annotated[
    str,
    typer.Option(
        "--env",
        "--environment",
        envvar="ML_INFRA_ENV",
        help="Environment (stack) name, e.g. dev or prod. Default: $ML_INFRA_ENV.",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
ModelArgument = Annotated[str, typer.Argument(help="Model name, as declared in the stack config.")]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (prod).")]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why: recorded in the activation history.")]


_backend_settings: Any = None  # set by `select_backend` for the invocation


@app.callback()
def select_backend(
    backend: Annotated[
        str | None,
        typer.Option(
            "--backend",
            envvar="ML_INFRA_CONFIG_BACKEND",
            help="Store of the releases: ssm or azure. Default: the model's configBackend in Pulumi.<env>.yaml "
            "(see --stack-dir), else ssm.",
            show_default=False,
        ),
    ] = None,
    endpoint: Annotated[
        str | None,
        typer.Option(
            "--endpoint",
            envvar="ML_INFRA_APPCONFIG_ENDPOINT",
            help="Azure App Configuration endpoint (the stack output appConfigurationEndpoint).",
            show_default=False,
        ),
    ] = None,
    stack_dir: Annotated[
        str, typer.Option("--stack-dir", help="Where Pulumi.<env>.yaml is, for each model's configBackend.")
    ] = ".",
) -> None:
    """Model configuration at run time: stage values, release, activate, roll back, audit."""
    from pathlib import Path

    from ml_infra.modelconfig.routing import BackendSettings

    global _backend_settings
    _backend_settings = BackendSettings(backend=backend, endpoint=endpoint, stack_dir=Path(stack_dir))


def _manager(project: str, environment: str) -> Any:
    from ml_infra.modelconfig.routing import BackendSettings, ManagerRouter

    def make_ssm() -> Any:
        from ml_infra.modelconfig.aws import ssm_client, sts_client
        from ml_infra.modelconfig.releases import ReleaseManager

        return ReleaseManager(project, environment, client=ssm_client(), sts=sts_client())

    return ManagerRouter(project, environment, _backend_settings or BackendSettings(), make_ssm)


def _stdout() -> Any:
    # Markup off (ml_infra.console): model names, keys, values and notes are user text, printed literally.
    return cli_console.out()


def _run(as_json: bool, body: Callable[[], tuple[dict[str, Any], Callable[[Any], None]]]) -> None:
    """Run a command: print its result as JSON or as tables, and any error without a traceback."""
    try:
        payload, render = body()
    except ModelConfigError as err:
        _fail(err, as_json)
    if as_json:
        cli_console.json_document(payload, default=str)
    else:
        render(_stdout())


def _fail(err: ModelConfigError, as_json: bool) -> NoReturn:
    problems = [asdict(p) for p in err.problems] if isinstance(err, ConfigValidationError) else []
    if as_json:
        error: dict[str, Any] = {"type": type(err).__name__, "message": err.message}
        if problems:
            error["subject"] = err.subject  # type: ignore[attr-defined]
            error["problems"] = problems
        cli_console.json_document({"error": error})
    elif isinstance(err, ConfigValidationError):
        cli_console.error(f"{err.subject}:")
        for problem in err.problems:
            cli_console.line(f"  - {problem.key}: {problem.reason}", stderr=True)
    else:
        cli_console.error(err.message)
    raise typer.Exit(err.exit_code)


def _key_rows(view: Any) -> list[dict[str, Any]]:
    from ml_infra.modelconfig.values import display_text

    return [
        {
            "key": k.key,
            "value_type": k.value_type,
            "ssm_type": k.ssm_type,
            "version": k.version,
            "value": display_text(k.text, k.ssm_type),
            "description": k.description,
        }
        for k in sorted(view.keys.values(), key=lambda k: k.key)
    ]


def _table(title: str | None, columns: list[str], rows: list[list[Any]]) -> Any:
    from rich.table import Table

    from ml_infra.console import literal

    # Text, not markup: values such as "[secret]" or a JSON list must print as they are.
    table = Table(title=literal(title) if title else None, title_justify="left", show_lines=False)
    for column in columns:
        table.add_column(literal(column), overflow="fold")
    for row in rows:
        table.add_row(*[literal(cell) for cell in row])
    return table


def _confirm(environment: str, yes: bool, question: str) -> None:
    if yes or environment not in PROD_ENVIRONMENTS:
        return
    try:
        confirmed = typer.confirm(question, default=False, err=True)
    except typer.Abort:
        confirmed = False
    if not confirmed:
        raise NotConfirmedError(f"not confirmed: nothing changed in {environment} (pass --yes to skip the prompt)")


@app.command()
def show(
    model: ModelArgument,
    environment: EnvOption,
    release: Annotated[
        str, typer.Option("--release", "-r", help="A release id, 'active' (default) or 'staged' (latest versions).")
    ] = "active",
    project: ProjectOption = "ml-infra",
    as_json: JsonOption = False,
) -> None:
    """Show the values of the active release (or of another release, or the staged values). Secret values are
    never shown."""

    def body() -> tuple[dict[str, Any], Callable[[Any], None]]:
        view = _manager(project, environment).view(model, release)
        rows = _key_rows(view)
        document = view.document
        activation = view.activation
        payload = {
            "project": project,
            "environment": environment,
            "model": model,
            "release_id": view.release_id,
            "created_at": document.created_at if document else None,
            "created_by": document.created_by if document else None,
            "note": document.note if document else "",
            "activation": activation.model_dump() if activation else None,
            "keys": rows,
        }

        def render(console: Any) -> None:
            title = f"{project}/{environment}/{model}: release {view.release_id}"
            if release == "active" and activation:
                title += f" (activated {activation.activated_at} by {activation.activated_by})"
            console.print(
                _table(
                    title,
                    ["key", "type", "version", "value", "description"],
                    [[r["key"], r["value_type"], r["version"], r["value"], r["description"]] for r in rows],
                )
            )

        return payload, render

    _run(as_json, body)


@app.command("set")
def set_(
    model: ModelArgument,
    environment: EnvOption,
    assignments: Annotated[
        list[str] | None, typer.Argument(help="KEY=VALUE pairs (lists: a,b,c). Not for secrets.", show_default=False)
    ] = None,
    secret: Annotated[
        list[str] | None,
        typer.Option("--secret", help="A secret key to set; its value is read from a hidden prompt or stdin."),
    ] = None,
    project: ProjectOption = "ml-infra",
    as_json: JsonOption = False,
) -> None:
    """Stage new values: new SSM versions that applications see only once a release naming them is active."""

    def body() -> tuple[dict[str, Any], Callable[[Any], None]]:
        manager = _manager(project, environment)
        schema = manager.schema(model)
        values: dict[str, str] = {}
        for item in assignments or []:
            key, sep, text = item.partition("=")
            if not sep or not key:
                raise InvalidInputError(f"{item!r} is not KEY=VALUE")
            declared = schema.keys.get(key)
            if declared is not None and declared.ssm_type == "SecureString":
                raise InvalidInputError(
                    f"{key} is a secret: a value on the command line ends up in shell history and process lists; "
                    f"use --secret {key} and type the value at the prompt or pipe it on stdin"
                )
            values[key] = text
        for key in secret or []:
            declared = schema.keys.get(key)
            if declared is None or declared.ssm_type != "SecureString":
                raise InvalidInputError(f"--secret {key}: {key} is not a secret key of model {model}")
            values[key] = _read_secret(key)
        written = manager.set_values(model, values)
        payload = {"model": model, "staged": [{"key": w.key, "version": w.version} for w in written]}

        def render(console: Any) -> None:
            console.print(
                _table(
                    f"staged in {project}/{environment}/{model}",
                    ["key", "version"],
                    [[w.key, w.version] for w in written],
                )
            )
            console.print("Not live yet: `ml-infra config release` then `ml-infra config activate`.")

        return payload, render

    _run(as_json, body)


def _read_secret(key: str) -> str:
    if sys.stdin.isatty():
        text = typer.prompt(f"value of {key}", hide_input=True, confirmation_prompt=True, err=True)
    else:
        text = sys.stdin.readline().rstrip("\r\n")
    if not text:
        raise InvalidInputError(f"no value for secret {key}: type it at the prompt or give one line on stdin")
    return text


@app.command()
def release(
    model: ModelArgument,
    environment: EnvOption,
    release_id: Annotated[
        str | None, typer.Option("--id", help="Release id (default: UTC timestamp + random suffix).")
    ] = None,
    note: Annotated[str, typer.Option("--note", help="What this release changes.")] = "",
    project: ProjectOption = "ml-infra",
    as_json: JsonOption = False,
) -> None:
    """Create an immutable release of the staged values, validated against the model's schema."""

    def body() -> tuple[dict[str, Any], Callable[[Any], None]]:
        document = _manager(project, environment).create_release(model, release_id, note)
        payload = json.loads(document.model_dump_json())

        def render(console: Any) -> None:
            console.print(
                _table(
                    f"release {document.release_id} of {project}/{environment}/{model} (parent: "
                    f"{document.parent_release_id or 'none'})",
                    ["key", "version", "ssm type"],
                    [[k, r.version, r.ssm_type] for k, r in sorted(document.keys.items())],
                )
            )
            console.print(f"Activate it with `ml-infra config activate {model} {document.release_id}`.")

        return payload, render

    _run(as_json, body)


def _activation_payload(result: Any) -> dict[str, Any]:
    return asdict(result)


def _render_activation(result: Any) -> Callable[[Any], None]:
    def render(console: Any) -> None:
        if not result.changed:
            console.print(f"Release {result.release_id} of model {result.model} is already active; nothing written.")
            return
        console.print(
            f"{'Rolled back' if result.action == 'rollback' else 'Activated'} model {result.model}: "
            f"{result.previous_release_id or '(none)'} -> {result.release_id} "
            + (f"(pointer version {result.pointer_version}, " if result.pointer_version is not None else "(")
            + f"by {result.activated_by})."
        )

    return render


@app.command()
def activate(
    model: ModelArgument,
    release_id: Annotated[str, typer.Argument(help="The release to make active.")],
    environment: EnvOption,
    reason: ReasonOption = "",
    yes: YesOption = False,
    project: ProjectOption = "ml-infra",
    as_json: JsonOption = False,
) -> None:
    """Make a release active: validated, its versions protected, then one atomic write of the pointer."""

    def body() -> tuple[dict[str, Any], Callable[[Any], None]]:
        manager = _manager(project, environment)
        state = manager.pointer_state(model)
        replace_corrupt = _confirm_pointer(state, yes, f"activate release {release_id}")
        _confirm(
            environment,
            yes,
            f"Activate release {release_id} of model {model} in {environment} "
            f"(active now: {state.release_id or 'none'})?",
        )
        result = manager.activate(model, release_id, reason=reason, replace_corrupt=replace_corrupt)
        return _activation_payload(result), _render_activation(result)

    _run(as_json, body)


def _confirm_pointer(state: Any, yes: bool, what: str) -> bool:
    """With a refused pointer, ask (in every environment) before replacing it; True when replacing is confirmed."""
    if state.problem is None:
        return False
    if yes:
        return True
    cli_console.line(f"The active-release pointer {state.location} is refused: {state.problem}", stderr=True)
    try:
        confirmed = typer.confirm(f"Replace it ({what})?", default=False, err=True)
    except typer.Abort:
        confirmed = False
    if not confirmed:
        raise NotConfirmedError("not confirmed: the refused pointer was left as it is (pass --yes to skip the prompt)")
    return True


@app.command()
def rollback(
    model: ModelArgument,
    environment: EnvOption,
    to: Annotated[
        str | None, typer.Option("--to", help="Release to return to (default: the one active before this one).")
    ] = None,
    reason: ReasonOption = "",
    yes: YesOption = False,
    project: ProjectOption = "ml-infra",
    as_json: JsonOption = False,
) -> None:
    """Return to the previous release (or to --to RELEASE) with one atomic write of the pointer."""

    def body() -> tuple[dict[str, Any], Callable[[Any], None]]:
        manager = _manager(project, environment)
        state = manager.pointer_state(model)
        # A target chosen from the pointer is written only if the pointer has not moved since (even while the
        # operator confirms).
        target, decided_from = (to, None) if to is not None else manager.rollback_plan(model)
        current = state.release_id or ("(refused pointer)" if state.problem else "none")
        replace_corrupt = _confirm_pointer(state, yes, f"roll back to release {target}")
        _confirm(environment, yes, f"Roll back model {model} in {environment} from {current} to {target}?")
        result = manager.rollback(
            model, target, reason=reason, replace_corrupt=replace_corrupt, decided_from=decided_from
        )
        return _activation_payload(result), _render_activation(result)

    _run(as_json, body)


@app.command()
def history(
    model: ModelArgument,
    environment: EnvOption,
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=1, help="Newest N activations only.")] = None,
    project: ProjectOption = "ml-infra",
    as_json: JsonOption = False,
) -> None:
    """Who activated which release, and when (newest first)."""

    def body() -> tuple[dict[str, Any], Callable[[Any], None]]:
        entries = _manager(project, environment).history(model, limit)
        payload = {"model": model, "activations": [asdict(e) for e in entries]}

        def render(console: Any) -> None:
            console.print(
                _table(
                    f"activations of {project}/{environment}/{model} (newest first)",
                    ["#", "when", "release", "action", "by", "previous", "reason"],
                    [
                        [
                            e.pointer_version,
                            e.modified_at,
                            e.release_id,
                            e.action,
                            e.activated_by if not e.modified_by or e.modified_by == "N/A" else e.modified_by,
                            e.previous_release_id,
                            e.reason,
                        ]
                        for e in entries
                    ],
                )
            )

        return payload, render

    _run(as_json, body)


@app.command()
def diff(
    model: ModelArgument,
    environment: EnvOption,
    before: Annotated[str, typer.Argument(help="Release id, 'active' or 'staged'.")] = "active",
    after: Annotated[str, typer.Argument(help="Release id, 'active' or 'staged'.")] = "staged",
    show_all: Annotated[bool, typer.Option("--all", help="List unchanged keys too.")] = False,
    project: ProjectOption = "ml-infra",
    as_json: JsonOption = False,
) -> None:
    """What changes between two releases (default: from the active release to the staged values)."""
    from ml_infra.modelconfig.values import display_text

    def side(state: Any) -> dict[str, Any] | None:
        if state is None:
            return None
        return {"version": state.version, "value": display_text(state.text, state.ssm_type)}

    def body() -> tuple[dict[str, Any], Callable[[Any], None]]:
        entries = _manager(project, environment).diff(model, before, after)
        shown = [e for e in entries if show_all or e.status != "unchanged"]
        payload = {
            "model": model,
            "before": before,
            "after": after,
            "changes": [
                {"key": e.key, "status": e.status, "before": side(e.before), "after": side(e.after)} for e in shown
            ],
        }

        def render(console: Any) -> None:
            if not shown:
                console.print(f"No differences between {before} and {after} of model {model}.")
                return
            rows = []
            for entry in shown:
                old, new = side(entry.before), side(entry.after)
                rows.append(
                    [
                        entry.key,
                        entry.status,
                        f"v{old['version']}: {old['value']}" if old else "",
                        f"v{new['version']}: {new['value']}" if new else "",
                    ]
                )
            console.print(_table(f"{model}: {before} -> {after}", ["key", "change", before, after], rows))

        return payload, render

    _run(as_json, body)


@app.command()
def releases(
    model: ModelArgument,
    environment: EnvOption,
    project: ProjectOption = "ml-infra",
    as_json: JsonOption = False,
) -> None:
    """List the model's releases, oldest first, marking the active one."""

    def body() -> tuple[dict[str, Any], Callable[[Any], None]]:
        manager = _manager(project, environment)
        entries = manager.ledger(model)
        state = manager.pointer_state(model)
        active_id = state.release_id
        payload = {
            "model": model,
            "active_release_id": active_id,
            "pointer_problem": state.problem,
            "releases": [
                {
                    "release_id": e.release_id,
                    "status": "corrupt" if e.problem else "active" if e.release_id == active_id else "ok",
                    "problem": e.problem,
                    "created_at": e.document.created_at if e.document else None,
                    "created_by": e.document.created_by if e.document else None,
                    "parent_release_id": e.document.parent_release_id if e.document else None,
                    "note": e.document.note if e.document else "",
                    "keys": len(e.document.keys) if e.document else None,
                }
                for e in entries
            ],
        }

        def render(console: Any) -> None:
            rows = []
            for entry in payload["releases"]:
                marker = {"active": "*", "corrupt": "!"}.get(entry["status"], "")
                rows.append(
                    [
                        marker,
                        entry["release_id"],
                        entry["created_at"],
                        entry["created_by"],
                        entry["parent_release_id"],
                        f"CORRUPT: {entry['problem']}" if entry["problem"] else entry["note"],
                    ]
                )
            console.print(
                _table(
                    f"releases of {project}/{environment}/{model}",
                    ["", "release", "created", "by", "parent", "note"],
                    rows,
                )
            )
            if state.problem:
                cli_console.line(f"The active-release pointer is refused: {state.problem}", stderr=True)

        return payload, render

    _run(as_json, body)


@app.command()
def retire(
    model: ModelArgument,
    release_ids: Annotated[list[str], typer.Argument(help="Releases that will never be activated again.")],
    environment: EnvOption,
    yes: YesOption = False,
    project: ProjectOption = "ml-infra",
    as_json: JsonOption = False,
) -> None:
    """Retire releases and free the key versions only they reference, so SSM may evict them.

    A retired release is deleted and cannot be activated again; the active release cannot be retired.
    `initial`, which the Pulumi program declares, is re-baselined instead: it is rewritten to name the latest
    version of every key (validated like a new release), which is what the program computes for it from the key
    parameters' current versions, so what is stored agrees with what Pulumi declares after `pulumi refresh`
    (its value is ignore_changes, so `pulumi up` never rewrites it).
    """

    def body() -> tuple[dict[str, Any], Callable[[Any], None]]:
        manager = _manager(project, environment)
        listed = ", ".join(release_ids)
        _confirm(environment, yes, f"Retire release(s) {listed} of model {model} in {environment}?")
        result = manager.retire(model, release_ids)
        payload = {
            "model": model,
            "retired": result.retired,
            "initial_rebaselined": result.rebaselined,
            "freed": [{"key": key, "version": version} for key, version in result.freed],
        }

        def render(console: Any) -> None:
            console.print(f"Retired {listed} of model {model}.")
            if result.rebaselined:
                console.print("Release initial now names the latest version of every key (re-baselined).")
            freed = ", ".join(f"{key} v{version}" for key, version in result.freed) or "none"
            console.print(f"Freed for eviction: {freed}.")

        return payload, render

    _run(as_json, body)


@app.command()
def seed(
    stack: Annotated[str, typer.Option("--stack", help="The Pulumi stack whose models to seed, e.g. dev.")],
    project_dir: Annotated[
        str, typer.Option("--project-dir", help="The Pulumi project directory (where Pulumi.yaml is).")
    ] = ".",
    secret: Annotated[
        list[str] | None,
        typer.Option("--secret", help="A SecureString key whose value to read from a hidden prompt or stdin."),
    ] = None,
    real_account: Annotated[
        str | None,
        typer.Option("--real-account", help="Seed this real AWS account on purpose (its 12-digit id must match)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Local development: write the stack's declared parameters, `_schema` and initial release into SSM exactly
    as `pulumi up` would, for a moto server or LocalStack (AWS_ENDPOINT_URL). Refuses a real AWS account unless
    --real-account names it. SecureStrings get a placeholder unless given with --secret. A model that already
    has parameters is skipped."""
    from pathlib import Path

    def body() -> tuple[dict[str, Any], Callable[[Any], None]]:
        from ml_infra.modelconfig.seed import check_target, seed_stack

        check_target(real_account)  # refuse before asking for any secret
        secrets = {key: _read_secret(key) for key in secret or []}
        result = seed_stack(Path(project_dir), stack, real_account=real_account, secrets=secrets)
        payload = asdict(result)

        def render(console: Any) -> None:
            where = result.endpoint or "the real AWS account named by --real-account"
            for model, names in result.written.items():
                console.print(f"seeded model {model} in {where}: {len(names)} parameters")
            for model, why in result.skipped.items():
                console.print(f"skipped model {model}: {why}")
            for name in result.placeholders:
                console.print(f"{name}: a placeholder value (pass --secret KEY to set the real one)")

        return payload, render

    _run(as_json, body)
