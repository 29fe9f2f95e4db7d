"""The app's history: one JSON line per apply, update, rollback, backup or restore.

Root keeps it where only root writes (Layout.history_file): `rollback` decides from it.
A copy of each line goes to the home (`~/history.jsonl`) for the app's user to read.
Runs as the app user (its timers) can only add to that copy. What they add there at night (the
pre-update backup, podman auto-update's restarts and rollbacks) `roost history` shows beside
root's entries as the app user's own report: read bounded from the copy, validated field by
field, marked, never written into root's history, so `rollback` never decides from it.
"""

from __future__ import annotations

import getpass
import json
import os
import time
from datetime import datetime
from typing import Any, Literal, NotRequired, TypedDict, cast

from roost.host.runner import Host
from roost.layout import Layout

Action = Literal["apply", "update", "rollback", "auto-update", "backup", "restore", "db-upgrade", "recover",
                 "offsite", "offsite-prune", "offsite-kit", "drill", "front-door"]
Outcome = Literal["ok", "failed", "updated", "current", "rolled-back", "undone",
                  "opened", "standby", "closed"]  # the last three: what the front door's site became


class Entry(TypedDict):
    """What every entry has; each action adds fields of its own (update: its report's, apply: the
    spec and the number of changes...), read back as plain JSON (read(): a rollback picks its images)."""
    time: str
    who: str
    action: Action
    result: Outcome


class Reported(Entry):
    """An entry of the app user's own nightly report, every field checked (_reported_entry)."""
    reported_by: str
    reason: NotRequired[str]
    backup: NotRequired[str]
    error: NotRequired[str]
    changed: NotRequired[list[str]]
    images: NotRequired[dict[str, dict[str, str]]]
    tried: NotRequired[dict[str, dict[str, str]]]


def who() -> str:
    return os.environ.get("SUDO_USER") or os.environ.get("USER") or getpass.getuser()


def record(host: Host, layout: Layout, uid: int, gid: int, action: Action, result: Outcome, **fields: Any) -> Entry:
    """Append one entry (secrets masked) and return it. Never raises: the history must not hide
    the real outcome of the verb that writes it."""
    # the action's own fields are not in Entry's type (they differ per action): the cast says so
    entry = cast(Entry, {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "who": who(), "action": action,
                         "result": result, **{k: v for k, v in fields.items() if v is not None}})
    line = host.mask(json.dumps(entry, sort_keys=True)) + "\n"
    try:
        if os.geteuid() == 0:
            host.append_file(layout.history_file, line, mode=0o644, uid=0, gid=0)
        host.append_file(layout.history_copy, line, mode=0o640, uid=uid, gid=gid)
    except Exception:  # a full disk, a refused link in the home: the verb's result stands
        pass
    return entry


def read(host: Host, layout: Layout) -> list[dict]:
    """Root's history, oldest first. Index i (from 1) is what `rollback --to i` means."""
    return parse(host.read_file(layout.history_file) or "")


def parse(text: str) -> list[dict]:
    """History lines -> entries; a line that is not a JSON object is skipped."""
    out = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            out.append(entry)
    return out


# what the app's own units record at night; as maps, str -> the same Literal (an `in` test does not narrow a str)
REPORTED_ACTIONS: dict[str, Action] = {"backup": "backup", "auto-update": "auto-update"}
REPORTED_BY = "the app's user"
_REPORTED_LINES = 500
_TEXT: dict[Literal["reason", "backup", "error"], int] = {"reason": 40, "backup": 200, "error": 400}
_RESULTS: dict[str, Outcome] = {"ok": "ok", "failed": "failed", "updated": "updated", "current": "current"}


def when(entry: dict) -> float | None:
    try:
        return datetime.strptime(str(entry.get("time", "")), "%Y-%m-%dT%H:%M:%S%z").timestamp()
    except ValueError:
        return None


def _images(value: object) -> dict[str, dict[str, str]] | None:
    if not isinstance(value, dict) or len(value) > 50:
        return None
    out = {}
    for c, v in value.items():
        if not isinstance(c, str) or not isinstance(v, dict) or len(c) > 100:
            return None
        out[c] = {k: v[k][:200] for k in ("image", "id", "digest") if isinstance(v.get(k), str)}
    return out


def _reported_entry(raw: object, app: str) -> Reported | None:
    """One entry of the copy, kept only if it is a nightly report of the app's user and every field
    has the expected type and size; only known fields are kept."""
    if not isinstance(raw, dict) or raw.get("who") != app or raw.get("action") not in REPORTED_ACTIONS:
        return None
    if raw.get("result") not in _RESULTS or when(raw) is None:
        return None
    out: Reported = {"time": raw["time"], "who": app, "action": REPORTED_ACTIONS[raw["action"]],
                     "result": _RESULTS[raw["result"]], "reported_by": REPORTED_BY}
    for key, limit in _TEXT.items():
        if isinstance(raw.get(key), str):
            out[key] = raw[key][:limit]
    changed = raw.get("changed")
    if isinstance(changed, list) and all(isinstance(c, str) for c in changed):
        out["changed"] = [c[:100] for c in changed[:50]]
    if images := _images(raw.get("images")):
        out["images"] = images
    if tried := _images(raw.get("tried")):
        out["tried"] = tried
    return out


def reported(text: str, app: str) -> list[Reported]:
    """The app user's own nightly entries in its copy of the history (untrusted). A failed
    auto-update followed by a successful one is podman's rollback: shown as `rolled-back`."""
    out: list[Reported] = []
    for line in text.splitlines()[-_REPORTED_LINES:]:
        try:
            entry = _reported_entry(json.loads(line), app)
        except ValueError:
            continue
        if entry is None:
            continue
        if entry["action"] == "auto-update" and entry["result"] == "updated":
            last = next((e for e in reversed(out) if e["action"] == "auto-update"), None)
            if last is not None and last["result"] == "failed":
                entry["result"] = "rolled-back"
        out.append(entry)
    return out


def read_reported(host: Host, layout: Layout) -> list[Reported]:
    """reported() of the copy in the home, read by root without following links, bounded."""
    try:
        return reported(host.read_file(layout.history_copy) or "", layout.name)
    except Exception:  # a link, a FIFO, a directory: the user's report is not there, root's history stands
        return []


def merged(own: list[dict], theirs: list[Reported]) -> list[tuple[int | None, dict]]:
    """Root's entries (numbered by their place in root's history: `rollback --to N`) and the app
    user's reports (no number), in time order."""
    rows: list[tuple[int | None, dict]] = list(enumerate(own, 1))
    rows += [(None, dict(e)) for e in theirs]
    return sorted(rows, key=lambda r: (when(r[1]) or 0.0, r[0] is None))
