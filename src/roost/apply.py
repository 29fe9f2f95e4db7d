"""The pipeline: spec -> facts -> plan -> apply. `execute` is the only code that mutates the host."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from roost.errors import RoostError, UsageError
from roost.history import who
from roost.host.runner import AppUser, Host
from roost.host.state import AppFacts, SystemFacts, gather_app, gather_system, secret_digests_path
from roost.layout import Layout
from roost.pgmajor import guard as pg_guard
from roost.pgmajor import pg_version_files
from roost.plan.actions import Action, Plan
from roost.plan.identity import resolve
from roost.plan.planner import Inputs, check_conflicts, plan
from roost.render.app import Desired, Identity, render
from roost.render.envfile import parse_env
from roost.spec.load import load_spec, parse_spec
from roost.spec.model import Spec, parse_duration


@dataclass
class Prepared:
    spec: Spec
    spec_path: str
    system: SystemFacts
    desired: Desired
    app: AppFacts
    plan: Plan

    @property
    def user(self) -> AppUser:
        return AppUser(self.spec.name, self.desired.identity.uid, self.spec.home)


def read_env_files(spec: Spec, spec_path: Path) -> dict[str, dict[str, str]]:
    out = {}
    for name, c in spec.containers.items():
        if c.env_file is None:
            continue
        path = spec_path.parent / c.env_file
        try:
            out[name] = parse_env(path.read_text())
        except FileNotFoundError:
            raise UsageError(f"{spec_path}: containers.{name}.env_file: {path} does not exist",
                             hint="create it beside the spec, or remove the key") from None
        except ValueError as e:
            raise UsageError(f"{path}: {e}", hint="write one KEY=VALUE per line") from None
    return out


INSTALL_PREFIX = "/opt/roost"  # scripts/install: root-owned, world-readable venv in INSTALL_PREFIX/venv


def read_notify_urls(spec: Spec, spec_path: Path) -> tuple[str, ...]:
    if spec.notify is None:
        return ()
    from roost.notify import parse_urls_file

    path = spec_path.parent / spec.notify.urls_file
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise UsageError(f"{spec_path}: notify.urls_file: {path} does not exist",
                         hint="create it beside the spec (one Apprise URL per line, mode 0600), or remove [notify]") from None
    return tuple(parse_urls_file(text, str(path)))


def roost_command() -> tuple[str, ...]:
    """How the app's own units (backup timer, pre-update hook, notifications) run roost. The
    installed roost when there is one: the app's user must be able to run it, and a checkout in
    root's home (0700) is out of its reach."""
    import sys

    installed = os.path.join(INSTALL_PREFIX, "venv", "bin", "python3")
    if os.path.exists(installed):
        return (installed, "-m", "roost")
    # sys.prefix, not sys.executable: the same interpreter is reached as venv/bin/python via the
    # console script or as python3 via `python3 -m roost`; the units must not change with that
    return (os.path.join(sys.prefix, "bin", "python3"), "-m", "roost")


def prepare(spec_path: str | Path, host: Host, spec_text: str | None = None) -> Prepared:
    """spec_text: apply this text (e.g. the applied copy, for `roost reapply`) instead of the file's;
    files the spec names (env_file) are still found beside spec_path."""
    spec_path = Path(spec_path).resolve()
    spec = parse_spec(spec_text, str(spec_path)) if spec_text is not None else load_spec(spec_path)
    env_files = read_env_files(spec, spec_path)
    notify_urls = read_notify_urls(spec, spec_path)
    for url in notify_urls:  # secrets: masked wherever a command or its output is shown
        host.add_secret(url)
    system = gather_system(host)
    identity = resolve(spec, system)
    check_conflicts(spec, system, identity.uid)
    desired = render(spec, identity, env_files, str(spec_path),
                     spec_text if spec_text is not None else spec_path.read_text(), roost_command(),
                     notify_urls=notify_urls)
    user = AppUser(spec.name, identity.uid, spec.home) if spec.name in system.users else None
    app = gather_app(
        host, desired.layout, user,
        dirs=[d.path for d in desired.dirs] + [spec.home.rsplit("/", 1)[0] or "/"],
        files=[f.path for f in desired.files] + list(pg_version_files(spec).values()),
        secret_names=sorted(spec.secrets),
        units=list(desired.units),
    )
    if spec.notify is not None:
        from roost.render.notify import path_unit

        active = host.run(["systemctl", "is-active", "--quiet", path_unit(spec.name)], check=False).ok
        app = dataclasses.replace(app, notify_active=active)
    pg_guard(spec, {p: c for p, (c, _) in app.files.items()})
    for value in app.secrets.values():
        host.add_secret(value)
    for values in env_files.values():  # a user's env file may hold credentials of its own
        for v in values.values():
            if len(v) >= 8:
                host.add_secret(v)
    return Prepared(spec, str(spec_path), system, desired, app, plan(Inputs(spec, system, desired, app)))


