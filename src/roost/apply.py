"""The pipeline: spec -> facts -> plan -> apply. `execute` is the only code that mutates the host."""

from __future__ import annotations

import contextlib
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
from roost.host.state import AppFacts, SystemFacts, gather_app, gather_system
from roost.layout import Layout
from roost.pgmajor import guard as pg_guard
from roost.pgmajor import pg_version_files
from roost.host.safefs import UnsafePath
from roost.plan.actions import Action, DaemonReload, Plan, StartUnits
from roost.plan.identity import resolve
from roost.plan.planner import Inputs, check_conflicts, check_home, plan
from roost.render.app import Desired, Identity, render
from roost.render.envfile import parse_env
from roost.spec.load import load_spec
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


def check_host_paths(spec: Spec, host: Host) -> None:
    """What a container mounts must be what the spec names: a host path outside the home
    passes through no link at all; one inside passes through none the app user could plant
    (the safe walk refuses those). Checked at plan time and again just before units start."""
    for cname, c in sorted(spec.containers.items()):
        for vol in c.mounts:
            path = spec.host_path(vol.source)
            try:
                if path.startswith(spec.home + "/"):
                    st = host.stat(path)
                    if st is not None and st.is_link:
                        raise UnsafePath(path, "is a symbolic link")
                else:
                    host.check_no_links(path)
            except UnsafePath as e:
                raise UsageError(f"containers.{cname}.volumes: {e.message}", hint=e.hint) from None


def roost_command() -> tuple[str, ...]:
    """How the app's own units (backup timer, pre-update hook) run this roost."""
    import sys

    # sys.prefix, not sys.executable: the same interpreter is reached as venv/bin/python via the
    # console script or as python3 via `python3 -m roost`; the units must not change with that
    return (os.path.join(sys.prefix, "bin", "python3"), "-m", "roost")


def prepare(spec_path: str | Path, host: Host) -> Prepared:
    spec_path = Path(spec_path).resolve()
    spec = load_spec(spec_path)
    env_files = read_env_files(spec, spec_path)
    system = gather_system(host)
    identity = resolve(spec, system)
    check_conflicts(spec, system, identity.uid)
    try:
        home = host.stat(spec.home)
        entries = host.list_dir(spec.home) if home is not None and home.is_dir else None
        check_host_paths(spec, host)
    except UnsafePath as e:
        raise UsageError(e.message, hint=e.hint) from None
    check_home(spec, system, identity.uid, home, entries)
    desired = render(spec, identity, env_files, str(spec_path), spec_path.read_text(), roost_command())
    user = AppUser(spec.name, identity.uid, spec.home) if spec.name in system.users else None
    app = gather_app(
        host, desired.layout, user,
        dirs=[d.path for d in (*desired.state_dirs, *desired.dirs)] + [spec.home.rsplit("/", 1)[0] or "/"],
        files=[f.path for f in (*desired.state_files, *desired.files)] + list(pg_version_files(spec).values())
        + [desired.layout.legacy_record],
        secret_names=sorted(spec.secrets),
        units=list(desired.units),
    )
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
        self.host.write_file(self.layout.secret_digests_file, json.dumps(self.secret_digests, sort_keys=True) + "\n",
                             mode=0o600, uid=0, gid=0)


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
        if isinstance(action, (DaemonReload, StartUnits)):
            check_host_paths(prep.spec, host)  # again: links may have appeared since the plan
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
