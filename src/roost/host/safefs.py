"""File operations root can make inside directories an untrusted user owns.

roost runs as root and works in each app's home, which belongs to the app's user: what a
compromised app becomes. So a path is never handed to the kernel whole. It is walked one
component at a time from `/` (as systemd's chase() with CHASE_SAFE does): a symbolic link
is followed only where nobody but root can have made it (a link owned by root in a
directory owned by root that nobody else can write); once the walk enters a directory
that anyone else owns or can write, every further component is opened with O_NOFOLLOW,
and anything that is not the expected directory or regular file is refused. Changes are
made through the file descriptor that was checked (fchown, fchmod, renameat), so nothing
can be swapped in between the check and the act.
"""

from __future__ import annotations

import os
import posixpath
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from roost.errors import RoostError

MAX_READ = 4 * 1024 * 1024  # what roost reads from an app's files: specs, env, secrets, history, PG_VERSION
MAX_LINKS = 32


class UnsafePath(RoostError):
    """A path that does not lead where it says without crossing a link or odd file the app user controls."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"{path}: {why}; roost refuses to follow it as root",
                         hint="remove what is there (as the app user) and run roost again")
        self.path = path


@dataclass(frozen=True)
class Stat:
    mode: int  # permission bits only
    uid: int
    gid: int
    is_dir: bool
    is_link: bool = False
    is_file: bool = False
    size: int = 0
    nlink: int = 1


def _stat(st: os.stat_result) -> Stat:
    return Stat(stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, stat.S_ISDIR(st.st_mode), stat.S_ISLNK(st.st_mode),
                stat.S_ISREG(st.st_mode), st.st_size, st.st_nlink)


def _trusted(st: os.stat_result) -> bool:
    """Only root can change what this directory holds (the sticky /tmp does not count)."""
    return st.st_uid == 0 and not st.st_mode & 0o022


def _components(path: str) -> list[str]:
    if not path.startswith("/"):
        raise UnsafePath(path, "is not an absolute path")
    parts = [p for p in path.split("/") if p and p != "."]
    if ".." in parts:
        raise UnsafePath(path, "contains '..'")
    return parts


@contextmanager
def parent_dir(path: str) -> Iterator[tuple[int, str]]:
    """An fd of `path`'s directory, reached safely, and the final component's name. A final
    component that is a link only root can have made (/etc/resolv.conf) is resolved too."""
    parts = _components(path)
    if not parts:
        raise UnsafePath(path, "is the root directory")
    for _ in range(MAX_LINKS):
        fd, trusted = _walk(path, parts[:-1])
        name = parts[-1]
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            break
        except BaseException:
            os.close(fd)
            raise
        if not (stat.S_ISLNK(st.st_mode) and trusted and st.st_uid == 0):
            break
        target = os.readlink(name, dir_fd=fd)
        os.close(fd)
        rest = [p for p in target.split("/") if p and p != "."]
        parts = rest if target.startswith("/") else parts[:-1] + rest
        if not parts or parts[-1] == "..":
            raise UnsafePath(path, "ends in a link to a directory")
    else:
        raise UnsafePath(path, "has too many levels of symbolic links")
    try:
        yield fd, name
    finally:
        os.close(fd)


def _walk(path: str, parts: list[str]) -> tuple[int, bool]:
    """An O_PATH fd of the directory `parts` name, and whether only root controls the way there."""
    fd = os.open("/", os.O_PATH | os.O_DIRECTORY)
    trusted = True
    todo = list(parts)
    links = 0
    try:
        while todo:
            name = todo.pop(0)
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                if not (trusted and st.st_uid == 0):
                    raise UnsafePath(path, f"passes through the symbolic link {name!r} in a directory "
                                           "that is not root's alone")
                links += 1
                if links > MAX_LINKS:
                    raise UnsafePath(path, "has too many levels of symbolic links")
                target = os.readlink(name, dir_fd=fd)
                if target.startswith("/"):  # go on from / with the rest of the path appended
                    os.close(fd)
                    fd = os.open("/", os.O_PATH | os.O_DIRECTORY)
                todo = [p for p in target.split("/") if p and p != "."] + todo
                continue
            if name == ".." and not trusted:  # only reachable through a link only root made
                raise UnsafePath(path, "climbs out of a directory that is not root's alone")
            if not stat.S_ISDIR(st.st_mode):
                raise NotADirectoryError(path)
            nfd = os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = nfd
            trusted = trusted and _trusted(os.fstat(fd))
        return fd, trusted
    except BaseException:
        os.close(fd)
        raise


def check_root_only_dir(path: str) -> None:
    """Refuse unless `path` is a directory that only root can change, reached only through
    directories only root can change (no sticky /tmp, no folder another user could rename)."""
    try:
        fd, trusted = _walk(path, _components(path))
    except (FileNotFoundError, NotADirectoryError):
        raise UnsafePath(path, "is not an existing directory") from None
    os.close(fd)
    if not trusted:
        raise UnsafePath(path, "is, or is inside, a directory that a user other than root can write")


def lstat(path: str) -> Stat | None:
    """Like os.lstat, but the directories on the way are reached safely. None if absent."""
    try:
        with parent_dir(path) as (dfd, name):
            return _stat(os.stat(name, dir_fd=dfd, follow_symlinks=False))
    except (FileNotFoundError, NotADirectoryError):
        return None


def _open_file(dfd: int, name: str, path: str, flags: int) -> tuple[int, os.stat_result]:
    try:
        fd = os.open(name, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dfd)
    except OSError as e:
        if e.errno == 40:  # ELOOP: the last component is a link
            raise UnsafePath(path, "is a symbolic link") from None
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise UnsafePath(path, "is not a regular file")
    return fd, st


def read_bytes(path: str, limit: int = MAX_READ) -> bytes | None:
    """The file's content, or None if it does not exist. Links, FIFOs, devices and files
    over `limit` bytes are refused, so a planted name can neither redirect nor hang roost."""
    try:
        with parent_dir(path) as (dfd, name):
            fd, st = _open_file(dfd, name, path, os.O_RDONLY)
    except (FileNotFoundError, NotADirectoryError):
        return None
    with os.fdopen(fd, "rb") as fh:
        if st.st_size > limit:
            raise UnsafePath(path, f"is larger than {limit} bytes")
        # in pieces: /proc and /sys files report size 0, and the kernel allocates a buffer as
        # large as the read asked for (ENOMEM for a read of MAX_READ)
        chunks, got = [], 0
        while got <= limit:
            chunk = fh.read(min(65536, limit + 1 - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        data = b"".join(chunks)
    if len(data) > limit:
        raise UnsafePath(path, f"is larger than {limit} bytes")
    return data


def read_text(path: str, limit: int = MAX_READ) -> str | None:
    data = read_bytes(path, limit)
    return None if data is None else data.decode("utf-8", errors="replace")


def make_dir(path: str, mode: int, uid: int, gid: int) -> None:
    """Create `path` (one level) or fix the mode and owner of the directory that is there."""
    with parent_dir(path) as (dfd, name):
        try:
            os.mkdir(name, 0o700, dir_fd=dfd)
        except FileExistsError:
            pass
        try:
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
        except OSError as e:
            if e.errno in (40, 20):  # ELOOP, ENOTDIR
                raise UnsafePath(path, "is not a directory (a link or a file is in its place)") from None
            raise
        try:
            os.fchown(fd, uid, gid)
            os.fchmod(fd, mode)
        finally:
            os.close(fd)


def write_file(path: str, content: bytes, mode: int, uid: int, gid: int) -> None:
    """Atomically replace `path`: a new file under a random name in the same directory,
    with its final owner and mode before it gets the name (a link in its place is replaced,
    never followed)."""
    with parent_dir(path) as (dfd, name):
        tmp = f".roost-{secrets.token_hex(8)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dfd)
        try:
            os.fchown(fd, uid, gid)
            os.fchmod(fd, mode)
            with os.fdopen(fd, "wb", closefd=False) as fh:
                fh.write(content)
                fh.flush()
                os.fsync(fd)
            os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=dfd)
            except OSError:
                pass
            raise
        finally:
            os.close(fd)


def append_file(path: str, content: bytes, mode: int, uid: int, gid: int) -> None:
    """Append to a file roost owns the content of (created if missing); links and odd files refused."""
    with parent_dir(path) as (dfd, name):
        try:
            fd, st = _open_file(dfd, name, path, os.O_WRONLY | os.O_APPEND)
        except FileNotFoundError:
            fd = os.open(name, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o600, dir_fd=dfd)
            st = os.fstat(fd)
        try:
            if st.st_nlink > 1:
                raise UnsafePath(path, "has other hard links")
            os.fchown(fd, uid, gid)
            os.fchmod(fd, mode)
            os.write(fd, content)
        finally:
            os.close(fd)


def fix_file(path: str, mode: int, uid: int, gid: int) -> None:
    """chmod + chown of an existing regular file, through the fd that was checked. A file
    with other hard links is refused: it could be a system file linked into the home."""
    with parent_dir(path) as (dfd, name):
        fd, st = _open_file(dfd, name, path, os.O_RDONLY)
    try:
        if st.st_nlink > 1:
            raise UnsafePath(path, "has other hard links")
        os.fchown(fd, uid, gid)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def remove(path: str) -> bool:
    """Unlink the name (a link itself, never its target). False if it was not there."""
    try:
        with parent_dir(path) as (dfd, name):
            os.unlink(name, dir_fd=dfd)
            return True
    except (FileNotFoundError, NotADirectoryError):
        return False


def list_dir(path: str) -> list[tuple[str, Stat]] | None:
    """Entries of a directory (names as they are, newlines included) with their lstat, or None."""
    try:
        with parent_dir(path) as (dfd, name):
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        if e.errno == 40:
            raise UnsafePath(path, "is a symbolic link") from None
        raise
    try:
        out = []
        for entry in os.scandir(fd):
            try:
                out.append((entry.name, _stat(entry.stat(follow_symlinks=False))))
            except FileNotFoundError:  # removed since it was listed (a process gone from /proc)
                continue
        return sorted(out)
    finally:
        os.close(fd)


def check_no_links(path: str) -> None:
    """Refuse a path that passes through any symbolic link or is one (volume host paths
    outside the home: what is mounted into a container must be what the spec names)."""
    parts = _components(path)
    fd = os.open("/", os.O_PATH | os.O_DIRECTORY)
    try:
        for i, name in enumerate(parts):
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                return  # the rest does not exist yet: nothing to follow
            if stat.S_ISLNK(st.st_mode):
                raise UnsafePath(path, f"passes through the symbolic link {'/' + posixpath.join(*parts[:i + 1])}")
            if i == len(parts) - 1 or not stat.S_ISDIR(st.st_mode):
                return
            nfd = os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = nfd
    finally:
        os.close(fd)
