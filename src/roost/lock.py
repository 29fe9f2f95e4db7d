"""Locks: one mutating roost run per app at a time, and one apply at a time on the host.

The lock files live in /run/roost, a directory only root writes, and only root creates
them: a world-writable lock directory would let any user plant a link or hold a lock
forever. flock() works on a descriptor opened read-only, so who may open a lock file is
who may hold it: the global lock is root's alone (0600); an app's lock is 0640 and
belongs to the app's group, so that the app's own timers (scheduled backups) can take it
and no other local user can. The group is given again whenever root opens or lets go of the
lock: the first apply creates the lock before it creates the group, and the nightly hooks need
it from that night on.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator

from roost.errors import RoostError
from roost.history import who
from roost.layout import GLOBAL_LOCK, LOCK_DIR


class LockBusy(RoostError):
    """Another run (or the app's user) held the lock for longer than the caller waits."""


def _open(path: str, group: str | None) -> int | None:
    if os.geteuid() != 0:
        try:
            return os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return None  # no root run has made it since boot: none is running
        except PermissionError:
            raise RoostError(f"{path} is not open to this app's group, so roost cannot take the app's lock",
                             hint="as root: `roost reapply` the app (it gives the lock its group)") from None
    os.makedirs(LOCK_DIR, mode=0o755, exist_ok=True)
    st = os.lstat(LOCK_DIR)
    if st.st_uid != 0 or st.st_mode & 0o022 or not os.path.isdir(LOCK_DIR) or os.path.islink(LOCK_DIR):
        raise RoostError(f"{LOCK_DIR} is not a directory that only root can write", hint=f"remove {LOCK_DIR}")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    _give(fd, group)
    return fd


def _give(fd: int, group: str | None) -> None:
    """Root: the lock belongs to root and `group` (0640), or to root alone while the group does not exist."""
    gid = _gid(group)
    os.fchown(fd, 0, gid)
    os.fchmod(fd, 0o640 if gid else 0o600)


def _gid(group: str | None) -> int:
    if group is None:
        return 0
    import grp

    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        return 0  # the app's group does not exist yet: root's alone until it does


@contextlib.contextmanager
def hold(path: str, what: str, wait: float = 600, say: Callable[[str], object] = print,
         group: str | None = None) -> Iterator[None]:
    """Hold the lock at `path`; while another run holds it, say so and wait up to `wait` s.
    `group` may open (so hold) it besides root."""
    fd = _open(path, group)
    if fd is None:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another roost run"
            holder = "".join(ch for ch in holder if ch.isprintable())
            say(f"waiting for {holder} to finish with {what} ...")
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise LockBusy(f"{what} is locked by {holder}", hint="wait for it to finish") from None
                    time.sleep(0.5)
        if os.geteuid() == 0:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"roost pid {os.getpid()} ({who()})\n".encode(), 0)
        try:
            yield
        finally:
            if os.geteuid() == 0:
                os.ftruncate(fd, 0)
                _give(fd, group)  # the group may have been created meanwhile (the app's first apply)
    finally:
        os.close(fd)


def busy(path: str) -> bool:
    """Whether a roost run holds the lock at `path` now (asked without waiting or taking it)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def app_lock(lock_file: str, name: str, wait: float = 600, say: Callable[[str], object] = print
             ) -> contextlib.AbstractContextManager[None]:
    return hold(lock_file, f"app {name}", wait, say, group=name)


def global_lock(say: Callable[[str], object] = print) -> contextlib.AbstractContextManager[None]:
    """Held by apply from reading the host's users and ranges until they are changed."""
    return hold(GLOBAL_LOCK, "the host's users and ID ranges", 1800, say)
