"""`ml-infra contracts ...`: the compatibility gate (check, compat, publish) and record validation (validate).

Exit codes: 0 ok, 1 a finding (a breaking change, a rejected record, a version Glue left in FAILURE), 2
unusable input (a broken contract file, an unknown git ref, a missing registry). Human output is rich tables;
`--json` prints one JSON object on stdout for machines. Heavy modules (boto3, the engines) load lazily.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ml_infra import console as cli_console
from ml_infra.console import literal, styled

app = typer.Typer(
    name="contracts",
    help="Data contracts: compatibility gate before deploy, and record validation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

MODES = ("NONE", "DISABLED", "BACKWARD", "BACKWARD_ALL", "FORWARD", "FORWARD_ALL", "FULL", "FULL_ALL")

ContractsDir = Annotated[
    Path, typer.Option("--contracts-dir", help="Folder of contract files and contracts.yaml.", file_okay=False)
]
AsJson = Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")]


def _out() -> Console:
    # Markup off (ml_infra.console): contract names, paths and messages are user text, printed literally.
    return cli_console.out(wide=True)


def _fail(problems: list[str], as_json: bool) -> typer.Exit:
    """Unusable input: say what is wrong on stderr (and as JSON when asked), exit 2."""
    if as_json:
        cli_console.json_document({"ok": False, "error": "unusable input", "problems": problems}, indent=None)
    for p in problems:
        cli_console.error(p)
    return typer.Exit(2)


def _render_reports(reports: list[Any], title: str) -> None:
    console = _out()
    table = Table(title=title, title_justify="left")
    for col in ("contract", "format", "mode", "verdict", "note"):
        table.add_column(col)
    styles = {"breaking": "bold red", "compatible": "green", "new": "cyan", "unchanged": "dim", "skipped": "yellow",
              "deleted": "yellow"}
    for r in reports:
        table.add_row(r.contract, r.data_format, r.mode, styled(r.status, styles[r.status]), r.note)
    console.print(table)
    for r in reports:
        breaking = [(f, c) for f in r.findings for c in f.breaking]
        if not breaking:
            continue
        detail = Table(title=f"{r.contract}: breaking changes ({r.mode})", title_justify="left", show_lines=True)
        for col in ("against", "change", "at", "what it means", "who it breaks"):
            detail.add_column(col, overflow="fold")
        for f, c in breaking:
            detail.add_row(f.against, c.kind, c.location, c.message, f.impact)
        console.print(detail)


def _gate_exit(reports: list[Any], as_json: bool, extra: dict[str, Any] | None = None) -> typer.Exit:
    from ml_infra.contracts.report import verdict

    code = verdict(reports)
    if as_json:
        cli_console.json_document({"ok": code == 0, **(extra or {}), "contracts": [r.to_json() for r in reports]},
                                  default=str)
    return typer.Exit(code)


@app.command()
def check(
    against: Annotated[
        str | None,
        typer.Option("--against", help="Git ref holding the earlier versions (default: merge base with main)."),
    ] = None,
    against_registry: Annotated[
        str | None, typer.Option("--against-registry", help="Compare with the versions in this Glue registry.")
    ] = None,
    contracts_dir: ContractsDir = Path("contracts"),
    allow_delete: Annotated[
        list[str] | None,
        typer.Option("--allow-delete", help="Accept that this contract was deleted or renamed (repeatable)."),
    ] = None,
    allow_mode_change: Annotated[
        list[str] | None,
        typer.Option("--allow-mode-change", help="Accept that this contract's mode was relaxed (repeatable)."),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Compare every contract with its earlier versions under its own Glue compatibility mode.

    Against git, contracts deleted (or renamed: a deletion plus a new contract) since the earlier version are
    breaking unless allowed with --allow-delete; a contract whose mode changed is judged under the old and the
    new mode, and a relaxed mode is breaking unless allowed with --allow-mode-change."""
    from ml_infra.contracts.catalog import ContractError, contract_name, load_catalog
    from ml_infra.contracts.compat import IncomparableSchemas, check_mode_change, deleted_report
    from ml_infra.contracts.compat import check as check_versions

    if against is not None and against_registry is not None:
        raise _fail(["give either --against GIT_REF or --against-registry NAME, not both."], as_json)
    try:
        contracts = load_catalog(contracts_dir)
    except ContractError as err:
        raise _fail(err.problems, as_json) from None
    reports = []
    try:
        if against_registry is not None:
            from ml_infra.contracts.registry import RegistryError, check_against_registry, glue_client

            try:
                client = glue_client()
                reports = [check_against_registry(client, against_registry, c) for c in contracts]
            except RegistryError as err:
                raise _fail([str(err)], as_json) from None
            source = f"Glue registry {against_registry}"
        else:
            from ml_infra.contracts import history

            try:
                repo = history.repo_root(contracts_dir)
                if against is None:
                    ref, label = history.default_ref(repo)
                else:
                    ref, label = history.resolve_ref(repo, against), against
                before = history.contracts_at(repo, ref, contracts_dir)
                for c in contracts:
                    old_mode = before.get(c.path.name)
                    every = c.compatibility.endswith("_ALL") or (old_mode or "").endswith("_ALL")
                    versions = history.versions(repo, ref, label, c.path, every)
                    if old_mode is not None and old_mode != c.compatibility and versions:
                        reports.append(check_mode_change(c.name, c.data_format, old_mode, c.compatibility,
                                                         c.definition, versions,
                                                         allow_relax=c.name in (allow_mode_change or [])))
                    else:
                        reports.append(check_versions(c.name, c.data_format, c.compatibility, c.definition,
                                                      versions))
                current = {c.path.name for c in contracts}
                for file_name, old_mode in sorted(before.items()):
                    if file_name not in current:
                        name = contract_name(Path(file_name)) or file_name
                        reports.append(deleted_report(name, f"{label}:{file_name}", old_mode,
                                                      name in (allow_delete or [])))
            except history.GitHistoryError as err:
                raise _fail([str(err)], as_json) from None
            source = f"git {label}"
    except IncomparableSchemas as err:
        raise _fail([f"an earlier version cannot be compared: {err}"], as_json) from None
    if not as_json:
        _render_reports(reports, f"Contract compatibility against {source}")
    raise _gate_exit(reports, as_json, {"against": source})


