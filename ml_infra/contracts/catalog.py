"""The data contracts of the project, read from files: `contracts/*.schema.json` (JSON Schema) and
`contracts/*.avsc` (Avro), with `contracts/contracts.yaml` giving each file its Glue compatibility mode and a
description.

Drafts: a contract in the catalog is registered in Glue, which supports JSON Schema draft-04, -06 and -07, so
those are the drafts the catalog accepts (draft-07 when `$schema` is absent). A plain schema file given to
`ml-infra contracts compat` or `validate` may also declare 2019-09 or 2020-12. Every `$ref` must resolve inside
its own file (contracts resolve only within `contracts/`, and validation never touches the network), and a
schema nested deeper than `MAX_SCHEMA_DEPTH` levels is refused with the pointer where it gets too deep.

Both the Pulumi program (one Glue schema per contract) and the contract tools (compatibility gate, record
validation) read contracts through this module, so a broken file is refused the same way everywhere: every
problem is collected and reported at once, each naming the file, what is wrong and what is allowed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from ml_infra.strict_yaml import StrictYamlError, load_strict_yaml

CONTRACTS_DIR_NAME = "contracts"
MANIFEST_NAME = "contracts.yaml"
JSON_SCHEMA_SUFFIX = ".schema.json"
AVRO_SUFFIX = ".avsc"
DEFAULT_DRAFT = "draft-07"
# $schema URIs (with and without the empty fragment) -> the draft's name.
DRAFT_URIS: dict[str, str] = {
    "http://json-schema.org/draft-04/schema": "draft-04",
    "http://json-schema.org/draft-06/schema": "draft-06",
    "http://json-schema.org/draft-07/schema": "draft-07",
    "https://json-schema.org/draft/2019-09/schema": "2019-09",
    "https://json-schema.org/draft/2020-12/schema": "2020-12",
}
GLUE_DRAFTS = ("draft-04", "draft-06", "draft-07")
ALL_DRAFTS = (*GLUE_DRAFTS, "2019-09", "2020-12")
# Deeper schemas are refused at load: the reference engine (jsonschema-rs) stops at about 254 levels with a
# bare "Recursion limit reached", and no real contract comes near this.
MAX_SCHEMA_DEPTH = 200

Compatibility = Literal["NONE", "DISABLED", "BACKWARD", "BACKWARD_ALL", "FORWARD", "FORWARD_ALL", "FULL", "FULL_ALL"]
DataFormat = Literal["JSON", "AVRO"]
COMPATIBILITY_MODES: tuple[str, ...] = get_args(Compatibility)

# Glue's own limits (CreateSchema): a name of at most 255 characters from this set, a description of at most
# 2048 characters and a definition of at most 170 KB. Checked here so that a contract fails at program start,
# not half-way through a deployment.
GLUE_SCHEMA_NAME = re.compile(r"^[a-zA-Z0-9\-_$#.]{1,255}$")
GLUE_DESCRIPTION_MAX = 2048
GLUE_DEFINITION_MAX_BYTES = 170_000


class ContractError(Exception):
    """One or more contract files are unusable. `problems` has one sentence per problem, each naming the file."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Contract:
    name: str
    path: Path
    data_format: DataFormat
    compatibility: Compatibility
    description: str
    definition: str
    document: Any
    draft: str = ""  # the JSON Schema draft it is judged under ("" for Avro)


def contract_name(path: Path) -> str | None:
    """The contract name of a schema file (its name without the suffix), or None if it is not a schema file."""
    for suffix in (JSON_SCHEMA_SUFFIX, AVRO_SUFFIX):
        if path.name.endswith(suffix) and len(path.name) > len(suffix):
            return path.name[: -len(suffix)]
    return None


