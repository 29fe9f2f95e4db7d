"""One lab machine: its state directory, its nspawn process, and running commands inside."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from roost.errors import RoostError, UsageError
from roost.lab import config
from roost.lab.proc import run

CACHE_DIR = Path(os.environ.get("ROOST_LAB_CACHE", "/var/cache/roost/lab"))
STATE_DIR = Path(os.environ.get("ROOST_LAB_STATE", "/var/lib/roost/lab"))

# nspawn processes this Python process started: polled so that they do not linger as zombies
# (a zombie still has a /proc entry and would look alive).
_started: dict[int, subprocess.Popen[bytes]] = {}


def _pid_alive(pid: int) -> bool:
    if pid in _started:
        return _started[pid].poll() is None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


@dataclass(frozen=True)
class User:
    """A user inside the lab that commands can run as (rootless podman, systemctl --user)."""

    name: str
    uid: int

    @property
    def home(self) -> str:
        return f"/home/{self.name}"


@dataclass(frozen=True)
class Machine:
    name: str

    def __post_init__(self) -> None:
        if not config.MACHINE_NAME.match(self.name):
            raise UsageError(f"bad lab name {self.name!r}", "use lowercase letters, digits and dashes, e.g. roost-lab")

    @property
    def dir(self) -> Path:
        return STATE_DIR / self.name

    @property
    def rootfs(self) -> Path:
        return self.dir / "rootfs"

    @property
    def console_log(self) -> Path:
        return self.dir / "console.log"

    @property
    def _pid_file(self) -> Path:
        return self.dir / "nspawn.pid"

    @property
    def exists(self) -> bool:
        return (self.rootfs / "etc" / "os-release").exists()

    def nspawn_pid(self) -> int | None:
        """The pid of our systemd-nspawn process, if it is still alive (and is really ours)."""
        try:
            pid = int(self._pid_file.read_text())
        except (OSError, ValueError):
            return None
        cmd = _cmdline(pid)
        if not _pid_alive(pid) or not cmd or "systemd-nspawn" not in cmd[0] or f"--directory={self.rootfs}" not in cmd:
            return None
        return pid

    def _process_alive(self) -> bool:
        try:
            return _pid_alive(int(self._pid_file.read_text()))
        except (OSError, ValueError):
            return False

    def leader(self) -> int | None:
        """The container's PID 1 (systemd), a child of the nspawn process."""
        pid = self.nspawn_pid()
        if pid is None:
            return None
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return None
        for child in map(int, children):
            try:
                if Path(f"/proc/{child}/comm").read_text().strip() == "systemd":
                    return child
            except OSError:
                continue
        return None

    @property
    def running(self) -> bool:
        return self.nspawn_pid() is not None

    def system_state(self) -> str:
        """'stopped', or what `systemctl is-system-running` says (starting, running, degraded...)."""
        leader = self.leader()
        if leader is None:
            return "booting" if self.running else "stopped"
        cp = run(config.nsenter_argv(leader, ["systemctl", "is-system-running"]), check=False, timeout=30)
        return (cp.stdout or "").strip().splitlines()[-1] if (cp.stdout or "").strip() else "unknown"

    def argv(self, argv: Sequence[str], *, user: User | None = None, env: dict[str, str] | None = None) -> list[str]:
        """The machine-side argv that runs argv inside the lab (optionally as a user)."""
        leader = self.leader()
        if leader is None:
            raise RoostError(f"lab {self.name} is not running", f"start it with `roost lab up --name {self.name}`")
        if user is not None:
            argv = config.as_user_argv(user.name, user.uid, user.home, argv)
        return config.nsenter_argv(leader, argv, env=env)

    def exec(
        self,
        argv: Sequence[str],
        *,
        check: bool = True,
        capture: bool = True,
        user: User | None = None,
        env: dict[str, str] | None = None,
        timeout: float | None = None,
        what: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return run(self.argv(argv, user=user, env=env), check=check, capture=capture, timeout=timeout, what=what)

    def boot(self) -> None:
        """Start systemd-nspawn in its own session, console to console.log, and remember its pid."""
        with open(self.console_log, "ab") as log:
            proc = subprocess.Popen(
                config.boot_argv(self.rootfs, self.name),
                env=config.BOOT_ENV,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _started[proc.pid] = proc
        self._pid_file.write_text(f"{proc.pid}\n")

    def wait_running(self, timeout: float = 180) -> str:
        """Wait until systemd inside has finished booting; returns 'running' or 'degraded'."""
        deadline = time.monotonic() + timeout
        state = "booting"
        while time.monotonic() < deadline:
            if not self._process_alive():
                raise RoostError(
                    f"lab {self.name} stopped while booting", f"see its console log: {self.console_log}"
                )
            state = self.system_state()
            if state in ("running", "degraded"):
                return state
            time.sleep(0.5)
        raise RoostError(
            f"lab {self.name} did not finish booting in {timeout:.0f}s (state: {state})",
            f"see {self.console_log}, or `roost lab exec {self.name} -- systemctl list-jobs`",
        )

    def poweroff(self, timeout: float = 60) -> None:
        """Clean shutdown through systemd inside; SIGKILL the nspawn process if it hangs."""
        pid = self.nspawn_pid()
        if pid is None:
            return
        leader = self.leader()
        if leader is not None:
            # SIGRTMIN+4 asks systemd for poweroff.target, like `machinectl poweroff`.
            os.kill(leader, signal.SIGRTMIN + 4)
        else:
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _pid_alive(pid):
                break
            time.sleep(0.2)
        else:
            os.killpg(pid, signal.SIGKILL)
            while _pid_alive(pid):
                time.sleep(0.1)
        _started.pop(pid, None)
        self._pid_file.unlink(missing_ok=True)


def all_machines() -> list[Machine]:
    if not STATE_DIR.is_dir():
        return []
    return [Machine(p.name) for p in sorted(STATE_DIR.iterdir()) if p.is_dir() and config.MACHINE_NAME.match(p.name)]
