"""Events: the kinds that may be reported, an event from the app's user validated (its text escaped), the message."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from roost.spec.model import Spec


MAX_DETAIL = 400

# what an app's user may report, and the headline root writes for it
USER_KINDS = {
    "container-failed": "container {container} failed",
    "auto-update-rolled-back": "nightly update rolled back",
    "auto-update-failed": "nightly update failed",
    "auto-update-skipped": "nightly update skipped",
    "backup-failed": "backup failed",
    "offsite-failed": "offsite backup failed",
    "offsite-stale": "no offsite backup newer than a day",
}
ROOT_KINDS = {
    "update-rolled-back": "update rolled back",
    "update-failed": "update failed, and so did the rollback",
    "test": "test message",
    "drill-failed": "disaster-recovery drill failed",
}


@dataclass(frozen=True)
class Event:
    kind: str
    detail: str = ""
    container: str | None = None

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, "container": self.container, "detail": self.detail[:MAX_DETAIL]})


def clean(text: str, limit: int = MAX_DETAIL) -> str:
    """Printable text only: control and format characters (terminal escapes, bidi overrides) become '?'."""
    from roost.output import plain

    return plain(text, limit=limit)


def parse_event(raw: bytes, spec: Spec) -> Event:
    """An event written by the app's user: exactly the expected keys and values, or refused."""
    data = json.loads(raw.decode("utf-8"))
    if not isinstance(data, dict) or not set(data) <= {"kind", "container", "detail"}:
        raise ValueError("not an event object")
    kind, container, detail = data.get("kind"), data.get("container"), data.get("detail", "")
    if kind not in USER_KINDS:
        raise ValueError("unknown kind")
    if container is not None and (not isinstance(container, str) or container not in spec.containers):
        raise ValueError("unknown container")
    if kind == "container-failed" and container is None:
        raise ValueError("container-failed names no container")
    if not isinstance(detail, str):
        detail = "(an event without readable text)"
    return Event(kind, clean(detail), container)


def message(app_name: str, event: Event) -> tuple[str, str]:
    headline = {**USER_KINDS, **ROOT_KINDS}[event.kind].format(container=event.container or "")
    host = clean(os.uname().nodename, 64)
    body = clean(event.detail) or headline
    return f"roost {app_name}: {headline}", f"{body}\n\n(app {app_name} on {host}; `roost status {app_name}`)"
