"""All terminal output goes through here (Rich)."""

from __future__ import annotations

import logging
import os
import re

from rich.console import Console
from rich.logging import RichHandler
from rich.text import Text

console = Console(highlight=False)
console_err = Console(stderr=True, highlight=False)
for _c in (console, console_err):
    if not _c.is_terminal and "COLUMNS" not in os.environ:
        _c.width = 160  # piped or logged: keep tables whole rather than cut at 80 columns


def log_handler() -> logging.Handler:
    return RichHandler(console=console_err, show_time=False, show_path=False, markup=False)


# C0 and C1 controls, DEL, and the invisible format characters that reorder or hide text (bidi
# overrides and isolates, zero-width marks, BOM): nothing in them should reach a terminal from
# text roost does not write itself
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
_UNSAFE_KEEP_LINES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def plain(value: object, *, markup: bool = False, lines: bool = False, limit: int | None = None) -> str:
    """THE sanitizer: text roost did not write (an app's history, file contents, podman's and
    the generator's output, unit text, logs, container names) made safe to show. Every unsafe
    character becomes `?`, so no escape sequence reaches the terminal. `lines`: keep newlines
    (logs, diffs). `markup`: also escape Rich markup, for text placed inside a markup string;
    otherwise print it with markup=False or inside rich.text.Text, so that `[bold]` stays
    literal. `limit`: at most that many characters."""
    text = (_UNSAFE_KEEP_LINES if lines else _UNSAFE).sub("?", str(value))
    if limit is not None:
        text = text[:limit]
    if markup:
        from rich.markup import escape

        text = escape(text)
    return text


def cell(value: object, style: str = "") -> Text:
    """A table cell from text roost did not write: sanitized, never read as markup."""
    return Text(plain(value), style=style)


def print_converged(app: str, notes: list[str]) -> None:
    """An empty plan, as `roost plan` and `roost apply` print it (and their converged fast path)."""
    console.print(f"[bold green]no changes[/]: app {app} is converged")
    for n in notes:
        console.print(f"  [dim]· {n}[/]")
