"""The one place where roost touches the host.

Every command is an argv list (never a shell string). Commands run as root or as an
app user, mutating commands are recorded so that tests and the audit trail can see exactly
what changed, and secrets handed in through `secrets=` are masked wherever a command or its
output is shown.

A command run as an app user is code that user may control (its PATH, its podman config, a
unit it wrote). It never shares root's session: a new session without a controlling terminal
(so no TIOCSTI into root's shell), stdin /dev/null or a pipe, a clean environment, cwd `/`,
in a transient scope inside the user's own slice (user-UID.slice: the user's limits apply, a
purge kills it), with a timeout that kills the whole scope (docs/security.md).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from roost.errors import RoostError
from roost.host import safefs
from roost.host.safefs import Stat as FileStat

log = logging.getLogger("roost.runner")

MASK = "••••••"
USER_TIMEOUT = 300.0  # seconds, for a command as the app user that names no timeout of its own
SYSTEMD = "/run/systemd/system"  # exists when systemd is PID 1
AUDIT_LOG = "/var/log/roost/audit.log"  # every mutation roost makes on this host, masked, one per line


@dataclass(frozen=True)
class AppUser:
    """Who a command runs as when it is not root."""

    name: str
    uid: int
    home: str

    @property
    def runtime_dir(self) -> str:
        return f"/run/user/{self.uid}"

    def env(self) -> dict[str, str]:
        return {
            "HOME": self.home,
            "USER": self.name,
            "LOGNAME": self.name,
            "XDG_RUNTIME_DIR": self.runtime_dir,
            "DBUS_SESSION_BUS_ADDRESS": f"unix:path={self.runtime_dir}/bus",
            "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin",
        }


@dataclass(frozen=True)
class Result:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class CommandFailed(RoostError):
    def __init__(self, shown: str, result: Result) -> None:
        detail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        super().__init__(
            f"command failed (exit {result.returncode}): {shown}" + ("\n  " + "\n  ".join(detail) if detail else ""),
        )
        self.result = result


class Host(Protocol):
    """The seam unit tests fake: commands plus the few file operations roost needs."""

    def run(
        self,
        argv: list[str],
        *,
        user: AppUser | None = None,
        stdin: str | None = None,
        mutates: bool = False,
        check: bool = True,
        timeout: float | None = None,
    ) -> Result: ...

    def read_file(self, path: str) -> str | None: ...

    def stat(self, path: str) -> FileStat | None: ...

    def write_file(self, path: str, content: str, *, mode: int, uid: int, gid: int) -> None: ...

    def exists(self, path: str) -> bool: ...

    def make_dir(self, path: str, *, mode: int, uid: int, gid: int) -> None: ...

    def remove_file(self, path: str) -> None: ...

    def append_file(self, path: str, content: str, *, mode: int, uid: int, gid: int) -> None: ...

    def fix_file(self, path: str, *, mode: int, uid: int, gid: int) -> None: ...

    def list_dir(self, path: str) -> list[tuple[str, FileStat]] | None: ...

    def check_no_links(self, path: str) -> None: ...

    def add_secret(self, value: str) -> None: ...

    def mask(self, text: str) -> str: ...

    def pipe(
        self,
        source: list[str],
        sink: list[str],
        *,
        user: AppUser,
        tap: Callable[[bytes], None] | None = None,
        timeout: float | None = None,
    ) -> Result: ...

    def exec_interactive(self, argv: list[str], *, user: AppUser | None = None) -> None: ...


@dataclass
class Runner:
    """Runs commands on this machine. `dry_run` refuses every mutation instead of running it."""

    dry_run: bool = False
    secrets: list[str] = field(default_factory=list)
    record: list[str] = field(default_factory=list)  # every mutation, masked, in order
    audit_log: str | None = AUDIT_LOG

    def _audit(self, what: str) -> None:
        self.record.append(what)
        log.info("%s", what)
        if not self.audit_log:
            return
        try:
            os.makedirs(os.path.dirname(self.audit_log), mode=0o700, exist_ok=True)
            fd = os.open(self.audit_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a") as fh:
                fh.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} pid={os.getpid()} {what}\n")
        except OSError:
            pass  # the audit log is a convenience; the command's outcome is what matters

    def mask(self, text: str) -> str:
        for s in sorted(self.secrets, key=len, reverse=True):
            if s:
                text = text.replace(s, MASK)
        return text

    def wrap(self, argv: list[str], user: AppUser | None, timeout: float = USER_TIMEOUT,
             scope: str | None = None) -> list[str]:
        """argv as `user` (None: root). Root reaches the user through a transient scope in the
        user's slice (stopped after `timeout`, named `scope`) and setpriv (no PAM, no session of
        root's, the user's own groups only); the caller starts it in a new session."""
        if user is None:
            return list(argv)
        env = ["env", "-i", *(f"{k}={v}" for k, v in user.env().items())]
        if os.geteuid() == user.uid:  # already the app user (e.g. in its nightly backup hook)
            return [*env, *argv]
        drop = ["setpriv", f"--reuid={user.uid}", f"--regid={_gid(user)}", "--init-groups", "--"]
        if not os.path.isdir(SYSTEMD):  # no systemd (unit tests on a plain machine): no slice to enter
            return [*drop, *env, *argv]
        enter = ["systemd-run", "--scope", "--quiet", "--collect", f"--slice=user-{user.uid}.slice",
                 f"--unit={scope or scope_name(user)}", "-p", f"RuntimeMaxSec={max(int(timeout) + 1, 2)}",
                 "-p", "TimeoutStopSec=3", "--"]
        return [*enter, *drop, *env, *argv]

    def _spawn(self, argv: list[str], user: AppUser | None, timeout: float | None, **kw) -> tuple[subprocess.Popen, str]:
        """Start argv (as `user`: in a new session, cwd /, in its slice). Returns the process and its scope."""
        scope = scope_name(user) if user is not None else ""
        full = self.wrap(argv, user, timeout or USER_TIMEOUT, scope) if user is not None else list(argv)
        if user is None:  # root's reads answer the same from any terminal (`ss` pads to COLUMNS)
            kw.setdefault("env", {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")})
        proc = subprocess.Popen(full, cwd="/", start_new_session=user is not None, close_fds=True, **kw)
        return proc, scope

    def _kill(self, proc: subprocess.Popen, user: AppUser | None, scope: str) -> None:
        """Kill a command that ran out of time: its process group and, as an app user, its whole
        scope (whatever it forked or double-forked)."""
        try:
            os.killpg(proc.pid, signal.SIGKILL) if user is not None else proc.kill()
        except (ProcessLookupError, PermissionError):
            pass
        if user is not None and scope and os.geteuid() == 0 and os.path.isdir(SYSTEMD):
            subprocess.run(["systemctl", "kill", "--signal=SIGKILL", f"{scope}.scope"], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=30, check=False)

    def run(
        self,
        argv: list[str],
        *,
        user: AppUser | None = None,
        stdin: str | None = None,
        mutates: bool = False,
        check: bool = True,
        timeout: float | None = None,
    ) -> Result:
        shown = self.mask(" ".join(_quote(a) for a in argv)) + (f"  (as {user.name})" if user else "")
        if mutates:
            if self.dry_run:
                raise RoostError(f"refusing to run a mutating command in dry-run: {shown}")
            self._audit(f"run {shown}")
        else:
            log.debug("read: %s", shown)
        started = time.monotonic()
        if user is not None and timeout is None:
            timeout = USER_TIMEOUT
        try:
            proc, scope = self._spawn(argv, user, timeout, stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8",
                                      errors="replace")  # a LATIN1 dump or a binary name must not crash roost
        except FileNotFoundError:
            proc = None
        if proc is None:
            out, err, code = "", f"{argv[0]}: command not found", 127
        else:
            try:
                out, err = proc.communicate(stdin, timeout=timeout)
            except subprocess.TimeoutExpired:
                self._kill(proc, user, scope)
                proc.communicate()
                raise RoostError(f"timed out after {timeout:.0f}s: {shown}") from None
            code = proc.returncode
        result = Result(tuple(argv), code, self.mask(out), self.mask(err))
        log.debug("exit %s after %.2fs", code, time.monotonic() - started)
        if check and not result.ok:
            raise CommandFailed(shown, result)
        return result

    # Files: every path is walked safely (host/safefs.py), so a link or FIFO the app user
    # planted in its home never redirects or hangs root.
    def read_file(self, path: str) -> str | None:
        return safefs.read_text(path)

    def stat(self, path: str) -> FileStat | None:
        return safefs.lstat(path)

    def exists(self, path: str) -> bool:
        return os.path.exists(path)  # system paths (helper binaries, /run/user/UID/bus); a dangling link does not count

    def list_dir(self, path: str) -> list[tuple[str, FileStat]] | None:
        return safefs.list_dir(path)

    def check_no_links(self, path: str) -> None:
        safefs.check_no_links(path)

    def add_secret(self, value: str) -> None:
        """From now on, `value` is masked in everything shown or logged."""
        if value and value not in self.secrets:
            self.secrets.append(value)

    def _mutation(self, what: str) -> None:
        if self.dry_run:
            raise RoostError(f"refusing to {what} in dry-run")
        self._audit(self.mask(what))

    def make_dir(self, path: str, *, mode: int, uid: int, gid: int) -> None:
        self._mutation(f"mkdir {path} (mode {mode:04o}, owner {uid}:{gid})")
        safefs.make_dir(path, mode, uid, gid)

    def remove_file(self, path: str) -> None:
        st = safefs.lstat(path)
        if st is not None:
            self._mutation(f"remove {path}")
            safefs.remove(path)

    def write_file(self, path: str, content: str, *, mode: int, uid: int, gid: int) -> None:
        """Atomically replace `path`: the new file has its final mode and owner before it is visible."""
        self._mutation(f"write {path} (mode {mode:04o}, owner {uid}:{gid})")
        safefs.write_file(path, content.encode(), mode, uid, gid)

    def pipe(
        self,
        source: list[str],
        sink: list[str],
        *,
        user: AppUser,
        tap: Callable[[bytes], None] | None = None,
        timeout: float | None = None,
    ) -> Result:
        """`source | sink`, both as the app user, with root in the middle passing the bytes on and
        showing each chunk to `tap` (a checksum, a verifier). Streams: nothing is held in memory,
        and root never opens a path of the app's home. If `tap` raises, both are killed and it
        propagates. The result's returncode is the first failure of source, then sink."""
        shown = self.mask(" ".join(_quote(a) for a in source) + " | " + " ".join(_quote(a) for a in sink))
        shown += f"  (as {user.name})"
        if self.dry_run:
            raise RoostError(f"refusing to run a mutating command in dry-run: {shown}")
        self._audit(f"run {shown}")
        with tempfile.TemporaryFile() as err1, tempfile.TemporaryFile() as err2, tempfile.TemporaryFile() as out2:
            limit = timeout or USER_TIMEOUT
            try:
                src, src_scope = self._spawn(source, user, limit, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                             stderr=err1)
            except FileNotFoundError:
                return Result(tuple(source), 127, "", f"{source[0]}: command not found")
            try:
                dst, dst_scope = self._spawn(sink, user, limit, stdin=subprocess.PIPE, stdout=out2, stderr=err2)
            except FileNotFoundError:
                self._kill(src, user, src_scope)
                src.wait()
                return Result(tuple(sink), 127, "", f"{sink[0]}: command not found")
            timed_out = threading.Event()

            def kill() -> None:
                timed_out.set()
                for p, scope in ((src, src_scope), (dst, dst_scope)):
                    self._kill(p, user, scope)

            timer = threading.Timer(limit, kill)
            timer.start()
            assert src.stdout is not None and dst.stdin is not None
            try:
                while chunk := os.read(src.stdout.fileno(), 1 << 20):
                    if tap:
                        tap(chunk)
                    try:
                        dst.stdin.write(chunk)
                    except BrokenPipeError:
                        break  # the sink gave up: its exit status says why
                try:
                    dst.stdin.close()
                except BrokenPipeError:
                    pass
            except BaseException:
                kill()
                timed_out.clear()
                raise
            finally:
                timer.cancel()
                src.stdout.close()
                codes = (src.wait(), dst.wait())
            if timed_out.is_set():
                raise RoostError(f"timed out after {limit:.0f}s: {shown}")
            texts = []
            for fh in (err1, err2, out2):
                fh.seek(0)
                texts.append(self.mask(fh.read(1 << 16).decode(errors="replace")))
        failed = next(((argv, c) for argv, c in ((source, codes[0]), (sink, codes[1])) if c != 0), None)
        argv, code = failed or (source, 0)
        stderr = texts[0] if failed is None or failed[0] is source else texts[1]
        return Result(tuple(argv), code, texts[2], stderr)

    def append_file(self, path: str, content: str, *, mode: int, uid: int, gid: int) -> None:
        self._mutation(f"append to {path}")
        safefs.append_file(path, content.encode(), mode, uid, gid)

    def fix_file(self, path: str, *, mode: int, uid: int, gid: int) -> None:
        """Mode and owner of an existing regular file, through a checked fd (no links, one hard link)."""
        self._mutation(f"chmod {mode:04o} and chown {uid}:{gid} {path}")
        safefs.fix_file(path, mode, uid, gid)

    def exec_interactive(self, argv: list[str], *, user: AppUser | None = None) -> None:
        """Hand the terminal over (roost shell, logs -f): replaces this process. The one
        interactive path as the app user: on a new pseudo-terminal of its own (runuser --pty),
        never on root's, or its processes could push keystrokes into root's shell (TIOCSTI)
        after roost is gone. Without a terminal it gets a new session instead."""
        if user is None:
            full = list(argv)
        else:
            env = ["env", "-i", *(f"{k}={v}" for k, v in user.env().items())]
            full = ["runuser", "--pty", "-u", user.name, "--", *env, *argv] if os.isatty(0) else \
                ["setsid", "--wait", "runuser", "-u", user.name, "--", *env, *argv]
            if os.geteuid() == user.uid:
                full = [*env, *argv]
        os.chdir(user.home if user and os.path.isdir(user.home) else "/")  # the shell starts at home
        os.execvp(full[0], full)


def scope_name(user: AppUser) -> str:
    """A unit name for one command's scope: the timeout kills exactly it."""
    return f"roost-{user.name}-{uuid.uuid4().hex[:12]}"


def _gid(user: AppUser) -> int:
    import pwd

    try:
        return pwd.getpwnam(user.name).pw_gid
    except KeyError:
        raise RoostError(f"there is no user {user.name} on this host",
                         hint="`roost apply` the app's spec to create it") from None


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)
