"""All terminal output goes through here (Rich)."""

from __future__ import annotations

import logging
import os

from rich.console import Console
from rich.logging import RichHandler

console = Console(highlight=False)
console_err = Console(stderr=True, highlight=False)
for _c in (console, console_err):
    if not _c.is_terminal and "COLUMNS" not in os.environ:
        _c.width = 160  # piped or logged: keep tables whole rather than cut at 80 columns


def setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(
        level=level,
        format="%(message)s",
        handlers=[RichHandler(console=console_err, show_time=False, show_path=False, markup=False)],
    )


_CONTROL = {c: None for c in range(0x20) if c not in (0x09,)} | {0x7F: None} | {c: None for c in range(0x80, 0xA0)}


def plain(value: object) -> str:
    """Text someone else controls (the app's history, logs, file names), made safe to show:
    no control characters, so no escape sequence reaches the terminal. Print it with
    markup=False (or inside rich.text.Text) so that `[bold]` stays literal."""
    return str(value).translate(_CONTROL)
