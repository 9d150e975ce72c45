"""Checks a response of the fake against the Azure App Configuration REST spec (swagger 2.0, API 2024-09-01).

The spec is read from `../shared/specs/azure-appconfiguration-2024-09-01.json` beside the repository (reference
data, never copied into it). For every response the fake renders, `SpecValidator.check`:

- finds the operation by method and path template, and refuses a status the operation does not declare unless
  the spec's `default` response covers it (errors);
- requires the Content-Type to be one the operation `produces`;
- validates the JSON body with `jsonschema` against the declared schema, made *closed*: every object schema that
  does not say otherwise gets `additionalProperties: false`, so the fake cannot emit a field the 2024-09-01 API
  does not have (swagger leaves objects open, which would let anything through);
- checks every declared response header the fake sets against its declared type and format.

Hand-written glue only: the schema work is `jsonschema`'s (Draft 4, the dialect swagger 2.0 schemas use), with its
format checker for `date-time` and `uri`.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

SPEC_NAME = "azure-appconfiguration-2024-09-01.json"
SPEC_PATH = Path(__file__).resolve().parents[2].parent / "shared" / "specs" / SPEC_NAME
API_VERSION = "2024-09-01"


class SpecViolation(AssertionError):
    """A response of the fake that the REST spec does not allow."""


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    template: str
    pattern: re.Pattern[str]
    responses: dict[str, Any]
    produces: tuple[str, ...]


def _closed(schema: Any) -> Any:
    """A copy of `schema` where objects with declared properties allow no other property."""
    if isinstance(schema, dict):
        out = {k: _closed(v) for k, v in schema.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_closed(v) for v in schema]
    return schema


@functools.cache
def load_spec(path: str = str(SPEC_PATH)) -> dict[str, Any]:
    spec_file = Path(path)
    if not spec_file.is_file():
        raise FileNotFoundError(
            f"{spec_file}: the App Configuration REST spec is missing; it is shared reference data expected at "
            "../shared/specs/ beside the repository"
        )
    return json.loads(spec_file.read_text(encoding="utf-8"))


class SpecValidator:
    def __init__(self, spec: dict[str, Any] | None = None):
        self.spec = spec if spec is not None else load_spec()
        if self.spec["info"]["version"] != API_VERSION:
            raise ValueError(f"expected the {API_VERSION} spec, got {self.spec['info']['version']}")
        self.definitions = _closed(copy.deepcopy(self.spec["definitions"]))
        self.operations: list[Operation] = []
        for template, item in self.spec["paths"].items():
            pattern = re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$")
            for method, op in item.items():
                if method == "parameters":
                    continue
                produces = tuple(op.get("produces") or self.spec.get("produces") or ())
                self.operations.append(
                    Operation(op["operationId"], method.upper(), template, pattern, op["responses"], produces)
                )
        self.checked = 0

    def operation(self, method: str, path: str) -> Operation:
        for op in self.operations:
            if op.method == method and op.pattern.match(path):
                return op
        raise SpecViolation(f"{method} {path}: no operation of the spec has this method and path")

    def _validate(self, schema: Any, instance: Any, where: str) -> None:
        schema = _closed(schema)
        root = {**schema, "definitions": self.definitions}
        validator = jsonschema.Draft4Validator(root, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
        if errors:
            listed = "; ".join(f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}" for e in errors[:5])
            raise SpecViolation(f"{where}: {listed}")

    def check(self, method: str, path: str, status: int, headers: dict[str, str], body: bytes) -> str:
        """Raise SpecViolation unless the response is one the spec allows; returns the operation id."""
        op = self.operation(method, path)
        where = f"{op.operation_id} {method} {path} -> {status}"
        declared = op.responses.get(str(status))
        if declared is None:
            if status < 400 and status != 304:
                raise SpecViolation(f"{where}: status {status} is not declared by the operation")
            declared = op.responses.get("default")
            if declared is None:
                raise SpecViolation(f"{where}: status {status} is not declared and there is no default response")
        lowered = {k.lower(): v for k, v in headers.items()}
        if body:
            content_type = lowered.get("content-type", "").split(";")[0].strip()
            if op.produces and content_type not in op.produces:
                raise SpecViolation(f"{where}: Content-Type {content_type!r} is not one of {list(op.produces)}")
            if "schema" not in declared:
                raise SpecViolation(f"{where}: a body where the spec declares none")
            try:
                document = json.loads(body)
            except ValueError as err:
                raise SpecViolation(f"{where}: the body is not JSON ({err})") from None
            self._validate(declared["schema"], document, where)
        for name, header in (declared.get("headers") or {}).items():
            value = lowered.get(name.lower())
            if value is None:
                continue
            header_schema = {k: v for k, v in header.items() if k in ("type", "format", "enum")}
            self._validate(header_schema, value, f"{where}: header {name}")
        self.checked += 1
        return op.operation_id
