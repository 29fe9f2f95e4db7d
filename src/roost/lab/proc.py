"""Running commands on the machine (not on an app host): argv lists only, clear errors."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Mapping, Sequence

from roost.errors import RoostError

log = logging.getLogger("roost.lab")


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    capture: bool = True,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    what: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run argv; with capture=False output streams to our terminal. A failure under
    check=True becomes a RoostError that shows the command and the tail of its output."""
    log.info("$ %s", " ".join(argv))
    try:
        cp = subprocess.run(
            list(argv),
            text=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.STDOUT if capture else None,
            env=dict(env) if env is not None else None,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as e:
        raise RoostError(f"{argv[0]}: command not found", "see `roost lab up --help` for what the lab needs") from e
    except subprocess.TimeoutExpired as e:
        raise RoostError(f"{what or argv[0]} timed out after {timeout:.0f}s: {' '.join(argv)}") from e
    if check and cp.returncode != 0:
        tail = "\n".join((cp.stdout or "").strip().splitlines()[-25:])
        raise RoostError(
            f"{what or argv[0]} failed (exit {cp.returncode}): {' '.join(argv)}" + (f"\n{tail}" if tail else "")
        )
    return cp