@app.command()
def compat(
    old: Annotated[Path, typer.Argument(help="The earlier schema file (.schema.json or .avsc).")],
    new: Annotated[Path, typer.Argument(help="The new schema file.")],
    mode: Annotated[str, typer.Option("--mode", help=f"One of {', '.join(MODES)}.")] = "BACKWARD",
    as_json: AsJson = False,
) -> None:
    """Compare two schema files directly: exit 0 when compatible under MODE, 1 when not."""
    from ml_infra.contracts.catalog import ContractError, contract_name, json_schema_draft, load_contract_file
    from ml_infra.contracts.compat import IncomparableSchemas, Version
    from ml_infra.contracts.compat import check as check_versions

    mode = mode.upper()
    if mode not in MODES:
        raise _fail([f"--mode {mode!r} is not a compatibility mode; allowed: {', '.join(MODES)}."], as_json)
    try:
        old_format, old_text, old_doc = load_contract_file(old, glue=False)
        new_format, new_text, new_doc = load_contract_file(new, glue=False)
        drafts = ({str(p): json_schema_draft(p, d, glue=False) for p, d in ((old, old_doc), (new, new_doc))}
                  if old_format == "JSON" and new_format == "JSON" else {})
    except ContractError as err:
        raise _fail(err.problems, as_json) from None
    if old_format != new_format:
        raise _fail([f"{old} is {old_format} and {new} is {new_format}: both must be of one format."], as_json)
    try:
        report = check_versions(contract_name(new) or new.name, new_format, mode, new_text,
                                [Version(str(old), old_text)])
    except IncomparableSchemas as err:
        raise _fail([str(err)], as_json) from None
    if not as_json:
        for path, draft in drafts.items():
            cli_console.line(f"{path}: judged as JSON Schema {draft}")
        _render_reports([report], f"{old} -> {new}")
    raise _gate_exit([report], as_json, {"drafts": drafts} if drafts else None)