def _pointer(path: list[Any]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def json_schema_draft(path: Path, document: Any, *, glue: bool) -> str:
    """The draft `document` is judged under, from its `$schema` (draft-07 when absent). `glue`: only the drafts
    Glue supports are allowed (a catalog contract); otherwise 2019-09 and 2020-12 too (a plain file).
    Raises ContractError naming the file and what is allowed."""
    declared = document.get("$schema") if isinstance(document, dict) else None
    if declared is None:
        return DEFAULT_DRAFT
    draft = DRAFT_URIS.get(str(declared).removesuffix("#")) if isinstance(declared, str) else None
    allowed = GLUE_DRAFTS if glue else ALL_DRAFTS
    if draft is None or draft not in allowed:
        uris = ", ".join(u for u, d in DRAFT_URIS.items() if d in allowed)
        why = ("contracts registered in Glue are JSON Schema draft-04, -06 or -07 (what the Glue Schema "
               "Registry supports)" if glue else "supported drafts are draft-04, -06, -07, 2019-09 and 2020-12")
        raise ContractError([f"{path}: $schema: {declared!r} is not allowed; {why}: use one of {uris}, "
                             "or leave $schema out for draft-07."])
    return draft


def _too_deep_pointer(text: str, limit: int) -> str:
    """The JSON pointer (cut after 8 tokens) of the first container nested deeper than `limit` in JSON text
    that is too deep for the recursive parser: a flat scan over the text, for the error message only."""
    from json.decoder import scanstring  # type: ignore[attr-defined]

    stack: list[list[Any]] = []  # [bracket, current key or index]
    expecting_key = False
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            value, i = scanstring(text, i + 1)
            if stack and stack[-1][0] == "{" and expecting_key:
                stack[-1][1] = value
            continue
        if c in "{[":
            stack.append([c, 0 if c == "[" else ""])
            expecting_key = c == "{"
            if len(stack) > limit:
                tokens = [entry[1] for entry in stack[:-1]]
                return _pointer(tokens[:8]) + f"/... ({len(stack)} levels)"
        elif c in "}]" and stack:
            stack.pop()
        elif c == "," and stack:
            if stack[-1][0] == "[":
                stack[-1][1] += 1
            else:
                expecting_key = True
        elif c == ":":
            expecting_key = False
        i += 1
    return "/"


def _nesting_problem(path: Path, document: Any) -> str | None:
    """The first place where `document` nests deeper than MAX_SCHEMA_DEPTH, as a problem sentence."""
    stack: list[tuple[Any, list[Any]]] = [(document, [])]
    while stack:
        node, where = stack.pop()
        if len(where) > MAX_SCHEMA_DEPTH:
            shown = _pointer(where[:8]) + "/..." + f" ({len(where)} levels)"
            return (f"{path}: {shown}: the schema nests deeper than {MAX_SCHEMA_DEPTH} levels; "
                    f"at most {MAX_SCHEMA_DEPTH} are allowed.")
        if isinstance(node, dict):
            stack.extend((v, [*where, k]) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, [*where, i]) for i, v in enumerate(node))
    return None


def _check_json_schema(path: Path, document: Any, *, glue: bool = True) -> list[str]:
    import jsonschema.validators
    from jsonschema.exceptions import SchemaError

    if not isinstance(document, dict | bool):
        return [f"{path}: a JSON Schema contract must be a JSON object at the top level."]
    if glue and not isinstance(document, dict):
        return [f"{path}: a JSON Schema contract must be a JSON object at the top level."]
    deep = _nesting_problem(path, document)
    if deep:
        return [deep]
    try:
        draft = json_schema_draft(path, document, glue=glue)
    except ContractError as err:
        return err.problems
    meta = {"draft-04": jsonschema.Draft4Validator, "draft-06": jsonschema.Draft6Validator,
            "draft-07": jsonschema.Draft7Validator, "2019-09": jsonschema.Draft201909Validator,
            "2020-12": jsonschema.Draft202012Validator}[draft]
    try:
        # Keywords only: a `pattern` is judged by the engine that runs it (compile_problems), not by Python's re.
        meta.check_schema(document, format_checker=None)
    except SchemaError as err:
        return [f"{path}: {_pointer(list(err.absolute_path)) or '/'}: not a valid {draft} JSON Schema: "
                f"{_short(err.message)}."]
    return compile_problems(path, document, draft)


