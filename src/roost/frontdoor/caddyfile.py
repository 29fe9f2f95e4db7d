"""A small Caddyfile writer: every value that reaches a site file passes through `word`, which
writes it as a bare or double-quoted token that means exactly itself, or refuses it."""

from __future__ import annotations

import re
from dataclasses import dataclass

BARE_RE = re.compile(r"^[A-Za-z0-9._:/@%=+,*\[\]-]+\Z")


@dataclass(frozen=True)
class Raw:
    """A token roost writes on purpose as it is (a placeholder such as {remote_host})."""

    text: str


def word(value: str | Raw) -> str:
    if isinstance(value, Raw):
        return value.text
    if not value:
        raise ValueError("an empty token cannot be written into a Caddyfile")
    for ch in value:
        if ord(ch) < 0x20 or ord(ch) == 0x7F:
            raise ValueError(f"{value!r} contains the control character {ch!r}")
    bad = [ch for ch in "{}\\`" if ch in value]
    if bad:  # placeholders and the lexer's escapes: a value would stop meaning itself
        raise ValueError(f"{value!r} contains {bad[0]!r}, which a Caddyfile would not keep literally")
    if BARE_RE.match(value):
        return value
    return '"' + value.replace('"', '\\"') + '"'


@dataclass(frozen=True)
class Directive:
    name: str
    args: tuple[str | Raw, ...] = ()
    body: tuple[Directive, ...] | None = None  # None: no block

    def render(self, depth: int) -> list[str]:
        pad = "\t" * depth
        head = " ".join([self.name, *(word(a) for a in self.args)])
        if self.body is None:
            return [pad + head]
        lines = [f"{pad}{head} {{"]
        for child in self.body:
            lines += child.render(depth + 1)
        return [*lines, pad + "}"]


def d(name: str, *args: str | Raw, body: list[Directive] | None = None) -> Directive:
    return Directive(name, tuple(args), None if body is None else tuple(body))


def site(addresses: list[str], body: list[Directive], comment: list[str]) -> str:
    """One site block, preceded by comment lines (each must be a single line)."""
    out = [f"# {line}" for line in comment]
    out.append(", ".join(word(a) for a in addresses) + " {")
    for child in body:
        out += child.render(1)
    out.append("}")
    return "\n".join(out) + "\n"
