"""The pipeline: spec -> facts -> plan -> apply (the plan runs through plan/execute.py, which `down` shares)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roost import history
from roost.command import roost_command
from roost.errors import RoostError
from roost.host.facts import AppFacts, SystemFacts, images_json, running_images
from roost.host.runner import AppUser, Host
from roost.host.state import HomeFacts, HostState, gather_paths, gather_state
from roost.notify import read_notify_urls
from roost.plan.actions import Action, DaemonReload, Plan, StartUnits
from roost.plan.checks import check_before_render, check_host_paths, check_pg
from roost.plan.context import Context
from roost.plan.execute import execute_plan
from roost.plan.identity import resolve
from roost.plan.planner import Inputs, plan
from roost.render.desired import Desired, render
from roost.spec.envfiles import read_env_files
from roost.spec.load import load_spec_text, parse_spec
from roost.spec.model import Spec
from roost.upgrade_marker import refuse_if_pending


@dataclass
class Prepared:
    spec: Spec
    spec_path: str
    state: HostState
    desired: Desired
    plan: Plan

    @property
    def system(self) -> SystemFacts:
        return self.state.system

    @property
    def app(self) -> AppFacts:
        return self.state.app

    @property
    def user(self) -> AppUser:
        return AppUser(self.spec.name, self.desired.identity.uid, self.spec.home)


def prepare(spec_path: str | Path, host: Host, spec_text: str | None = None) -> Prepared:
    """spec_text: apply this text (the applied spec, for `roost reapply`) instead of the file's;
    files the spec names (env_file, notify.urls_file) are still found beside spec_path."""
    spec_path = Path(spec_path).resolve()
    if spec_text is None:
        spec, text = load_spec_text(spec_path)
    else:
        spec, text = parse_spec(spec_text, str(spec_path)), spec_text
    env_files = read_env_files(spec, spec_path)
    notify_urls = read_notify_urls(spec, spec_path)
    for url in notify_urls:  # secrets: masked wherever a command or its output is shown
        host.add_secret(url)

    def between(system: SystemFacts, home: HomeFacts) -> Desired:
        identity = resolve(spec, system)
        check_before_render(spec, system, identity.uid, home)
        return render(spec, identity, env_files, str(spec_path), text, roost_command(), notify_urls=notify_urls)

    state, desired = gather_state(host, spec, between)
    check_pg(spec, state.app)
    for value in state.app.secrets.values():
        host.add_secret(value)
    for values in env_files.values():  # a user's env file may hold credentials of its own
        for v in values.values():
            if len(v) >= 8:
                host.add_secret(v)
    return Prepared(spec, str(spec_path), state, desired,
                    plan(Inputs(spec, state.system, desired, state.app, state.front)))


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
            check_host_paths(prep.spec, gather_paths(host, prep.spec))  # again: links may have appeared since the plan

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