@app.command()
def publish(
    registry: Annotated[str, typer.Option("--registry", help="Glue registry name.")],
    contract: Annotated[
        list[str] | None, typer.Option("--contract", help="Only this contract (repeatable); default: all.")
    ] = None,
    contracts_dir: ContractsDir = Path("contracts"),
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for Glue's status.")] = 60.0,
    as_json: AsJson = False,
) -> None:
    """Register new contract versions in Glue, each only after it passes the check; then verify Glue made it
    AVAILABLE (not FAILURE)."""
    from ml_infra.contracts.catalog import ContractError, load_catalog
    from ml_infra.contracts.compat import IncomparableSchemas
    from ml_infra.contracts.registry import RegistryError, glue_client
    from ml_infra.contracts.registry import publish as publish_one

    try:
        contracts = load_catalog(contracts_dir)
    except ContractError as err:
        raise _fail(err.problems, as_json) from None
    if contract:
        unknown = sorted(set(contract) - {c.name for c in contracts})
        if unknown:
            raise _fail([f"{contracts_dir}: no contract named {u!r}." for u in unknown], as_json)
        contracts = [c for c in contracts if c.name in contract]
    try:
        client = glue_client()
        results = [publish_one(client, registry, c, timeout_s=timeout) for c in contracts]
    except (RegistryError, IncomparableSchemas) as err:
        raise _fail([str(err)], as_json) from None
    code = 0 if all(r.ok for r in results) else 1
    if as_json:
        cli_console.json_document({"ok": code == 0, "registry": registry, "results": [r.to_json() for r in results]},
                                  default=str)
    else:
        _render_reports([r.report for r in results], f"Check against Glue registry {registry}")
        table = Table(title=f"Publish to {registry}", title_justify="left")
        for col in ("contract", "action", "version", "status", "message"):
            table.add_column(col)
        for r in results:
            style = "green" if r.ok else "bold red"
            table.add_row(r.contract, styled(r.action, style), str(r.version or ""), r.status, r.message)
        _out().print(table)
    raise typer.Exit(code)


@app.command()
def validate(
    contract: Annotated[str, typer.Argument(help="A contract's name, or a schema file's path.")],
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="JSON lines (or an Avro container file).")],
    valid: Annotated[Path | None, typer.Option("--valid", help="Write valid records here (a new folder with "
                                                "--engine spark).")] = None,
    rejected: Annotated[
        Path | None, typer.Option("--rejected", help="Write rejected records here, as JSON lines with reasons (a "
                                  "new folder with --engine spark).")
    ] = None,
    contracts_dir: ContractsDir = Path("contracts"),
    as_json: AsJson = False,
    engine: Annotated[
        str, typer.Option("--engine", help="python: one process, streaming; spark: INPUT may be a folder or a "
                          "glob of JSON lines, --valid and --rejected are new folders.")
    ] = "python",
    master: Annotated[str, typer.Option("--master", help="Spark master URL, with --engine spark.")] = "local[*]",
) -> None:
    """Validate records against a contract, streaming. Exit 0 when all are valid, 1 when any is rejected, 2 when
    the contract or the input is unusable (outputs that overlap the input or each other are refused before
    anything is written; a damaged Avro file stops with the byte offset, after writing what came before)."""
    from ml_infra.contracts.catalog import ContractError
    from ml_infra.contracts.validate import AvroDamage, validate_stream, validator_for_contract

    if engine not in ("python", "spark"):
        raise _fail([f"--engine {engine!r} is not an engine; allowed: python, spark."], as_json)
    if engine == "spark":
        summary = _validate_on_spark(contract, input_path, valid, rejected, contracts_dir, master, as_json)
        raise _render_validation(summary, valid, rejected, as_json, engine)
    try:
        validator = validator_for_contract(contract, contracts_dir)
    except ContractError as err:
        raise _fail(err.problems, as_json) from None
    if not input_path.is_file():
        raise _fail([f"{input_path}: no such input file."], as_json)
    overlap = overlapping_paths(input_path, valid, rejected)
    if overlap:
        raise _fail(overlap, as_json)
    try:
        with _open_or_none(valid) as valid_out, _open_or_none(rejected) as rejected_out:
            summary = validate_stream(validator, input_path, valid_out, rejected_out)
    except ContractError as err:
        raise _fail(err.problems, as_json) from None
    except AvroDamage as damage:
        s = damage.summary
        written = ", ".join(f"{what} to {path}" for what, path in (("valid records", valid),
                                                                    ("rejected records", rejected)) if path)
        raise _fail([f"{damage.path}: byte {damage.offset}: {damage.what}; {s.read} records were read before it "
                     f"({s.valid} valid, {s.rejected} rejected)" + (f" and written ({written})" if written else "")
                     + "; nothing from this byte on was read. Repair or re-export the file."], as_json) from None
    except OSError as err:
        raise _fail([f"{err.filename}: {err.strerror}; the outputs hold what was written before this error."],
                    as_json) from None
    raise _render_validation(summary, valid, rejected, as_json, engine)


