"""Compose's variable interpolation: `${VAR}`, `$VAR`, `${VAR:-default}`, `${VAR-default}`,
`${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`, `${VAR+alt}` and `$$`, plus the project's `.env` file.

Pure: the caller hands in the environment as a dict."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from roost.errors import UsageError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class InterpolationError(UsageError):
    def __init__(self, source: str, line: int | None, message: str, hint: str | None = None) -> None:
        loc = f"{source}:{line}" if line else source
        super().__init__(f"{loc}: {message}", hint)
        self.line = line


def interpolate(text: str, env: Mapping[str, str], *, source: str = "<compose>", line: int | None = None,
                unset: Callable[[str], None] | None = None, used: Callable[[str], None] | None = None) -> str:
    """Substitute variables in one value as `docker compose` does. `unset(name)` is called for each
    variable that was neither set nor given a default (it becomes "", as compose does with a warning),
    `used(name)` for each variable whose value was read."""
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch != "$":
            out.append(ch)
            i += 1
            continue
        if i + 1 < n and text[i + 1] == "$":  # $$ is a literal $
            out.append("$")
            i += 2
            continue
        if i + 1 < n and text[i + 1] == "{":
            end = _closing_brace(text, i + 2)
            if end < 0:
                raise InterpolationError(source, line, f"unterminated ${{...}} in {text!r}",
                                         "close it with '}' or write $$ for a literal $")
            out.append(_expand(text[i + 2:end], env, source, line, unset, used))
            i = end + 1
            continue
        m = _NAME.match(text, i + 1)
        if m:
            out.append(_lookup(m.group(0), env, unset, used))
            i = m.end()
            continue
        out.append("$")  # a lone $ (e.g. at the end) stays, as compose keeps it
        i += 1
    return "".join(out)


def _closing_brace(text: str, start: int) -> int:
    depth = 1
    i = start
    while i < len(text):
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _lookup(name: str, env: Mapping[str, str], unset: Callable[[str], None] | None,
            used: Callable[[str], None] | None = None) -> str:
    if name in env:
        if used:
            used(name)
        return env[name]
    if unset:
        unset(name)
    return ""


def _expand(body: str, env: Mapping[str, str], source: str, line: int | None,
            unset: Callable[[str], None] | None, used: Callable[[str], None] | None) -> str:
    m = _NAME.match(body)
    if not m:
        raise InterpolationError(source, line, f"invalid variable ${{{body}}}: a name must be letters, digits, '_'",
                                 "write $$ for a literal $")
    name = body[: m.end()]
    rest = body[m.end():]
    if not rest:
        return _lookup(name, env, unset, used)
    op = next((o for o in (":-", ":?", ":+", "-", "?", "+") if rest.startswith(o)), None)
    if op is None:
        raise InterpolationError(source, line, f"invalid variable ${{{body}}}",
                                 "use ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error} or ${VAR?error}")
    arg = rest[len(op):]
    value = env.get(name)
    empty_counts = op.startswith(":")  # with ':' an empty value counts as unset
    is_set = value is not None and (value != "" or not empty_counts)
    if value is not None and used:
        used(name)

    def inner(s: str) -> str:
        return interpolate(s, env, source=source, line=line, unset=unset, used=used)

    if op.endswith("-"):
        return value if is_set and value is not None else inner(arg)
    if op.endswith("+"):
        return inner(arg) if is_set else ""
    if is_set and value is not None:  # ? forms
        return value
    msg = inner(arg) if arg else ("is empty or not set" if empty_counts else "is not set")
    raise InterpolationError(source, line, f"required variable {name}: {msg}",
                             f"set {name} in the environment, in the project's .env file or with --env-file")


def parse_dotenv(text: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """A compose `.env` file: KEY=VALUE lines, `export` allowed, `#` comments, single quotes literal,
    double quotes with escapes; unquoted and double-quoted values may refer to earlier variables."""
    out: dict[str, str] = {}
    base = dict(env or {})
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[7:].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not _NAME.fullmatch(key):
            continue  # compose refuses these; a .env is only read for interpolation, so skip quietly
        value = value.strip()
        if value[:1] == "'" and value.rfind("'") > 0:
            value = value[1:value.rfind("'")]
        elif value[:1] == '"' and value.rfind('"') > 0:
            inner = value[1:value.rfind('"')]
            inner = inner.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")
            value = interpolate(inner, {**base, **out})
        else:
            value = re.split(r"\s+#", value, maxsplit=1)[0].strip()
            value = interpolate(value, {**base, **out})
        out[key] = value
    return out
