"""An independent reader of what roost writes, as systemd, Quadlet and podman read it.

Written from the readers' documentation and sources, not from roost's serializer, so that a
round trip through it checks what a rendered file *means*:

- unit files (systemd.syntax(7), Quadlet's pkg/systemd/parser): `[Section]` lines, `Key=value`
  lines with white space around key and value dropped (Quadlet trims Unicode white space, Go's
  strings.TrimSpace, like Python's str.strip()), `#`/`;` comments. A line ending in a
  backslash continues onto the next one and CR or NUL end a line for systemd: roost must never
  write either, so both are errors here.
- Quadlet's Lookup() (Image=, HealthCmd=, ...) also strips one pair of double quotes around the
  whole value (`"a" && "b"` is read as `a" && "b`): `lookup()` does the same.
- specifiers: `%%` is a literal `%`; any other `%x` would be expanded by systemd, so it is an error.
- dollars: Quadlet copies [Container] and [Pod] values into ExecStart= as they are, and systemd
  expands `$NAME`/`${NAME}` there and reads `$$` as `$` (systemd.service(5)); so do Exec*= keys.
  In those places `$$` is a literal `$` and any other `$` that starts a variable is an error.
- word lists (Exec=, Label=, PodmanArgs=, ExecStart=): systemd's extract_first_word with
  unquoting and C-style unescaping, as Quadlet's Go port of it does (split.go, flags
  SplitRelax|SplitUnquote|SplitCUnescape). That port stops at the first empty word (`""`): it
  returns no word and no rest, so `a "" b` is read as `a`. This reader does the same.
- env files (podman --env-file, pkg/env/env.go): lines split at `\\n` only, leading spaces and tabs
  dropped, empty lines and `#` lines skipped, `KEY=VALUE` cut at the first `=`, the value taken
  literally to the end of the line.
"""

from __future__ import annotations

WHITESPACE = " \t\n\r"  # systemd's word separators (Quadlet's WhitespaceSeparators too)


class UnitSyntaxError(ValueError):
    pass


Unit = dict[str, list[tuple[str, str]]]  # section -> (key, raw value) in file order


def parse_unit(text: str) -> Unit:
    if "\r" in text or "\0" in text:
        raise UnitSyntaxError("CR or NUL in a unit file: systemd would end the line there")
    sections: Unit = {}
    current: str | None = None
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.endswith("\\"):
            raise UnitSyntaxError(f"line {number} ends with a backslash: it would continue onto the next line")
        if line.startswith("["):
            if not line.endswith("]"):
                raise UnitSyntaxError(f"line {number}: bad section header {line!r}")
            current = line[1:-1]
            sections.setdefault(current, [])
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise UnitSyntaxError(f"line {number}: not Key=value: {line!r}")
        if current is None:
            raise UnitSyntaxError(f"line {number}: assignment outside a section")
        sections[current].append((key.strip(), value.strip()))
    return sections


def values(unit: Unit, section: str, key: str) -> list[str]:
    return [v for k, v in unit.get(section, []) if k == key]


def one(unit: Unit, section: str, key: str) -> str:
    found = values(unit, section, key)
    assert len(found) == 1, f"{section}.{key}: expected one value, found {found!r}"
    return found[0]


def unspecify(value: str) -> str:
    """Resolve specifiers: `%%` -> `%`; anything else that systemd would expand is an error."""
    out = []
    i = 0
    while i < len(value):
        c = value[i]
        if c == "%":
            if value[i + 1:i + 2] != "%":
                raise UnitSyntaxError(f"specifier {value[i:i + 2]!r} would be expanded by systemd in {value!r}")
            out.append("%")
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


COMMAND_LINE_SECTIONS = ("Container", "Pod")


def on_command_line(section: str, key: str) -> bool:
    return section in COMMAND_LINE_SECTIONS or key.startswith("Exec")


