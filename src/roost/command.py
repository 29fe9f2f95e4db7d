"""How the app's own units (backup timer, pre-update hook, restart after auto-update) run roost."""

from __future__ import annotations

import os
import sys


def roost_command() -> tuple[str, ...]:
    # sys.prefix, not sys.executable: the same interpreter is reached as venv/bin/python via the
    # console script or as python3 via `python3 -m roost`; the units must not change with that
    return (os.path.join(sys.prefix, "bin", "python3"), "-m", "roost")
