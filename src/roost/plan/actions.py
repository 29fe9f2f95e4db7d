"""What `apply` does, one small typed action at a time.

Each action knows how to describe itself (for `roost plan`) and which commands it runs
(argv lists, through the one Runner). Only apply.py calls `execute`.
"""

from __future__ import annotations

import json
import re
import secrets as random_secrets
import string
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import roost.units as units
from roost.errors import RoostError
from roost.host.facts import user_manager_running
from roost.render.desired import DirWant, FileWant, SecretEnvWant, secret_digest

if TYPE_CHECKING:
    from roost.plan.context import Context

SECRET_ALPHABET = string.ascii_letters + string.digits  # safe inside URLs and env files


class Action:

    def describe(self) -> str:
        raise NotImplementedError

    def detail(self) -> str | None:
        return None

    def execute(self, ctx: Context) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class InstallPackages(Action):
    manager: str
    packages: tuple[str, ...]

    def describe(self) -> str:
        return f"install {', '.join(self.packages)} with {self.manager}"

    def execute(self, ctx: Context) -> None:
        if self.manager == "apt-get":
            ctx.host.run(["apt-get", "update", "-q"], mutates=True, timeout=600)
            ctx.host.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *self.packages],
                         mutates=True, timeout=1800)
        else:
            ctx.host.run([self.manager, "install", "-y", *self.packages], mutates=True, timeout=1800)


@dataclass(frozen=True)
class CreateGroup(Action):
    name: str
    gid: int

    def describe(self) -> str:
        return f"create group {self.name} (GID {self.gid})"

    def execute(self, ctx: Context) -> None:
        ctx.host.run(["groupadd", "-g", str(self.gid), self.name], mutates=True)


@dataclass(frozen=True)
class CreateUser(Action):
    name: str
    uid: int
    gid: int
    home: str

    def describe(self) -> str:
        return f"create user {self.name} (UID {self.uid}, GID {self.gid}, home {self.home}, shell /usr/sbin/nologin)"

    def execute(self, ctx: Context) -> None:
        # -K SUB_*_COUNT=0: useradd would otherwise pick a subordinate range itself; roost places it
        ctx.host.run([
            "useradd", "-u", str(self.uid), "-g", str(self.gid), "-d", self.home, "-M",
            "-s", "/usr/sbin/nologin", "-c", f"roost app {self.name}",
            "-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0", self.name,
        ], mutates=True)


@dataclass(frozen=True)
class AddSubIds(Action):
    name: str
    start: int
    count: int
    uids: bool = True
    gids: bool = True

    def describe(self) -> str:
        which = " and ".join(w for w, on in (("UIDs", self.uids), ("GIDs", self.gids)) if on)
        return f"give {self.name} subordinate {which} {self.start}-{self.start + self.count - 1}"

    def execute(self, ctx: Context) -> None:
        span = f"{self.start}-{self.start + self.count - 1}"
        argv = ["usermod"]
        if self.uids:
            argv += ["--add-subuids", span]
        if self.gids:
            argv += ["--add-subgids", span]
        ctx.host.run([*argv, self.name], mutates=True)


@dataclass(frozen=True)
class MakeDir(Action):
    want: DirWant
    exists: bool = False

    def describe(self) -> str:
        verb = "fix mode/owner of" if self.exists else "create directory"
        return f"{verb} {self.want.path} (mode {self.want.mode:04o}, owner {self.want.uid}:{self.want.gid})"

    def execute(self, ctx: Context) -> None:
        ctx.host.make_dir(self.want.path, mode=self.want.mode, uid=self.want.uid, gid=self.want.gid)


@dataclass(frozen=True)
class MakeDirs(Action):
    wants: tuple[DirWant, ...]
    fix: tuple[str, ...] = ()  # the ones that exist with the wrong mode or owner

    def describe(self) -> str:
        lines = [f"{'fix mode/owner of' if w.path in self.fix else 'create'} {w.path} "
                 f"({w.mode:04o}, {w.uid}:{w.gid})" for w in self.wants]
        return f"directories ({len(self.wants)}):\n       " + "\n       ".join(lines)

    def execute(self, ctx: Context) -> None:
        for w in self.wants:
            ctx.host.make_dir(w.path, mode=w.mode, uid=w.uid, gid=w.gid)


