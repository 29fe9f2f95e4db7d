"""Read a spec file: TOML -> Spec, with every problem located by file, key path and line."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from roost.errors import Problem, SpecError
from roost.spec.beside import read_spec
from roost.spec.model import Spec, cross_check

# one key: a basic string (with escapes such as \" or \u000a), a literal string, or a bare key
_PART = r'(?:"(?:[^"\\]|\\.)*"|\'[^\']*\'|[A-Za-z0-9_-]+)'
_DOTTED = rf"{_PART}(?:\s*\.\s*{_PART})*"
_HEADER = re.compile(rf"^\s*\[\[?\s*({_DOTTED})\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(rf"^\s*({_DOTTED})\s*=")
_INLINE_KEY = re.compile(rf"(?:[{{,]\s*)({_PART})\s*=")


def _split_key(text: str) -> tuple[str, ...]:
    parts = []
    for part in re.findall(_PART, text):
        if part.startswith('"'):
            try:  # the key as the TOML parser reads it, escapes resolved
                part = tomllib.loads(f"k = {part}")["k"]
            except tomllib.TOMLDecodeError:
                part = part[1:-1]
        elif part.startswith("'"):
            part = part[1:-1]
        parts.append(part)
    return tuple(parts)


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Map each key path in a TOML text to the line it is written on (best effort, no full parse)."""
    lines: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    for number, line in enumerate(text.split("\n"), start=1):  # TOML's lines; splitlines() also breaks at U+2028, U+0085...
        if m := _HEADER.match(line):
            table = _split_key(m.group(1))
            lines.setdefault(table, number)
            continue
        if m := _KEY.match(line):
            path = table + _split_key(m.group(1))
            lines.setdefault(path, number)
            rest = line[m.end():]
            for inner in _INLINE_KEY.finditer(rest):  # one level of inline tables: env = { A = "x" }
                lines.setdefault(path + _split_key(inner.group(1)), number)
    return lines


def locate(lines: dict[tuple[str, ...], int], loc: tuple[str, ...]) -> int | None:
    for end in range(len(loc), 0, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def load_spec(path: str | Path) -> Spec:
    return load_spec_text(path)[0]


def load_spec_text(path: str | Path) -> tuple[Spec, str]:
    """The spec and the text it was parsed from (read once, through spec/beside.py)."""
    path = Path(path)
    try:
        text = read_spec(path).text
    except FileNotFoundError:
        raise SpecError(str(path), [Problem("", "no such file")],
                        hint="give the path of a spec file, e.g. examples/hedgedoc.toml") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as e:
        raise SpecError(str(path), [Problem("", f"cannot read it: {e}")]) from None
    return parse_spec(text, str(path)), text


def parse_spec(text: str, source: str = "<spec>") -> Spec:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"line (\d+)", str(e))
        raise SpecError(source, [Problem("(toml)", f"not valid TOML: {e}", int(m.group(1)) if m else None)]) from None
    lines = key_lines(text)
    try:
        spec = Spec.model_validate(data)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            loc = tuple(str(p) for p in err["loc"])
            # pydantic puts the failing validator's name in loc for unions; drop what is not a key
            # and "[key]", which marks an error in a table's key (its name) rather than its value
            keys = tuple(p for p in loc if not p.startswith("function-") and p not in ("str", "int", "bool", "[key]"))
            problems.append(Problem(".".join(keys) or "(top level)", _message(err), locate(lines, keys)))
        raise SpecError(source, problems) from None
    found = cross_check(spec)
    if found:
        raise SpecError(source, [Problem(".".join(loc), msg, locate(lines, loc)) for loc, msg in found])
    return spec


def _message(err: ErrorDetails) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return "unknown key (check its spelling against docs/spec.md)"
    if kind == "missing":
        return "required key is missing"
    msg = err["msg"]
    return msg.removeprefix("Value error, ")
