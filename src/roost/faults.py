"""Test hook for the fault-injection suite: ROOST_KILL_AT=POINT[:WHEN]. A point is an apply action
(CreateUser, PullImage) or a named step of a procedure (db-upgrade.dumped, see `reached`). WHEN is
`after` (the default: SIGKILL once the point is passed, as a power cut or OOM kill would), `during`
(SIGKILL half a second into an action) or `int` (SIGINT at the point, as Ctrl-C would)."""

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


def reached(point: str) -> None:
    """A procedure passed a named step: die there (or be interrupted) if the test asked for it, so
    that every step can be cut at on every run instead of after a guessed number of seconds."""
    fault = fault_point()
    if fault is None or fault[0] != point:
        return
    if fault[1] == "int":
        # raise(): to this thread, before it returns (os.kill may hand it to another thread, and the
        # KeyboardInterrupt would come a moment later, somewhere else)
        signal.raise_signal(signal.SIGINT)
    else:
        die_now()