def _render_validation(summary: Any, valid: Path | None, rejected: Path | None, as_json: bool,
                       engine: str) -> typer.Exit:
    """The summary of `validate`, the same whichever engine ran: exit 0 all valid, 1 any rejected."""
    code = 0 if summary.rejected == 0 else 1
    if as_json:
        cli_console.json_document({"ok": code == 0, **summary.to_json(), "engine": engine,
                                   "valid_output": str(valid) if valid else None,
                                   "rejected_output": str(rejected) if rejected else None})
        return typer.Exit(code)
    console = _out()
    judged = f" (JSON Schema {summary.draft})" if summary.draft else " (Avro)"
    table = Table(title=literal(f"{summary.input} against {summary.contract}{judged}"), title_justify="left")
    for col in ("read", "valid", "rejected"):
        table.add_column(col, justify="right")
    rejected_style = "red" if summary.rejected else "green"
    table.add_row(str(summary.read), str(summary.valid), styled(summary.rejected, rejected_style))
    console.print(table)
    if summary.reasons:
        reasons = Table(title="Most frequent reasons", title_justify="left")
        for col in ("pointer", "keyword", "records"):
            reasons.add_column(col)
        for (pointer, keyword), n in summary.reasons.most_common(10):
            reasons.add_row(pointer or "/", keyword, str(n))
        console.print(reasons)
        first = Table(title="First rejected records", title_justify="left")
        for col in ("line", "pointer", "keyword", "message"):
            first.add_column(col, overflow="fold")

        def where(rej: Any) -> str:  # the Spark engine reads many files: file:line
            file = getattr(rej, "file", "")
            return f"{file}:{rej.line}" if file else str(rej.line)

        for rej in summary.first_rejections[:10]:
            for reason in rej.reasons[:5]:
                first.add_row(where(rej), reason.pointer or "/", reason.keyword, reason.message)
        console.print(first)
    if rejected is None and summary.rejected:
        console.print(styled("Pass --rejected FILE to keep every rejected record with its reasons.", "dim"))
    return typer.Exit(code)


def _validate_on_spark(contract: str, input_path: Path, valid: Path | None, rejected: Path | None,
                       contracts_dir: Path, master: str, as_json: bool) -> Any:
    """`validate --engine spark`: the same contract resolution and summary, records judged in Spark tasks."""
    from ml_infra.contracts.catalog import ContractError

    try:
        import pyspark  # noqa: F401  (present only with the `spark` extra)

        from ml_infra.contracts import spark as on_spark
    except ImportError:
        raise _fail(["--engine spark needs PySpark: pip install 'ml-infra[spark]'."], as_json) from None
    try:
        spec = on_spark.contract_from_catalog(contract, contracts_dir)
    except ContractError as err:
        raise _fail(err.problems, as_json) from None
    try:
        session = on_spark.local_session(master)
    except Exception as err:  # Spark reports a missing Java or a bad master as assorted errors
        raise _fail([f"--master {master}: cannot start Spark: {str(err).strip()[:300]}"], as_json) from None
    try:
        run = on_spark.validate_files(session, spec, str(input_path), str(valid) if valid else None,
                                      str(rejected) if rejected else None)
    except ContractError as err:
        raise _fail(err.problems, as_json) from None
    except on_spark.SparkValidationError as err:
        raise _fail([str(err)], as_json) from None
    return run.summary


def _identity(path: Path) -> tuple[str, tuple[int, int] | None]:
    """A path's real location (symbolic links followed) and, when it exists, its (device, inode): two names
    of one file (a hard link) share the inode."""
    real = path.resolve()
    try:
        st = real.stat()
        return str(real), (st.st_dev, st.st_ino)
    except OSError:
        return str(real), None


def overlapping_paths(input_path: Path, *outputs: Path | None) -> list[str]:
    """Problems when an output is the input, or both outputs are one file: by path, through symbolic links,
    and as hard links. Checked before anything is opened for writing."""
    named = [("the input", input_path)] + [(f"output {p}", p) for p in outputs if p is not None]
    seen: list[tuple[str, Path, tuple[str, tuple[int, int] | None]]] = []
    problems = []
    for label, path in named:
        ident = _identity(path)
        for other_label, other, other_ident in seen:
            if ident[0] == other_ident[0] or (ident[1] is not None and ident[1] == other_ident[1]):
                problems.append(f"{path}: is the same file as {other_label} ({other}); nothing was written: give "
                                "each output its own new path, never the input.")
                break
        seen.append((label, path, ident))
    return problems


class _open_or_none:
    def __init__(self, path: Path | None):
        self.path = path
        self.handle: Any = None

    def __enter__(self) -> Any:
        if self.path is not None:
            self.handle = self.path.open("wb")
        return self.handle

    def __exit__(self, *exc: object) -> None:
        if self.handle is not None:
            self.handle.close()


def main() -> None:  # pragma: no cover - `python -m ml_infra.contracts.cli`
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