@dataclass(frozen=True)
class EnableLinger(Action):
    name: str
    uid: int

    def describe(self) -> str:
        return f"enable linger for {self.name} and wait for its user manager (user@{self.uid}.service)"

    def execute(self, ctx: Context) -> None:
        ctx.host.run(["loginctl", "enable-linger", self.name], mutates=True)
        wait_user_manager(ctx, self.uid)


@dataclass(frozen=True)
class StartUserManager(Action):
    uid: int

    def describe(self) -> str:
        return f"start the user manager user@{self.uid}.service"

    def execute(self, ctx: Context) -> None:
        ctx.host.run(["systemctl", "start", f"user@{self.uid}.service"], mutates=True)
        wait_user_manager(ctx, self.uid)


def wait_user_manager(ctx: Context, uid: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if user_manager_running(ctx.host, uid):
            return
        time.sleep(0.2)
    raise RoostError(f"user@{uid}.service did not start within {timeout:.0f}s",
                     hint=f"look at `journalctl -u user@{uid}.service`; `roost doctor` checks linger and logind")


@dataclass(frozen=True)
class WriteFile(Action):
    want: FileWant
    old: str | None = None
    content_changed: bool = True

    def describe(self) -> str:
        if self.old is None:
            return f"create {self.want.path} (mode {self.want.mode:04o})"
        if not self.content_changed:
            return f"fix mode/owner of {self.want.path} ({self.want.mode:04o}, {self.want.uid}:{self.want.gid})"
        return f"update {self.want.path}"

    def detail(self) -> str | None:
        if not self.content_changed:
            return None
        old, new = self.old or "", self.want.content
        if self.want.sensitive:
            old, new = mask_env(old), mask_env(new)
        import difflib  # only when a diff is shown

        diff = difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                    fromfile=f"a{self.want.path}" if self.old is not None else "/dev/null",
                                    tofile=f"b{self.want.path}")
        return "".join(diff)

    def execute(self, ctx: Context) -> None:
        w = self.want
        ctx.host.write_file(w.path, w.content, mode=w.mode, uid=w.uid, gid=w.gid)


def mask_env(text: str) -> str:
    return re.sub(r"^([A-Za-z_][A-Za-z0-9_]*=).+$", r"\1••••••", text, flags=re.M)


@dataclass(frozen=True)
class GenerateSecret(Action):
    name: str
    length: int
    path: str
    uid: int
    gid: int

    def describe(self) -> str:
        return f"generate secret {self.name} ({self.length} characters) into {self.path} (mode 0600)"

    def execute(self, ctx: Context) -> None:
        value = ctx.seeds.get(self.name) or "".join(random_secrets.choice(SECRET_ALPHABET) for _ in range(self.length))
        ctx.host.add_secret(value)
        ctx.host.write_file(self.path, value + "\n", mode=0o600, uid=self.uid, gid=self.gid)
        ctx.secrets[self.name] = value


@dataclass(frozen=True)
class PutPodmanSecret(Action):
    want: SecretEnvWant
    replace: bool = False

    def describe(self) -> str:
        verb = "update" if self.replace else "create"
        return f"{verb} podman secret {self.want.name} ({self.want.var} of {self.want.container}, value hidden)"

    def execute(self, ctx: Context) -> None:
        value = self.want.resolve(ctx.secrets)
        if value is None:
            raise RoostError(f"a secret that {self.want.var} needs is missing")
        ctx.host.add_secret(value)
        ctx.host.run(["podman", "secret", "create", "--replace", self.want.name, "-"],
                     user=ctx.user, stdin=value, mutates=True)
        ctx.secret_digests[self.want.name] = secret_digest(value)
        ctx.save_secret_digests()


@dataclass(frozen=True)
class MarkPending(Action):
    """Written before unit inputs change, removed after the restart: a crash in between is redone."""

    daemon_reload: bool
    restart: tuple[str, ...]

    def describe(self) -> str:
        return "note the units to reload and restart (so an interrupted apply is finished by the next)"

    def execute(self, ctx: Context) -> None:
        from roost.host.facts import Pending

        ctx.host.write_file(ctx.layout.pending_file, Pending(self.daemon_reload, self.restart).dump(),
                            mode=0o600, uid=0, gid=0)


@dataclass(frozen=True)
class DaemonReload(Action):
    def describe(self) -> str:
        return "systemctl --user daemon-reload (Quadlet turns the unit files into services)"

    def execute(self, ctx: Context) -> None:
        ctx.host.run(["systemctl", "--user", "daemon-reload"], user=ctx.user, mutates=True)


