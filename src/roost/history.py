"""The app's history: one JSON line per apply, update, rollback, backup or restore, kept in
its home beside the deployment it describes."""

from __future__ import annotations

import getpass
import json
import os
import time

from roost.host.runner import Host
from roost.layout import Layout


def who() -> str:
    return os.environ.get("SUDO_USER") or os.environ.get("USER") or getpass.getuser()


def append(host: Host, layout: Layout, uid: int, gid: int, entry: dict) -> None:
    line = json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "who": who(), **entry}, sort_keys=True)
    old = host.read_file(layout.history_file) or ""
    host.write_file(layout.history_file, old + line + "\n", mode=0o640, uid=uid, gid=gid)


def read(host: Host, layout: Layout) -> list[dict]:
    text = host.read_file(layout.history_file) or ""
    return [json.loads(line) for line in text.splitlines() if line.strip()]
