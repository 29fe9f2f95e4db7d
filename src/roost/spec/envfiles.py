"""The user's own env files, named by `containers.X.env_file`, beside the spec (read as spec/beside.py says)."""

from __future__ import annotations

from pathlib import Path

from roost.errors import UsageError
from roost.render.envfile import parse_env
from roost.spec.beside import read_beside
from roost.spec.model import Spec


def read_env_files(spec: Spec, spec_path: Path) -> dict[str, dict[str, str]]:
    """container -> values of its env_file."""
    out = {}
    for name, c in spec.containers.items():
        if c.env_file is None:
            continue
        path = spec_path.parent / c.env_file
        text = read_beside(spec_path, c.env_file, f"containers.{name}.env_file")
        try:
            out[name] = parse_env(text)
        except ValueError as e:
            raise UsageError(f"{path}: {e}", hint="write one KEY=VALUE per line") from None
    return out
