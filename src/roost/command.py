"""How the app's own units (backup timer, pre-update hook, restart after auto-update) run roost."""

from __future__ import annotations

import os
import sys

INSTALL_PREFIX = "/opt/roost"  # scripts/install: a root-owned, world-readable venv in INSTALL_PREFIX/venv


def roost_command() -> tuple[str, ...]:
    """The installed roost when there is one: the app's user must be able to run it, and a
    checkout in root's home (0700) is out of its reach."""
    installed = os.path.join(INSTALL_PREFIX, "venv", "bin", "python3")
    if os.path.exists(installed):
        return (installed, "-m", "roost")
    # sys.prefix, not sys.executable: the same interpreter is reached as venv/bin/python via the
    # console script or as python3 via `python3 -m roost`; the units must not change with that
    return (os.path.join(sys.prefix, "bin", "python3"), "-m", "roost")
