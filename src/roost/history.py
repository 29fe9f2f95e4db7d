"""The app's history: one JSON line per apply, update, rollback, backup or restore.

Root keeps it where only root writes (Layout.history_file): `rollback` decides from it.
A copy of each line goes to the home (`~/history.jsonl`) for the app's user to read.
Runs as the app user (its timers) can only add to that copy.
"""

from __future__ import annotations

import getpass
import json
import os
import time
from typing import Any

from roost.host.runner import Host
from roost.layout import Layout


def who() -> str:
    return os.environ.get("SUDO_USER") or os.environ.get("USER") or getpass.getuser()


def record(host: Host, layout: Layout, uid: int, gid: int, action: str, result: str, **fields: Any) -> dict:
    """Append one entry (secrets masked) and return it. Never raises: the history must not hide
    the real outcome of the verb that writes it."""
    entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "who": who(), "action": action, "result": result,
             **{k: v for k, v in fields.items() if v is not None}}
    line = host.mask(json.dumps(entry, sort_keys=True)) + "\n"
    try:
        if os.geteuid() == 0:
            host.append_file(layout.history_file, line, mode=0o644, uid=0, gid=0)
        host.append_file(layout.history_copy, line, mode=0o640, uid=uid, gid=gid)
    except Exception:  # a full disk, a refused link in the home: the verb's result stands
        pass
    return entry


def append(host: Host, layout: Layout, uid: int, gid: int, entry: dict) -> None:
    """An entry built by the caller (action and result among its keys)."""
    fields = dict(entry)
    record(host, layout, uid, gid, str(fields.pop("action", "")), str(fields.pop("result", "")), **fields)


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
