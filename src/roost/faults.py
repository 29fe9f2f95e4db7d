"""Test hook for the fault-injection suite: ROOST_KILL_AT=CreateUser (after it) or
PullImage:during. roost then dies by SIGKILL there, as a power cut or OOM kill would."""

from __future__ import annotations

import os
import signal
import threading


def fault_point() -> tuple[str, str] | None:
    spec = os.environ.get("ROOST_KILL_AT")
    if not spec:
        return None
    action, _, when = spec.partition(":")
    return action, when or "after"


def die_now() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def die_soon(delay: float = 0.5) -> None:
    threading.Timer(delay, die_now).start()
