"""Starting a release and deciding fast whether it is good: roost's own gate over systemd's units.

A unit with `Notify=healthy` becomes active only once podman calls the container healthy, and
systemd alone would wait the whole `TimeoutStartSec` (app.health_timeout, 300 s by default) for a
release that never gets there. The gate watches the units instead and gives up on one as soon as
its container exits (the unit fails or waits to restart) or it has been starting longer than its
health check takes to call a container unhealthy, as Docker counts it: start_period + retries x
interval, plus one timeout only while a check hangs (podman's log of the checks says which). A
broken release is rolled back in well under a minute, both by `roost update` and by the nightly
path (podman auto-update -> roost-restart.service -> `roost restart-changed`).

Start-first (behind the front door): the new release runs beside the old one as NAME-next, on a
loopback port the kernel picks; Caddy is pointed at it only once it is healthy.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from roost.spec.model import Spec, parse_duration

if TYPE_CHECKING:
    from roost.app import App

POLL_S = 1.0
GRACE_S = 5.0  # the container's own start before its first check counts
CLOCK: list = [time.monotonic, time.sleep]  # (clock, sleep): tests script time here
PROPS = ("Id", "ActiveState", "SubState", "Result", "InvocationID")


def window(spec: Spec, container: str, *, hung: bool = True) -> float:
    """How long a container may be starting before the gate calls the release broken. hung=False:
    its checks fail at once (none ran into its timeout), so a timeout need not be waited for."""
    c = spec.containers[container]
    limit = spec.app.health_timeout_s
    if c.health is None:
        return limit
    h = c.health
    counted = parse_duration(h.start_period) + h.retries * parse_duration(h.interval)
    return min(limit, counted + (parse_duration(h.timeout) if hung else 0) + GRACE_S)


def failing_fast(app: App, unit: str, container: str, since: float = 0.0) -> bool:
    """Whether the container of `unit` has checks on record since `since` (Unix time: the start
    the gate watches; an older container of the same name, still stopping, is not this release),
    and its last `retries` all failed well inside their timeout (podman logs its startup checks,
    one a second, while the status stays 'starting'). Anything unclear (no log, a check still
    running, a slow one) is False."""
    h = app.spec.containers[container].health
    if h is None:
        return False
    name = app.container_name(unit.removesuffix(".service"))
    r = app.podman("inspect", "--format", "{{json .State.Health.Log}}", name, check=False)
    try:
        log = [e for e in (json.loads(r.stdout) if r.ok else None) or []
               if datetime.fromisoformat(e["Start"]).timestamp() >= since]
        last = log[-h.retries:]
        took = [(datetime.fromisoformat(e["End"]) - datetime.fromisoformat(e["Start"])).total_seconds()
                for e in last]
    except (ValueError, TypeError, KeyError):
        return False
    slow = parse_duration(h.timeout) / 2
    return len(last) == h.retries and all(e.get("ExitCode") not in (0, None) for e in last) and max(took) < slow


def _states(app: App, units: list[str]) -> dict[str, dict[str, str]]:
    r = app.systemctl("show", "-p", ",".join(PROPS), "--", *units, check=False)
    out: dict[str, dict[str, str]] = {}
    for block in r.stdout.strip().split("\n\n"):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if "Id" in props:
            out[props["Id"]] = props
    return out


def dependants(spec: Spec, containers: list[str]) -> list[str]:
    """What systemd restarts with `containers`: whatever requires them or shares their namespace, transitively."""
    found = list(containers)
    grew = True
    while grew:
        grew = False
        for name, c in spec.containers.items():
            if name not in found and ({*c.requires, c.share_network_with} & set(found)):
                found.append(name)
                grew = True
    return [n for n in spec.start_order() if n in found]


def verdict(props: dict[str, str] | None) -> str | None:
    """'ok', 'failed: why', or None while the unit (its new run) is still on its way."""
    if props is None:
        return "failed: the unit is missing"
    active, sub, result = props.get("ActiveState", ""), props.get("SubState", ""), props.get("Result", "success")
    if active == "active":
        return "ok"
    if active == "failed" or sub == "auto-restart":
        return f"failed: its container exited ({result})"
    if active == "inactive" and result not in ("", "success"):
        return f"failed: {result}"
    return None


def start_and_gate(app: App, services: dict[str, str], *, restart: bool = True,
                   clock: Callable[[], float] | None = None, sleep: Callable[[float], None] | None = None
                   ) -> tuple[bool, str]:
    """(Re)start services {unit: container} in one systemd transaction, without blocking, and watch
    them and the units systemd restarts with them. (True, "") once all are active again, else
    (False, why) at the first broken one."""
    # a start (NAME-next beside NAME) pulls in nothing; a restart takes what requires the unit along
    names = dependants(app.spec, list(services.values())) if restart else []
    watch = dict(services)
    for n in names:
        watch.setdefault(app.service(n), n)
    units = list(watch)
    clock, sleep = clock or CLOCK[0], sleep or CLOCK[1]
    # systemd gives each run of a unit its own InvocationID. Until the new run starts (the job is
    # queued; a broken release a rollback replaces may take a while to stop), what shows is the old
    # run's: active, failed, or still starting, with its container's failed checks. None of it counts.
    old_run = {u: p.get("InvocationID", "") for u, p in _states(app, units).items()}
    app.systemctl("reset-failed", *services, mutates=True, check=False)
    r = app.systemctl("restart" if restart else "start", "--no-block", *services, mutates=True, check=False)
    if not r.ok:
        return False, (r.stderr.strip().splitlines() or ["the start failed"])[0]
    began = clock()
    starting: dict[str, tuple[float, float]] = {}  # unit -> (clock, Unix time) when its new run was first seen
    while True:
        now = clock()
        states = _states(app, units)
        pending = []
        for unit in units:
            props = states.get(unit)
            if props is not None and old_run.get(unit) and props.get("InvocationID", "") == old_run[unit]:
                pending.append(unit)
                continue
            v = verdict(props)
            if v == "ok":
                continue
            if v is not None:
                return False, f"{unit} {v}"
            if (props or {}).get("ActiveState") == "activating":
                starting.setdefault(unit, (now, time.time()))
            took = now - starting[unit][0] if unit in starting else 0.0
            limit, short = window(app.spec, watch[unit]), window(app.spec, watch[unit], hung=False)
            if took > limit or (short < took <= limit and failing_fast(app, unit, watch[unit], starting[unit][1] - 1)):
                return False, (f"{unit} was not healthy {took:.0f}s after it started "
                               f"(its health check's retries{'' if took > limit else ', each failing at once'})")
            pending.append(unit)
        if not pending:
            return True, ""
        if now - began > app.spec.app.health_timeout_s:
            return False, f"{', '.join(pending)} did not start within app.health_timeout"
        sleep(POLL_S)