def compile_problems(path: Path, document: Any, draft: str) -> list[str]:
    """Compile the schema with the validation engine, offline: what it cannot compile (a pattern it does
    not support, a `$ref` to nothing, a remote `$ref` it would have to fetch) is a problem naming the JSON
    pointer. Contracts resolve references only within their own file (by JSON pointer or `$id`) and the
    drafts' meta-schemas, which the engine bundles: validation never touches the network."""
    from ml_infra.contracts.engine import SchemaCompileError, compile_reference

    try:
        compile_reference(document, draft)
    except SchemaCompileError as err:
        return [f"{path}: {err.pointer or '/'}: the schema cannot be compiled: {err.message}."]
    return []


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_avro(path: Path, text: str) -> tuple[list[str], Any]:
    """Parse with the `avro` package (names, types), then check every field default against its type as
    Glue (the Java Avro library) does at registration: `fastavro.parse_schema` checks plain defaults, and
    a union's default must match the union's FIRST branch (Avro specification), which fastavro does not
    check."""
    import avro.errors
    import avro.schema

    try:
        parsed = avro.schema.parse(text)
    except (avro.errors.SchemaParseException, avro.errors.AvroException, json.JSONDecodeError) as err:
        return [f"{path}: not a valid Avro schema: {_short(str(err))}."], None
    except RecursionError:
        return [f"{path}: the Avro schema nests too deeply to parse."], None
    return _avro_default_problems(path, json.loads(text), parsed), parsed


def _avro_default_problems(path: Path, document: Any, parsed: Any) -> list[str]:
    import avro.io
    import avro.schema
    import fastavro

    try:
        fastavro.parse_schema(document)
    except Exception as err:  # fastavro's SchemaParseException and friends: a default that does not fit
        return [f"{path}: a field default does not match its type: {_short(str(err))}; Glue refuses such a "
                "schema at registration."]
    problems: list[str] = []
    seen: set[int] = set()

    def walk(node: Any, where: str) -> None:
        if id(node) in seen:
            return
        seen.add(id(node))
        if isinstance(node, avro.schema.UnionSchema):
            for i, branch in enumerate(node.schemas):
                walk(branch, f"{where}/{i}")
        elif isinstance(node, avro.schema.ArraySchema):
            walk(node.items, f"{where}/items")
        elif isinstance(node, avro.schema.MapSchema):
            walk(node.values, f"{where}/values")
        elif isinstance(node, avro.schema.RecordSchema):
            fields: list[Any] = list(getattr(node, "fields", None) or [])
            for i, f in enumerate(fields):
                at = f"{where}/fields/{i} ({f.name})"
                if isinstance(f.type, avro.schema.UnionSchema) and f.has_default:
                    first = f.type.schemas[0]
                    if not avro.io.validate(first, f.default):
                        problems.append(
                            f"{path}: {at}: default {json.dumps(f.default)[:80]} does not match the first branch "
                            f"of its union ({first.type}); Avro (and Glue) require a union's default to be of its "
                            "first type: put that type first.")
                walk(f.type, f"{at}/type")

    walk(parsed, "")
    return problems


