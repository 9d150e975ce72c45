"""Strict reading of the YAML files users write: `Pulumi.yaml`, `Pulumi.<stack>.yaml` and `contracts/contracts.yaml`.

PyYAML's `safe_load` is lenient where a mistake should be refused, and reads some values as YAML 1.1 does,
which is not how the Pulumi CLI (Go, `gopkg.in/yaml.v3`, YAML 1.2) reads the same file:

- a byte that is not UTF-8 raises a bare UnicodeDecodeError; here it is refused naming the byte offset, line and
  column;
- a key given twice in one mapping silently keeps the second value (a second model or parameter of the same
  name replaces the first); here both lines are named;
- `yes`, `no`, `on`, `off`, `y`, `n` are booleans in YAML 1.1, `1:30` is the integer 90 (base 60), `017` is
  octal and `2026-11-02` a date; in YAML 1.2's core schema, which yaml.v3 follows, they are strings. The loader
  here resolves plain scalars by the YAML 1.2 core schema only (https://yaml.org/spec/1.2.2/#1032-tag-resolution):
  null `null Null NULL ~` or empty; booleans `true True TRUE false False FALSE`; integers `123 0o17 0x1F`;
  floats `1.5 1e3 .inf -.inf .nan`; everything else, and every quoted scalar, a string.

PyYAML has no YAML 1.2 mode and ruamel.yaml is not a dependency; the loader is PyYAML's SafeLoader with its
implicit resolvers replaced (a documented extension point) and a duplicate-key check on the composed node tree,
where each key's line is known. Every problem is collected and reported at once, one line each, in the project's
style `<file>: <key>: <what is wrong>; <what is allowed>`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = ["StrictYamlError", "key_path", "load_strict_yaml", "parse_strict_yaml"]


class StrictYamlError(ValueError):
    """The file is unusable. `problems` has one line per problem, each naming the file and key."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class _Yaml12Loader(yaml.SafeLoader):
    """SafeLoader with the YAML 1.2 core schema's implicit resolvers instead of YAML 1.1's."""


_Yaml12Loader.yaml_implicit_resolvers = {}
# (tag, pattern, the characters a matching scalar can start with; "" is the empty scalar)
_CORE_SCHEMA: list[tuple[str, str, list[str]]] = [
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        list("-+0123456789."),
    ),
]
for _tag, _pattern, _first in _CORE_SCHEMA:
    _Yaml12Loader.add_implicit_resolver(_tag, re.compile(_pattern), _first)
# `<<` merge keys: not YAML 1.2, but yaml.v3 (the Pulumi CLI) applies them, so they keep working here.
_Yaml12Loader.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^(?:<<)$"), ["<"])


def _construct_int(loader: yaml.SafeLoader, node: ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    try:
        if text.startswith("0o"):
            return int(text[2:], 8)
        if text.startswith("0x"):
            return int(text[2:], 16)
        return int(text, 10)  # YAML 1.2: a leading 0 is not octal
    except ValueError:
        raise ConstructorError(None, None, f"{text!r} is not a YAML 1.2 integer", node.start_mark) from None


def _construct_bool(loader: yaml.SafeLoader, node: ScalarNode) -> bool:
    text = str(loader.construct_scalar(node))
    if text in ("true", "True", "TRUE", "false", "False", "FALSE"):
        return text.lower() == "true"
    raise ConstructorError(None, None, f"{text!r} is not a YAML 1.2 boolean (true or false)", node.start_mark)


_Yaml12Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_Yaml12Loader.add_constructor("tag:yaml.org,2002:bool", _construct_bool)


def key_path(parts: list[str]) -> str:
    return ".".join(parts) if parts else "<document>"


def _scalar_key(node: Node) -> str:
    if isinstance(node, ScalarNode):
        return str(node.value)
    return f"<{type(node).__name__} key on line {node.start_mark.line + 1}>"


# YAML aliases share nodes: `&a [*b, *b, ...]` a few levels deep describes billions of values once expanded
# (into JSON config text, or by anything that walks the value), and `&a [*a]` a value that contains itself.
# yaml.v3 refuses "excessive aliasing" too; the limit here is far above any real stack file.
MAX_EXPANDED_VALUES = 100_000


def _check_structure(path: Path, root: Node | None, problems: list[str]) -> None:
    """Duplicate keys (each mapping checked once, however often aliased), self-reference and alias blow-up."""
    checked: set[int] = set()
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def walk(node: Node | None, parts: list[str]) -> int:
        """Visit `node`; returns how many values it expands to."""
        if node is None:
            return 0
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in active:
            raise StrictYamlError([f"{path}: {key_path(parts)}: refers to itself through an alias; a value cannot "
                                   "contain itself"])
        active.add(id(node))
        size = 1
        if isinstance(node, MappingNode):
            seen: dict[str, int] = {}
            for key_node, value_node in node.value:
                key = _scalar_key(key_node)
                line = key_node.start_mark.line + 1
                merge = key == "<<" and isinstance(key_node, ScalarNode) and key_node.tag.endswith(":merge")
                if key in seen and not merge and id(node) not in checked:
                    problems.append(
                        f"{path}: {key_path([*parts, key])}: is given twice, on line {seen[key]} and line {line}; "
                        "each key may appear once in a mapping (the second would silently replace the first)"
                    )
                seen.setdefault(key, line)
                size += walk(value_node, [*parts, key])
        elif isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                size += walk(item, [*parts[:-1], f"{parts[-1]}[{index}]"] if parts else [f"[{index}]"])
        checked.add(id(node))
        active.discard(id(node))
        sizes[id(node)] = size
        if size > MAX_EXPANDED_VALUES:
            raise StrictYamlError([f"{path}: {key_path(parts)}: expands through aliases to more than "
                                   f"{MAX_EXPANDED_VALUES} values; allowed: at most {MAX_EXPANDED_VALUES}"])
        return size

    walk(root, [])


def _decode(path: Path, data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise StrictYamlError(
            [
                f"{path}: byte {err.start} (line {line}, column {column}): 0x{data[err.start]:02x} is not valid "
                f"UTF-8 ({err.reason}); the file must be UTF-8 text"
            ]
        ) from None
    return text.removeprefix("\ufeff")


def parse_strict_yaml(path: Path, data: bytes) -> Any:
    """The YAML document in `data` (the bytes of `path`), read strictly. Raises StrictYamlError."""
    text = _decode(path, data)
    try:
        loader = _Yaml12Loader(text)
        try:
            node = loader.get_single_node()
            problems: list[str] = []
            _check_structure(path, node, problems)
            if problems:
                raise StrictYamlError(problems)
            return loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "somewhere"
        raise StrictYamlError([f"{path}: {where}: is not valid YAML ({err.problem or err.context})"]) from None
    except yaml.YAMLError as err:
        raise StrictYamlError([f"{path}: is not valid YAML ({err})"]) from None
    except RecursionError:
        raise StrictYamlError([f"{path}: nests too deeply to be read; allowed: a few hundred levels"]) from None


def load_strict_yaml(path: Path) -> Any:
    """Read `path` strictly. Raises FileNotFoundError if it does not exist, StrictYamlError if it is unusable."""
    return parse_strict_yaml(path, path.read_bytes())