@dataclass(frozen=True)
class SystemReload(Action):
    """The system manager reads root's unit files again (the app's slice ceiling takes effect at once)."""

    why: str

    def describe(self) -> str:
        return f"systemctl daemon-reload ({self.why})"

    def execute(self, ctx: Context) -> None:
        ctx.host.run(["systemctl", "daemon-reload"], mutates=True)


@dataclass(frozen=True)
class PullImage(Action):
    image: str

    def describe(self) -> str:
        return f"pull {self.image}"

    def execute(self, ctx: Context) -> None:
        with ctx.ui.status(f"pulling {self.image}"):
            ctx.host.run(["podman", "pull", "--quiet", self.image], user=ctx.user, mutates=True, timeout=1800)


@dataclass(frozen=True)
class StartUnits(Action):
    units: tuple[str, ...]
    restart: bool = False
    reason: str = ""

    def describe(self) -> str:
        verb = "restart" if self.restart else "start"
        why = f" ({self.reason})" if self.reason else ""
        return f"{verb} {', '.join(self.units)}{why}"

    def execute(self, ctx: Context) -> None:
        verb = "restart" if self.restart else "start"
        # a unit that failed repeatedly is held back by its start limit until reset
        ctx.host.run(["systemctl", "--user", "reset-failed", *self.units], user=ctx.user, mutates=True, check=False)
        with ctx.ui.status(f"{verb}ing {', '.join(self.units)} and waiting until healthy"):
            result = ctx.host.run(["systemctl", "--user", verb, *self.units], user=ctx.user, mutates=True,
                                  check=False, timeout=ctx.health_timeout + 30)
        if not result.ok:
            raise RoostError(
                f"{', '.join(self.units)} did not become ready: {result.stderr.strip()}",
                hint=f"see `roost logs {ctx.layout.name}` and `roost status {ctx.layout.name}`",
            )


@dataclass(frozen=True)
class RemoveFile(Action):
    path: str
    why: str

    def describe(self) -> str:
        return f"remove {self.path} ({self.why})"

    def execute(self, ctx: Context) -> None:
        ctx.host.remove_file(self.path)


@dataclass(frozen=True)
class RunCommand(Action):
    """One described command, as root or as the app user. A teardown step: its failure (a
    unit already gone) does not stop the steps after it unless `must_succeed`."""

    what: str
    argv: tuple[str, ...]
    as_user: bool = False
    must_succeed: bool = False
    timeout: float | None = None

    def describe(self) -> str:
        return self.what

    def execute(self, ctx: Context) -> None:
        ctx.host.run(list(self.argv), user=ctx.user if self.as_user else None, mutates=True,
                     check=self.must_succeed, timeout=self.timeout)


@dataclass(frozen=True)
class ClearPending(Action):
    def describe(self) -> str:
        return "clear the note of pending restarts"

    def execute(self, ctx: Context) -> None:
        ctx.host.remove_file(ctx.layout.pending_file)


@dataclass(frozen=True)
class EnableTimer(Action):
    unit: str = units.AUTO_UPDATE_TIMER

    def describe(self) -> str:
        what = "nightly image updates" if self.unit == units.AUTO_UPDATE_TIMER else "scheduled backups"
        return f"systemctl --user enable --now {self.unit} ({what})"

    def execute(self, ctx: Context) -> None:
        ctx.host.run(["systemctl", "--user", "enable", "--now", self.unit], user=ctx.user, mutates=True)


@dataclass(frozen=True)
class EnableNotify(Action):
    """Root watches the app user's spool directory (roost-notify@NAME.path) and sends its events."""

    app: str
    reload: bool = True

    def describe(self) -> str:
        return f"systemctl enable --now {units.notify_path(self.app)} (notifications)"

    def execute(self, ctx: Context) -> None:
        if self.reload:
            ctx.host.run(["systemctl", "daemon-reload"], mutates=True)
        ctx.host.run(["systemctl", "enable", "--now", units.notify_path(self.app)], mutates=True)


@dataclass
class Plan:
    app: str
    actions: list[Action] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # why things were left alone

    @property
    def empty(self) -> bool:
        return not self.actions

    def to_json(self) -> str:
        return json.dumps({
            "app": self.app,
            "changes": [{"action": type(a).__name__, "description": a.describe()} for a in self.actions],
            "notes": self.notes,
        }, indent=2)
