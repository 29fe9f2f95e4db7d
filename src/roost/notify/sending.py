"""Sending (root, through Apprise), one message per kind and container in a window; `emit` sends or spools."""

from __future__ import annotations

import json
import os
import tempfile
import time
from typing import TYPE_CHECKING

from roost.errors import RoostError
from roost.notify.events import Event, message
from roost.notify.urls import read_stored, state_dir
from roost.notify.user_spool import spool

if TYPE_CHECKING:
    from roost.app import App


SENT_FILE = "notify-sent.json"
THROTTLE_S = 15 * 60  # one message per (kind, container) per window: a restart loop is one message


def _throttled(name: str, event: Event, now: float) -> bool:
    if event.kind == "test":
        return False
    path = os.path.join(state_dir(name), SENT_FILE)
    try:
        with open(path) as fh:
            sent = json.loads(fh.read(65536))
        if not isinstance(sent, dict):
            sent = {}
    except (OSError, ValueError):
        sent = {}
    key = f"{event.kind}/{event.container or ''}"
    last = sent.get(key, 0)
    if isinstance(last, (int, float)) and now - last < THROTTLE_S:
        return True
    sent = {k: v for k, v in sent.items() if isinstance(v, (int, float)) and now - v < THROTTLE_S}
    sent[key] = now
    os.makedirs(state_dir(name), mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=state_dir(name), prefix=".sent-")
    with os.fdopen(fd, "w") as fh:
        json.dump(sent, fh)
    os.replace(tmp, path)
    return False


def send(name: str, event: Event) -> str:
    """Send one event to the app's URLs (as root). Returns what happened, never a URL."""
    urls = read_stored(name)
    if not urls:
        return "no notification URLs for this app"
    if _throttled(name, event, time.time()):
        return f"not sent: a {event.kind} message went out less than {THROTTLE_S // 60} minutes ago"
    import apprise  # ~0.3 s: only when a message goes out

    title, body = message(name, event)
    sender = apprise.Apprise()
    added = sum(1 for u in urls if sender.add(u))
    if not added:
        raise RoostError(f"none of the {len(urls)} notification URLs of {name} is understood by Apprise",
                         hint=f"check the file the spec's notify.urls_file names, then `roost apply` and "
                              f"`roost notify test {name}`")
    if not sender.notify(title=title, body=body):
        raise RoostError(f"sending the notification failed for at least one of {added} URL(s)",
                         hint="see the messages above (URLs are never shown); check the service is reachable")
    return f"sent to {added} URL(s)"


def emit(app: App, event: Event) -> str:
    """Report an event from wherever roost runs: root sends, the app's user spools. Never raises:
    a notification must not change the outcome of what it reports."""
    if app.spec.notify is None:
        return "no [notify] in the spec"
    try:
        return send(app.spec.name, event) if os.geteuid() == 0 else spool(app.spec.name, event)
    except (RoostError, OSError) as e:
        return f"notification failed: {e}"


def emit_for_update(app: App, report) -> str:
    changed = ", ".join(f"{c} (tried {(report.tried[c].digest if c in report.tried else '?')[:19]})" for c in report.changed)
    kind = "update-rolled-back" if report.result == "rolled-back" else "update-failed"
    return emit(app, Event(kind, f"{changed}: {report.error or 'not healthy'}"))
