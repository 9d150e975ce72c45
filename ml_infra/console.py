"""The one place the `ml-infra` command line prints through, so that user text is always printed literally.

Rich parses `[...]` in every string it prints as console markup: `[/]` in a tag, a pattern, a path or a stack name
then crashes the command (`MarkupError`), and other bracketed text is silently eaten (`^[a-z]+$` printed as
`^+$`, `[bold]dev` printed as `dev`). Rich also replaces `:name:` emoji codes and colours numbers and paths.

So the consoles here have markup, emoji codes and highlighting switched OFF: any `str` given to them is printed
exactly as it is. Style comes only from `rich.text.Text` objects built with `styled(...)` (the text of a Text is
never parsed), and a caller that really has to compose markup escapes every piece of user text with `escape`.
Commands print with these helpers, never with `print`, `typer.echo` or a `Console()` of their own:

- `out()` / `err()`: the stdout / stderr consoles (tables, lines);
- `error(message)`: one `error: <message>` line on stderr, the message literal;
- `line(text)`: one literal line on stdout, never wrapped;
- `json_document(obj)`: a JSON document on stdout, for `--json`.

Consoles are created per call: Rich resolves `sys.stdout` when it writes, but the width is read from the
terminal, and tests (typer's `CliRunner`) swap the streams between commands.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape as _rich_escape
from rich.text import Text

__all__ = ["err", "error", "escape", "json_document", "line", "literal", "out", "styled"]

# Tables of contract findings and config values are wide; below this width Rich would fold every cell.
MIN_TABLE_WIDTH = 140


def _console(*, stderr: bool, width: int | None) -> Console:
    return Console(stderr=stderr, markup=False, emoji=False, highlight=False, width=width)


def out(*, wide: bool = False) -> Console:
    """The stdout console. `wide=True` makes it at least MIN_TABLE_WIDTH columns, for tables."""
    width = max(Console().width, MIN_TABLE_WIDTH) if wide else None
    return _console(stderr=False, width=width)


def err() -> Console:
    """The stderr console."""
    return _console(stderr=True, width=None)


def escape(text: object) -> str:
    """`text` with every `[` that could open a markup tag escaped, for the rare string composed as markup."""
    return _rich_escape(str(text))


def literal(text: object) -> Text:
    """`text` as a Rich Text that is printed exactly as it is, wherever it goes (a table cell, a title)."""
    return Text("" if text is None else str(text))


def styled(text: object, style: str) -> Text:
    """`text` printed literally in `style` (e.g. "bold red"): style without markup parsing."""
    return Text("" if text is None else str(text), style=style)


def error(message: object, *, prefix: str = "error: ") -> None:
    """One problem on stderr: a red `error:` and the message, literally, never wrapped mid-line."""
    text = Text.assemble(styled(prefix, "bold red"), literal(message)) if prefix else literal(message)
    err().print(text, soft_wrap=True)


def line(text: object = "", *, stderr: bool = False) -> None:
    """One line of plain text, printed literally and never wrapped (it may contain newlines)."""
    console = err() if stderr else out()
    console.print(literal(text), soft_wrap=True)


def json_document(document: Any, *, indent: int | None = 2, **dumps: Any) -> None:
    """A JSON document on stdout, as `json.dumps` writes it (no styling, no wrapping)."""
    out().out(json.dumps(document, indent=indent, **dumps), highlight=False)
