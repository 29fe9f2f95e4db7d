"""The small state file the app's nightly path writes after each upload, and how `roost status`
reads it. Kept apart from upload.py so that status does not import the spec model and the App."""

from __future__ import annotations

import json
import posixpath

from roost.errors import RoostError
from roost.host.runner import Host
from roost.layout import Layout

STATE_NAME = "offsite.json"


def state_path(layout: Layout) -> str:
    return posixpath.join(layout.state_dir, STATE_NAME)


def read_state(host: Host, layout: Layout) -> dict:
    """The state file as `roost status` reads it: untrusted (the app user writes it), so only a
    number and a short id are taken from it."""
    try:
        data = json.loads(host.read_file(state_path(layout)) or "{}")
    except (ValueError, OSError, RoostError):  # a link planted there is refused, and shows nothing
        return {}
    if not isinstance(data, dict) or not isinstance(data.get("time"), (int, float)):
        return {}
    snap = str(data.get("snapshot", ""))
    return {"time": float(data["time"]), "snapshot": snap[:8] if snap.isalnum() else ""}
