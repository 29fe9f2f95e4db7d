"""The spec file and the files it names beside it (`env_file`, `notify.urls_file`), read as root.

A spec often sits in a folder someone else owns (a cloned project), and root copies what these files
hold into an app (secrets included; plans mask them, so nobody would notice). So a named file is
reached from the spec's folder one component at a time: a symbolic link is followed only if the
spec's owner owns it and it stays inside the folder; the end must be a regular file (opened
O_NONBLOCK, then fstat: a FIFO or /dev/zero cannot hang roost while it holds apply.lock), read up to
a bound. Writes of the spec (`db upgrade`) go through the safe writer: a new file, renamed into place.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roost.errors import UsageError
from roost.host import safefs

MAX_BESIDE = 1 << 20  # env and URL files are small: 1 MiB is far more than any real one
MAX_SPEC = 1 << 20
MAX_LINKS = 16


# (read, text) of each file read here while a run is recorded (roost/converged.py digests them)
_WATCH: ContextVar[list[tuple[list[Any], str]] | None] = ContextVar("roost_beside_watch", default=None)


@contextmanager
def watching() -> Iterator[list[tuple[list[Any], str]]]:
    seen: list[tuple[list[Any], str]] = []
    token = _WATCH.set(seen)
    try:
        yield seen
    finally:
        _WATCH.reset(token)


def _seen(read: list[Any], text: str) -> str:
    watch = _WATCH.get()
    if watch is not None:
        watch.append((read, text))
    return text


class Refused(Exception):
    """Why a file beside the spec is not read (turned into a located UsageError by the caller)."""


@dataclass(frozen=True)
class SpecFile:
    text: str
    uid: int
    gid: int
    mode: int


def _read_fd(fd: int, limit: int) -> bytes:
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise Refused("is not a regular file (a FIFO, device, socket or directory)")
    chunks, got = [], 0
    while got <= limit:
        chunk = os.read(fd, min(65536, limit + 1 - got))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    if got > limit:
        raise Refused(f"is larger than {limit} bytes")
    return b"".join(chunks)


def read_spec(path: str | Path) -> SpecFile:
    """The spec the operator named (a link given on the command line is the operator's choice):
    a regular file, bounded; its owner and mode kept for a later write."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # FileNotFoundError etc. to the caller
    try:
        st = os.fstat(fd)
        try:
            data = _read_fd(fd, MAX_SPEC)
        except Refused as e:
            raise UsageError(f"{path}: {e}", hint="give the path of a spec file (TOML), e.g. examples/hedgedoc.toml") from None
    finally:
        os.close(fd)
    try:
        text = data.decode()
    except UnicodeDecodeError as e:
        raise UsageError(f"{path}: not UTF-8 ({e})", hint="save the spec as UTF-8") from None
    return SpecFile(_seen(["spec", os.path.abspath(path)], text), st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode))


def write_spec(path: str | Path, text: str, like: SpecFile) -> None:
    """Replace the spec (same owner and mode): never written through a link swapped in meanwhile."""
    safefs.write_file(os.path.abspath(path), text.encode(), like.mode, like.uid, like.gid)


def _open_beneath(base: int, rel: str, owner: int) -> int:
    """An fd of the regular file `rel` names under the directory `base`."""
    stack = [os.dup(base)]
    todo = [p for p in rel.split("/") if p and p != "."]
    links = 0
    try:
        while todo:
            name = todo.pop(0)
            if name == "..":
                if len(stack) == 1:
                    raise Refused("leads out of the spec's folder")
                os.close(stack.pop())
                continue
            cur = stack[-1]
            st = os.stat(name, dir_fd=cur, follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                # the link itself, opened once: its owner and target are read from the same inode
                lfd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=cur)
                try:
                    lst, target = os.fstat(lfd), os.readlink("", dir_fd=lfd)
                finally:
                    os.close(lfd)
                if lst.st_uid != owner:
                    raise Refused(f"passes through the symbolic link {name!r}, owned by UID {lst.st_uid}, "
                                  f"not by the spec's owner (UID {owner})")
                if target.startswith("/"):
                    raise Refused(f"passes through the symbolic link {name!r} to {target!r}, outside the spec's folder")
                links += 1
                if links > MAX_LINKS:
                    raise Refused("has too many levels of symbolic links")
                todo = [p for p in target.split("/") if p and p != "."] + todo
                continue
            if todo:
                if not stat.S_ISDIR(st.st_mode):
                    raise FileNotFoundError(rel)
                stack.append(os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=cur))
                continue
            try:
                return os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=cur)
            except OSError as e:
                if e.errno == 40:  # ELOOP: swapped for a link since the lstat
                    raise Refused("is a symbolic link") from None
                raise
        raise Refused("names the spec's folder itself")
    finally:
        for fd in stack:
            os.close(fd)


def read_beside(spec_path: str | Path, rel: str, key: str, limit: int = MAX_BESIDE) -> str:
    """The text of the file `rel` (relative, checked by the model) beside the spec, for spec key
    `key`. A missing, linked-out, odd or oversized file is a UsageError naming both."""
    spec_path = Path(spec_path)
    folder = spec_path.parent
    shown = folder / rel
    hint = ("make it a regular file inside the spec's folder, owned by the spec's owner (a copy, not a link to "
            "another place), then run roost again")
    try:
        owner = os.stat(spec_path).st_uid
    except FileNotFoundError:
        owner = os.getuid()
    try:
        base = os.open(folder, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fd = _open_beneath(base, rel, owner)
        finally:
            os.close(base)
        try:
            data = _read_fd(fd, limit)
        finally:
            os.close(fd)
    except (FileNotFoundError, NotADirectoryError):
        raise UsageError(f"{spec_path}: {key}: {shown} does not exist",
                         hint="create it beside the spec, or remove the key") from None
    except Refused as e:
        raise UsageError(f"{spec_path}: {key}: {shown} {e}; roost does not read it as root", hint=hint) from None
    except PermissionError as e:
        raise UsageError(f"{spec_path}: {key}: {shown}: {e.strerror}", hint=hint) from None
    try:
        return _seen(["beside", str(spec_path), rel, key], data.decode())
    except UnicodeDecodeError:
        raise UsageError(f"{spec_path}: {key}: {shown} is not UTF-8 text", hint="save it as UTF-8") from None
