"""The pipeline: spec -> facts -> plan -> apply (the plan runs through plan/execute.py, which `down` shares)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roost import history
from roost.command import roost_command
from roost.errors import RoostError, UsageError
from roost.frontdoor.state import gather_front
from roost.host.facts import (
    AppFacts,
    SystemFacts,
    gather_app,
    gather_system,
    images_json,
    running_images,
)
from roost.host.runner import AppUser, Host
from roost.host.safefs import UnsafePath
from roost.notify import notify_watch_active, read_notify_urls
from roost.pgmajor import guard as pg_guard
from roost.pgmajor import pg_version_files
from roost.plan.actions import Action, DaemonReload, Plan, StartUnits
from roost.plan.context import Context
from roost.plan.execute import execute_plan
from roost.plan.identity import resolve
from roost.plan.planner import Inputs, check_conflicts, check_home, plan
from roost.render.desired import Desired, render, slice_dropin
from roost.spec.envfiles import read_env_files
from roost.spec.load import load_spec, parse_spec
from roost.spec.model import Spec
from roost.upgrade_marker import refuse_if_pending


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


def prepare(spec_path: str | Path, host: Host, spec_text: str | None = None) -> Prepared:
    """spec_text: apply this text (the applied spec, for `roost reapply`) instead of the file's;
    files the spec names (env_file, notify.urls_file) are still found beside spec_path."""
    spec_path = Path(spec_path).resolve()
    spec = parse_spec(spec_text, str(spec_path)) if spec_text is not None else load_spec(spec_path)
    env_files = read_env_files(spec, spec_path)
    notify_urls = read_notify_urls(spec, spec_path)
    for url in notify_urls:  # secrets: masked wherever a command or its output is shown
        host.add_secret(url)
    system = gather_system(host)
    identity = resolve(spec, system)
    check_conflicts(spec, system, identity.uid)
    try:
        host.check_no_links(spec.home)  # the home rules read its spelling: it must be where it says
    except UnsafePath as e:
        raise UsageError(f"app.home: {e.message}", hint="write the folder's real path (no symbolic link)") from None
    try:
        home = host.stat(spec.home)
        entries = host.list_dir(spec.home) if home is not None and home.is_dir else None
        parent = host.stat(spec.home.rsplit("/", 1)[0] or "/")
        check_host_paths(spec, host)
    except UnsafePath as e:
        raise UsageError(e.message, hint=e.hint) from None
    check_home(spec, system, identity.uid, home, entries, parent)
    desired = render(spec, identity, env_files, str(spec_path),
                     spec_text if spec_text is not None else spec_path.read_text(), roost_command(),
                     notify_urls=notify_urls)
    user = AppUser(spec.name, identity.uid, spec.home) if spec.name in system.users else None
    app = gather_app(
        host, desired.layout, user,
        dirs=[d.path for d in (*desired.state_dirs, *desired.dirs)] + [spec.home.rsplit("/", 1)[0] or "/"],
        files=[f.path for f in (*desired.state_files, *desired.files)] + list(pg_version_files(spec).values())
        + [desired.layout.legacy_record, slice_dropin(identity.uid)],
        secret_names=sorted(spec.generated_secrets()),
        units=list(desired.units),
    )
    if spec.notify is not None:
        app = dataclasses.replace(app, notify_active=notify_watch_active(host, spec.name))
    pg_guard(spec, {p: c for p, (c, _) in app.files.items()})
    for value in app.secrets.values():
        host.add_secret(value)
    for values in env_files.values():  # a user's env file may hold credentials of its own
        for v in values.values():
            if len(v) >= 8:
                host.add_secret(v)
    front = gather_front(host, spec.name, wanted=spec.web is not None)
    return Prepared(spec, str(spec_path), system, desired, app, plan(Inputs(spec, system, desired, app, front)))


def execute(prep: Prepared, host: Host, ui, on_action=None, seeds: dict[str, str] | None = None) -> list[Action]:
    """Run the plan's actions in order. Stops at the first failure; the next apply finishes the job.
    `seeds`: values for secrets generated now (`roost recover` brings back the app's own)."""
    ctx = Context(
        host=host, layout=prep.desired.layout, identity=prep.desired.identity, user=prep.user, ui=ui,
        health_timeout=prep.spec.app.health_timeout_s,
        secrets=dict(prep.app.secrets), secret_digests=dict(prep.app.secret_digests), seeds=dict(seeds or {}),
    )
    def before(action: Action) -> None:
        if isinstance(action, (DaemonReload, StartUnits)):
            check_host_paths(prep.spec, host)  # again: links may have appeared since the plan

    return execute_plan(prep.plan.actions, ctx, on_action, before)


@dataclass
class Applied:
    """What one apply did, for the verb to print."""

    app: str
    changes: int
    seconds: float
    urls: list[str] = field(default_factory=list)
    entry: dict[str, Any] = field(default_factory=dict)  # the history entry


def apply(prep: Prepared, host: Host, ui: Any, on_action: Callable[[Action], None] | None = None,
          seeds: dict[str, str] | None = None) -> Applied:
    """Execute the plan and record it in the app's history, whatever the outcome. Refused while a
    db upgrade of the app waits to be finished or undone (it applies its own specs)."""
    refuse_if_pending(host, prep.desired.layout)
    started = time.monotonic()
    result: history.Outcome = "ok"
    error = None
    try:
        execute(prep, host, ui, on_action=on_action, seeds=seeds)
    except RoostError as e:
        result, error = "failed", e.message
        raise
    finally:
        entry: dict[str, Any] = {"spec": prep.spec_path, "spec_digest": prep.spec.digest(),
                                 "changes": len(prep.plan.actions), "seconds": round(time.monotonic() - started, 2),
                                 "error": host.mask(error) if error else None}
        if _user_exists(prep.spec.name):
            try:
                entry["images"] = images_json(running_images(host, prep.user, prep.spec.name, prep.spec.images))
            except RoostError:
                pass
        if host.stat(prep.spec.home) is not None:
            ident = prep.desired.identity
            entry = dict(history.record(host, prep.desired.layout, ident.uid, ident.gid, "apply", result, **entry))
    urls = [f"http://{'127.0.0.1' if p.ip == '0.0.0.0' else p.ip}:{p.host_port}/" for p in prep.spec.pod.ports
            if p.proto == "tcp"]
    if prep.spec.web is not None:
        urls.append(f"{prep.spec.web.url} (through caddy)")
    return Applied(prep.spec.name, len(prep.plan.actions), time.monotonic() - started, urls, entry)


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False
