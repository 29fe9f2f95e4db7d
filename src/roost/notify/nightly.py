"""What the nightly update (podman-auto-update.service) amounts to, read from the app's history by the app's user."""

from __future__ import annotations

import os

from roost.notify.events import Event


def history_lines(text: str) -> list[dict]:
    """The last entries of a history (the copy in the home: untrusted, read bounded)."""
    from roost import history

    return history.parse("\n".join(text.splitlines()[-200:]))


def since(history: list[dict], started: float | None) -> list[dict]:
    """The entries written at or after `started` (Unix time; None: all). A stale entry of an
    earlier night must not be reported again."""
    if started is None:
        return history
    from datetime import datetime

    out = []
    for e in history:
        try:
            when = datetime.strptime(str(e.get("time", "")), "%Y-%m-%dT%H:%M:%S%z").timestamp()
        except ValueError:
            continue
        if when >= started - 1:  # the history's time stamps are whole seconds
            out.append(e)
    return out


def lock_problem(lock_file: str) -> str | None:
    """Why the app's user cannot take its app's lock (so its pre-update backup died before it
    could record anything), or None."""
    try:
        os.close(os.open(lock_file, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC))
    except FileNotFoundError:
        return None
    except OSError as e:
        return f"the pre-update backup could not take the app's lock {lock_file} ({e.strerror})"
    return None


def nightly_outcome(history: list[dict], service_result: str, exit_status: str, blocked: str | None = None
                    ) -> Event | None:
    """What the last run of podman-auto-update.service amounts to, from the app's history: the
    pre-update backup (ExecStartPre=) and the restarts podman asked roost for (restart-changed).
    `blocked`: why the backup could not even start (lock_problem)."""
    start = max((i for i, e in enumerate(history)
                 if e.get("action") == "backup" and e.get("reason") == "pre-auto-update"), default=None)
    if start is not None and history[start].get("result") == "failed":
        return Event("auto-update-skipped", f"the pre-update backup failed, so nothing was updated: "
                                            f"{history[start].get('error', '?')}")
    runs = [e for e in history[(start + 1 if start is not None else 0):] if e.get("action") == "auto-update"]
    failed = [e for e in runs if e.get("result") == "failed"]
    if failed and runs[-1].get("result") == "updated":
        tried = ", ".join(f"{c} tried {v.get('digest', '?')[:19]}" for c, v in failed[0].get("tried", {}).items())
        restored = ", ".join(f"{c} restored {v.get('digest', '?')[:19]}" for c, v in runs[-1].get("after", {}).items()
                             if c in failed[0].get("tried", {}))
        return Event("auto-update-rolled-back", f"{failed[0].get('error', 'not healthy')}; {tried}; {restored}")
    if failed:
        return Event("auto-update-failed", f"{failed[-1].get('error', 'not healthy')}; the rollback failed too")
    if service_result != "success":
        if start is None and blocked:
            return Event("auto-update-skipped", f"{blocked}, so nothing was updated; as root: `roost reapply` "
                                                "the app (it gives the lock the app's group)")
        return Event("auto-update-failed", f"podman auto-update ended with {service_result} "
                                           f"(status {exit_status or 'unknown'}); nothing in the app's history "
                                           "says why: see `roost logs` of the app")
    return None
