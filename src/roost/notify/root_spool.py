"""Root's side of the spool: the user's events read as untrusted input, then sent (roost-notify@NAME.service)."""

from __future__ import annotations

import os
import re
import stat
import time
from typing import TYPE_CHECKING

import roost.notify.user_spool as user_spool
from roost.errors import RoostError
from roost.notify.events import parse_event
from roost.notify.sending import send
from roost.notify.user_spool import spool_dir

if TYPE_CHECKING:
    from roost.spec.model import Spec


MAX_EVENT_BYTES = 4096
MAX_EVENTS = 20  # per flush; more are dropped (and counted)
TMP_GRACE_S = 2.0  # a `.tmp-` file (an event being written: 4 KiB at most) older than this is stuck
EVENT_NAME = re.compile(r"^event-[0-9]{1,20}-[0-9]{1,10}\.json\Z")


def read_spool(name: str, uid: int, now: float | None = None) -> tuple[list[bytes], int]:
    """(raw events, how many were dropped). Opens nothing by path inside the user's directory:
    one fd for the directory (no links, owned by the app's user), names matched, each file
    opened relative to it without following links or blocking, checked to be a regular file of
    the user with one link, read up to a bound, then removed. Whatever else is there goes too
    (a directory, a `.tmp-` file older than TMP_GRACE_S): the path unit starts the flush while
    the directory is not empty, so an entry left behind would restart it until systemd gives up
    and every later alert is lost."""
    root_fd = os.open(user_spool.SPOOL_ROOT, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=root_fd)
    finally:
        os.close(root_fd)
    events: list[bytes] = []
    dropped = 0
    now = time.time() if now is None else now
    try:
        st = os.fstat(fd)
        if st.st_uid != uid:
            raise RoostError(f"{spool_dir(name)} is not owned by the app's user: refused")
        for entry in sorted(os.listdir(fd)):
            if entry.startswith(".tmp-"):
                if _age(entry, fd, now) > TMP_GRACE_S:  # a writer that died, or one that never ends
                    _remove(entry, fd)
                continue
            if not EVENT_NAME.match(entry) or len(events) >= MAX_EVENTS:
                dropped += 1
                _remove(entry, fd)
                continue
            raw = _read_one(entry, fd, uid)
            _remove(entry, fd)
            if raw is None:
                dropped += 1
            else:
                events.append(raw)
    finally:
        os.close(fd)
    return events, dropped


def _age(entry: str, dir_fd: int, now: float) -> float:
    try:
        return now - os.stat(entry, dir_fd=dir_fd, follow_symlinks=False).st_mtime
    except OSError:
        return 0.0


def _read_one(entry: str, dir_fd: int, uid: int) -> bytes | None:
    try:
        efd = os.open(entry, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        st = os.fstat(efd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != uid or st.st_nlink != 1 or st.st_size > MAX_EVENT_BYTES:
            return None
        return os.read(efd, MAX_EVENT_BYTES + 1)[:MAX_EVENT_BYTES]
    finally:
        os.close(efd)


def _remove(entry: str, dir_fd: int) -> None:
    """Remove a name of the spool: a file or link itself (never its target), a directory with
    everything in it, walked by fd without following links (shutil.rmtree's fd-based walk)."""
    try:
        if stat.S_ISDIR(os.stat(entry, dir_fd=dir_fd, follow_symlinks=False).st_mode):
            import shutil

            shutil.rmtree(entry, dir_fd=dir_fd)
        else:
            os.unlink(entry, dir_fd=dir_fd)
    except OSError:
        pass  # already gone


def _pending_tmp(name: str) -> bool:
    try:
        return any(e.startswith(".tmp-") for e in os.listdir(spool_dir(name)))
    except OSError:
        return False


def flush(name: str, uid: int, spec: Spec, say=print) -> int:
    """Send every pending event of the app (root). Returns how many were sent."""
    raws, dropped = read_spool(name, uid)
    if _pending_tmp(name):  # a writer at work: its event is a moment away; later, a stuck one goes
        time.sleep(TMP_GRACE_S + 0.5)
        more, more_dropped = read_spool(name, uid)
        raws, dropped = raws + more, dropped + more_dropped
    sent = 0
    for raw in raws:
        try:
            event = parse_event(raw, spec)
        except (ValueError, UnicodeDecodeError):
            dropped += 1
            continue
        try:
            say(f"{event.kind}: {send(name, event)}")
            sent += 1
        except RoostError as e:
            say(f"{event.kind}: {e.message}")
    if dropped:
        say(f"dropped {dropped} malformed or excess event file(s) from {spool_dir(name)}")
    return sent