def undollar(value: str) -> str:
    """systemd's ExecStart= variable syntax: `$$` -> `$`; `$NAME`/`${NAME}` would expand: an error."""
    out, i = [], 0
    while i < len(value):
        if value[i] == "$":
            nxt = value[i + 1:i + 2]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "{" or nxt.isalpha() or nxt == "_":
                raise UnitSyntaxError(f"{value[i:i + 8]!r} would be expanded by systemd in {value!r}")
        out.append(value[i])
        i += 1
    return "".join(out)


def raw_value(unit: Unit, section: str, key: str) -> str:
    """A value read as one string (Image=, Volume=, HealthCmd=, OnCalendar=...)."""
    value = unspecify(one(unit, section, key))
    return undollar(value) if on_command_line(section, key) else value


def lookup(unit: Unit, section: str, key: str) -> str:
    """A one-string value as Quadlet's Lookup() returns it: one surrounding pair of quotes dropped."""
    value = one(unit, section, key)
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    value = unspecify(value)
    return undollar(value) if on_command_line(section, key) else value


_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
                   "\\": "\\", '"': '"', "'": "'", "s": " "}


def _cunescape(s: str, i: int) -> tuple[str, int]:
    """One escape sequence starting after the backslash at s[i-1]; returns (char, next index)."""
    if i >= len(s):
        raise UnitSyntaxError("trailing backslash")
    c = s[i]
    if c in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[c], i + 1
    for lead, width, base in (("x", 2, 16), ("u", 4, 16), ("U", 8, 16)):
        if c == lead:
            digits = s[i + 1:i + 1 + width]
            if len(digits) != width or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise UnitSyntaxError(f"bad \\{lead} escape")
            code = int(digits, base)
            if code == 0 or code > 0x10FFFF:
                raise UnitSyntaxError("escape of NUL or beyond Unicode")
            return chr(code), i + 1 + width
    if c in "01234567":
        digits = s[i:i + 3]
        if len(digits) != 3 or any(d not in "01234567" for d in digits) or int(digits, 8) in (0,) or int(digits, 8) > 255:
            raise UnitSyntaxError("bad octal escape")
        return chr(int(digits, 8)), i + 3
    raise UnitSyntaxError(f"unsupported escape \\{c}")


def split_words(value: str) -> list[str]:
    """Word splitting of Exec=-like values, then specifier resolution of each word."""
    words: list[str] = []
    i, n = 0, len(value)
    while True:
        while i < n and value[i] in WHITESPACE:
            i += 1
        if i >= n:
            break
        word: list[str] = []
        quote = ""
        while i < n:
            c = value[i]
            if quote:
                if c == quote:
                    quote = ""
                    i += 1
                elif c == "\\":
                    ch, i = _cunescape(value, i + 1)
                    word.append(ch)
                else:
                    word.append(c)
                    i += 1
            elif c in "'\"":
                quote = c
                i += 1
            elif c == "\\":
                ch, i = _cunescape(value, i + 1)
                word.append(ch)
            elif c in WHITESPACE:
                break
            else:
                word.append(c)
                i += 1
        if quote:
            raise UnitSyntaxError(f"unbalanced quote in {value!r}")
        if not word:
            break  # Quadlet's splitter ends the list at an empty word (see the module docstring)
        words.append("".join(word))
    return [unspecify(w) for w in words]


def word_value(unit: Unit, section: str, key: str) -> list[str]:
    words = split_words(one(unit, section, key))
    return [undollar(w) for w in words] if on_command_line(section, key) else words


def parse_env_file(text: str) -> dict[str, str]:
    """podman's reading of an --env-file."""
    env: dict[str, str] = {}
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for raw in lines:
        if raw.endswith("\r"):
            raise UnitSyntaxError("a line ends with CR: podman's line scanner would drop it")
        line = raw.lstrip(" \t")
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not key:
            raise UnitSyntaxError(f"invalid variable: {line!r}")
        name = key.lstrip(" \t")
        if not sep:
            raise UnitSyntaxError(f"{name!r} without '=': podman would copy it from its own environment")
        env[name] = value
    return env
