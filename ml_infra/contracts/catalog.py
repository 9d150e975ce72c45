"""The data contracts of the project, read from files: `contracts/*.schema.json` (JSON Schema draft-07) and
`contracts/*.avsc` (Avro), with `contracts/contracts.yaml` giving each file its Glue compatibility mode and a
description.

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

import yaml

CONTRACTS_DIR_NAME = "contracts"
MANIFEST_NAME = "contracts.yaml"
JSON_SCHEMA_SUFFIX = ".schema.json"
AVRO_SUFFIX = ".avsc"
DRAFT7_URIS = ("http://json-schema.org/draft-07/schema#", "http://json-schema.org/draft-07/schema")

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


def contract_name(path: Path) -> str | None:
    """The contract name of a schema file (its name without the suffix), or None if it is not a schema file."""
    for suffix in (JSON_SCHEMA_SUFFIX, AVRO_SUFFIX):
        if path.name.endswith(suffix) and len(path.name) > len(suffix):
            return path.name[: -len(suffix)]
    return None


def _check_json_schema(path: Path, document: Any) -> list[str]:
    from jsonschema import Draft7Validator
    from jsonschema.exceptions import SchemaError

    if not isinstance(document, dict):
        return [f"{path}: a JSON Schema contract must be a JSON object at the top level."]
    declared = document.get("$schema")
    if declared is not None and declared not in DRAFT7_URIS:
        return [
            f"{path}: declares $schema {declared!r}; contracts are JSON Schema draft-07 "
            f"(use {DRAFT7_URIS[0]!r} or leave $schema out)."
        ]
    try:
        Draft7Validator.check_schema(document)
    except SchemaError as err:
        pointer = "/" + "/".join(str(p) for p in err.absolute_path)
        return [f"{path}: not a valid draft-07 JSON Schema at {pointer}: {err.message}."]
    return []


def _check_avro(path: Path, text: str) -> tuple[list[str], Any]:
    import avro.errors
    import avro.schema

    try:
        return [], avro.schema.parse(text)
    except (avro.errors.SchemaParseException, avro.errors.AvroException, json.JSONDecodeError) as err:
        return [f"{path}: not a valid Avro schema: {err}."], None


def load_contract_file(path: Path) -> tuple[DataFormat, str, Any]:
    """Read and check one schema file. Returns (format, the file's text, the parsed JSON document).

    JSON Schema files are checked against the draft-07 meta-schema; Avro files are parsed by the `avro`
    package. Raises ContractError naming the file.
    """
    if contract_name(path) is None:
        raise ContractError([f"{path}: not a contract file; contracts end in {JSON_SCHEMA_SUFFIX} or {AVRO_SUFFIX}."])
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ContractError([f"{path}: cannot be read: {err.strerror}."]) from err
    except UnicodeDecodeError as err:
        raise ContractError([f"{path}: is not UTF-8 text."]) from err
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        raise ContractError([f"{path}: not valid JSON at line {err.lineno}, column {err.colno}: {err.msg}."]) from err

    problems: list[str]
    data_format: DataFormat
    if path.name.endswith(JSON_SCHEMA_SUFFIX):
        data_format = "JSON"
        problems = _check_json_schema(path, document)
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
        raw = yaml.safe_load(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ContractError(
            [f"{manifest_path}: missing; it gives every contract file its compatibility mode and description."]
        ) from err
    except yaml.YAMLError as err:
        raise ContractError([f"{manifest_path}: not valid YAML: {err}."]) from err
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
                )
            )
    if problems:
        raise ContractError(problems)
    return contracts
