"""The app's user's side: an event handed to root through the app's spool directory (/var/lib/roost/spool/NAME)."""

from __future__ import annotations

import os
import tempfile
import time

from roost.notify.events import Event

SPOOL_ROOT = "/var/lib/roost/spool"  # NAME/ is the app user's own, 0700


def spool_dir(name: str) -> str:
    return os.path.join(SPOOL_ROOT, name)


def spool(name: str, event: Event) -> str:
    """Write the event into the app's spool directory (as the app user); root picks it up."""
    directory = spool_dir(name)
    if not os.path.isdir(directory):
        return "notifications are not set up for this app"
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    with os.fdopen(fd, "w") as fh:
        fh.write(event.to_json())
    os.replace(tmp, os.path.join(directory, f"event-{time.time_ns()}-{os.getpid()}.json"))
    return "handed to root"