@dataclass
class Context:
    host: Host
    layout: Layout
    identity: Identity
    user: AppUser
    ui: object  # rich Console: status spinners
    health_timeout: float
    secrets: dict[str, str] = field(default_factory=dict)
    secret_digests: dict[str, str] = field(default_factory=dict)

    def save_secret_digests(self) -> None:
        self.host.write_file(secret_digests_path(self.layout), json.dumps(self.secret_digests, sort_keys=True) + "\n",
                             mode=0o600, uid=self.identity.uid, gid=self.identity.gid)


@contextlib.contextmanager
def app_lock(layout: Layout, wait: float = 600, say=print) -> Iterator[None]:
    """One mutating roost run per app at a time; a second one waits, then gives up clearly."""
    os.makedirs(os.path.dirname(layout.lock_file), exist_ok=True)
    fd = os.open(layout.lock_file, os.O_RDWR | os.O_CREAT, 0o666)
    if os.geteuid() == 0:
        os.fchmod(fd, 0o666)  # the app user's own timers (backups) take the same lock
    with os.fdopen(fd, "r+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another roost run"
            say(f"waiting for {holder} to finish with app {layout.name} ...")
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise RoostError(f"app {layout.name} is locked by {holder}",
                                         hint=f"wait for it to finish, or remove {layout.lock_file} if it is stale") from None
                    time.sleep(0.5)
        fh.seek(0)
        fh.truncate()
        fh.write(f"roost pid {os.getpid()} ({who()})\n")
        fh.flush()
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()


def lock_busy(layout: Layout) -> bool:
    """Whether a roost run holds the app's lock now (without waiting for it)."""
    try:
        fd = os.open(layout.lock_file, os.O_RDWR)
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


def execute(prep: Prepared, host: Host, ui, on_action=None) -> list[Action]:
    """Run the plan's actions in order. Stops at the first failure; the next apply finishes the job."""
    ctx = Context(
        host=host, layout=prep.desired.layout, identity=prep.desired.identity, user=prep.user, ui=ui,
        health_timeout=parse_duration(prep.spec.app.health_timeout),
        secrets=dict(prep.app.secrets), secret_digests=dict(prep.app.secret_digests),
    )
    done = []
    fault = fault_point()
    for action in prep.plan.actions:
        if on_action:
            on_action(action)
        name = type(action).__name__
        if fault == (name, "during"):
            _kill_self_soon()
        action.execute(ctx)
        if fault == (name, "after"):
            os.kill(os.getpid(), signal.SIGKILL)
        done.append(action)
    return done


def fault_point() -> tuple[str, str] | None:
    """Test hook for the fault-injection suite: ROOST_KILL_AT=CreateUser (after it) or
    PullImage:during. roost then dies by SIGKILL there, as a power cut or OOM kill would."""
    spec = os.environ.get("ROOST_KILL_AT")
    if not spec:
        return None
    action, _, when = spec.partition(":")
    return action, when or "after"


def _kill_self_soon(delay: float = 0.5) -> None:
    import threading

    threading.Timer(delay, os.kill, (os.getpid(), signal.SIGKILL)).start()