def _unique_keys(pairs: list[tuple[str, Any]], duplicates: list[str]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            duplicates.append(repr(key))
        seen[key] = value
    return seen


def load_contract_file(path: Path, *, glue: bool = True) -> tuple[DataFormat, str, Any]:
    """Read and check one schema file. Returns (format, the file's text, the parsed JSON document).

    JSON Schema files are checked against their draft's meta-schema (`glue`: only the drafts Glue supports,
    as for a catalog contract; otherwise 2019-09 and 2020-12 too); Avro files are parsed by the `avro`
    package and their defaults checked. Raises ContractError naming the file.
    """
    if contract_name(path) is None:
        raise ContractError([f"{path}: not a contract file; contracts end in {JSON_SCHEMA_SUFFIX} or {AVRO_SUFFIX}."])
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ContractError([f"{path}: cannot be read: {err.strerror}."]) from err
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise ContractError(
            [f"{path}: byte {err.start} (line {line}): 0x{data[err.start]:02x} is not valid UTF-8; the file must be "
             "UTF-8 text."]
        ) from None
    duplicates: list[str] = []
    try:
        document = json.loads(text, object_pairs_hook=lambda pairs: _unique_keys(pairs, duplicates))
    except json.JSONDecodeError as err:
        raise ContractError([f"{path}: not valid JSON at line {err.lineno}, column {err.colno}: {err.msg}."]) from err
    except RecursionError as err:
        where = _too_deep_pointer(text, MAX_SCHEMA_DEPTH)
        raise ContractError([f"{path}: {where}: the schema nests deeper than {MAX_SCHEMA_DEPTH} levels; at most "
                             f"{MAX_SCHEMA_DEPTH} are allowed."]) from err

    if duplicates:
        # json.loads keeps the last of two equal keys: a second property of the same name would silently
        # replace the first.
        raise ContractError(
            [f"{path}: {key}: is given twice in one object; each key may appear once." for key in duplicates]
        )

    problems: list[str]
    data_format: DataFormat
    if path.name.endswith(JSON_SCHEMA_SUFFIX):
        data_format = "JSON"
        problems = _check_json_schema(path, document, glue=glue)
    else:
        data_format = "AVRO"
        problems, _ = _check_avro(path, text)
    if len(text.encode("utf-8")) > GLUE_DEFINITION_MAX_BYTES:
        problems.append(f"{path}: is larger than Glue's limit of {GLUE_DEFINITION_MAX_BYTES} bytes.")
    if problems:
        raise ContractError(problems)
    return data_format, text, document


def _schema_description(document: Any) -> str:
    if isinstance(document, dict):
        for key in ("description", "doc", "title"):
            value = document.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
    return ""


def load_manifest(contracts_dir: Path) -> dict[str, dict[str, Any]]:
    manifest_path = contracts_dir / MANIFEST_NAME
    try:
        # Strictly: UTF-8, unique keys (a second entry for a file would silently replace the first), YAML 1.2.
        raw = load_strict_yaml(manifest_path)
    except FileNotFoundError as err:
        raise ContractError(
            [f"{manifest_path}: missing; it gives every contract file its compatibility mode and description."]
        ) from err
    except StrictYamlError as err:
        raise ContractError(err.problems) from None
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        raise ContractError(
            [f"{manifest_path}: must map each contract file name to {{compatibility: ..., description: ...}}."]
        )
    return {str(k): v for k, v in raw.items()}


def load_catalog(contracts_dir: Path) -> list[Contract]:
    """Every contract in `contracts_dir`, checked. Raises ContractError listing every problem at once."""
    if not contracts_dir.is_dir():
        raise ContractError([f"{contracts_dir}: the contracts folder does not exist."])
    manifest_path = contracts_dir / MANIFEST_NAME
    manifest = load_manifest(contracts_dir)
    files = sorted(p for p in contracts_dir.iterdir() if p.is_file() and contract_name(p) is not None)
    problems: list[str] = []
    contracts: list[Contract] = []
    seen_names: dict[str, Path] = {}

    for name in sorted(set(manifest) - {p.name for p in files}):
        problems.append(f"{manifest_path}: lists {name!r}, but there is no such contract file in {contracts_dir}.")

    allowed = ", ".join(COMPATIBILITY_MODES)
    for path in files:
        name = contract_name(path)
        assert name is not None
        if name in seen_names:
            problems.append(f"{path}: contract name {name!r} is also used by {seen_names[name].name}.")
            continue
        seen_names[name] = path
        if not GLUE_SCHEMA_NAME.match(name):
            problems.append(
                f"{path}: contract name {name!r} is not a valid Glue schema name "
                "(1-255 characters: letters, digits, '-', '_', '$', '#', '.')."
            )
        entry = manifest.get(path.name)
        if entry is None:
            problems.append(f"{manifest_path}: has no entry for {path.name}; add its compatibility and description.")
            continue
        unknown = sorted(set(entry) - {"compatibility", "description"})
        if unknown:
            problems.append(
                f"{manifest_path}: entry {path.name} has unknown keys {unknown}; allowed: compatibility, description."
            )
        compatibility = entry.get("compatibility")
        if compatibility not in COMPATIBILITY_MODES:
            problems.append(
                f"{manifest_path}: entry {path.name} has compatibility {compatibility!r}; allowed: {allowed}."
            )
        try:
            data_format, text, document = load_contract_file(path)
        except ContractError as err:
            problems.extend(err.problems)
            continue
        description = str(entry.get("description") or _schema_description(document))
        if len(description) > GLUE_DESCRIPTION_MAX:
            problems.append(f"{path}: description is longer than Glue's {GLUE_DESCRIPTION_MAX} characters.")
        if compatibility in COMPATIBILITY_MODES:
            contracts.append(
                Contract(
                    name=name,
                    path=path,
                    data_format=data_format,
                    compatibility=compatibility,
                    description=description,
                    definition=text,
                    document=document,
                    draft=json_schema_draft(path, document, glue=True) if data_format == "JSON" else "",
                )
            )
    if problems:
        raise ContractError(problems)
    return contracts
