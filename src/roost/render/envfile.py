"""Env files as podman's --env-file reads them: KEY=VALUE per line, taken literally."""

from __future__ import annotations

from roost.spec.model import ENV_KEY_RE, check_text


def render_env(values: dict[str, str], header: str | None = None) -> str:
    lines = [f"# {header}"] if header else []
    for key in sorted(values):
        if not ENV_KEY_RE.match(key):
            raise ValueError(f"invalid environment variable name {key!r}")
        value = check_text(values[key])
        lines.append(f"{key}={value}")
    return "\n".join(lines) + "\n"


def parse_env(text: str) -> dict[str, str]:
    """Read a user's env file (KEY=VALUE lines, # comments), as podman would."""
    out: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not ENV_KEY_RE.match(key):
            raise ValueError(f"line {number}: expected KEY=VALUE, got {raw[:40]!r}")
        out[key] = value
    return out
