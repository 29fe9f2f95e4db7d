"""`roost status`: every app's units, health, images and uptime, read as each app's user.

Cheap enough for a monitoring check: one systemctl and one podman call per app, apps read
side by side (docs/benchmarks.md)."""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Literal, TypedDict

from roost.errors import RoostError
from roost.host.runner import Host, Runner
from roost.layout import NAME_RE, list_apps
from roost.record import AppRecord, read_record

TIMEOUT = 20.0  # seconds per command as an app's user: one stalled app costs its own line, not the host
# Both reads in one command as the app's user: each such command starts in a scope of its own (issue 17),
# which costs more than either read (docs/benchmarks.md). `show` prints only KEY=VALUE lines, so the
# separator line cannot come from it. $2 and $3 are split on spaces, unglobbed: unit and container names
# are checked names (NAME_RE: letters, digits, '-').
SEPARATOR = "--roost-status--"
READ_BOTH = f'set -f; systemctl --user show -p "$1" -- $2; echo; echo {SEPARATOR}; exec podman container inspect -- $3'

Health = Literal["healthy", "unhealthy", "starting", "-"]  # "-": no health check, or not running
_HEALTH: dict[str, Health] = {"healthy": "healthy", "unhealthy": "unhealthy", "starting": "starting"}


class Inspected(TypedDict):
    """What one `podman container inspect` item tells status."""
    state: str
    health: Health
    image: str
    digest: str
    started: float  # Unix time; 0 if unknown


class Row(TypedDict):
    """One container's line of `roost status` (and of its --json: these keys, in this order)."""
    container: str
    unit: str
    state: str  # ActiveState/SubState, or "not installed"
    health: Health
    image: str
    digest: str
    uptime_s: int | None


def _started(text: str) -> float:
    """podman's StartedAt ("2026-11-30T04:11:18.123456789Z" or "...+00:00") as a Unix time; 0 if unknown."""
    from datetime import datetime

    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:?\d\d)?", text or "")
    if not m or text.startswith("0001-"):
        return 0.0
    zone = m.group(2) or "Z"
    zone = "+00:00" if zone == "Z" else zone
    try:
        return datetime.fromisoformat(m.group(1) + zone).timestamp()
    except ValueError:
        return 0.0


def parse_inspect(text: str, app: str) -> dict[str, Inspected]:
    """`podman container inspect` JSON -> container (spec name) -> what status shows. One podman
    call carries state, health, image and digest (podman prints the containers it found even
    when another name is missing)."""
    try:
        items = json.loads(text or "[]")
    except ValueError:
        return {}
    out: dict[str, Inspected] = {}
    for item in items if isinstance(items, list) else []:
        labels = (item.get("Config") or {}).get("Labels") or {}
        if labels.get("io.roost.app") != app:
            continue
        state = item.get("State") or {}
        health = (state.get("Health") or state.get("Healthcheck") or {}).get("Status") or ""
        out[labels.get("io.roost.container", "")] = {
            "state": state.get("Status", ""),
            "health": _HEALTH.get(health, "-"),
            "image": item.get("ImageName", ""),
            "digest": item.get("ImageDigest", ""),
            "started": _started(state.get("StartedAt", "")),
        }
    return out


def collect(name: str, host: Host | None = None) -> dict:
    """One app's state, read as the app user: systemctl, then podman, in one bounded command
    (TIMEOUT): a user that stalls them gets its app an `error`, the others go on."""
    from roost.host.parse import SHOW_PROPS, parse_systemctl_show

    host = host or Runner()
    record = read_record(name, host)
    user = record.user
    units = [record.pod_service, *(f"{c}.service" for c in record.containers)]
    manager = host.exists(f"{user.runtime_dir}/bus")
    states, containers, error = {}, {}, ""
    if manager:
        try:
            if not all(NAME_RE.match(c) for c in record.containers):
                raise RoostError(f"the record of {name} names containers roost cannot have made: "
                                 f"{record.containers!r}")
            names = [f"{name}-{c}" for c in record.containers]
            r = host.run(["sh", "-c", READ_BOTH, "sh", ",".join(SHOW_PROPS), " ".join(units), " ".join(names)],
                         user=user, check=False, timeout=TIMEOUT)
            show, _, inspect = r.stdout.partition(f"\n{SEPARATOR}\n")
            states = parse_systemctl_show(show)
            containers = parse_inspect(inspect, name)
        except RoostError as e:  # the user's manager or podman did not answer in time
            error = e.message
    rows: list[Row] = []
    now = time.time()
    for cname in record.containers:
        unit = states.get(f"{cname}.service")
        c = containers.get(cname)
        running = c is not None and c["state"] == "running"
        rows.append({
            "container": cname,
            "unit": f"{cname}.service",
            "state": f"{unit.active}/{unit.sub}" if unit and unit.load == "loaded" else "not installed",
            "health": c["health"] if c is not None and running else "-",
            "image": (c["image"] if c is not None else "") or record.images.get(cname, ""),
            "digest": c["digest"] if c is not None else "",
            "uptime_s": int(now - c["started"]) if c is not None and running and c["started"] else None,
        })
    pod = states.get(record.pod_service)
    web = {}
    if record.url:  # served through the front door (roost.frontdoor)
        from roost.frontdoor.certs import state as cert_state

        certs = {d: cert_state(host, d) for d in record.domains or ()} if record.tls != "off" else {}
        web = {"url": record.url, "certificates": certs}
    return {
        **offsite_state(host, record),
        "app": name,
        "user": record.name,
        "uid": record.uid,
        "home": record.home,
        "user_manager": "running" if manager else "not running",
        "pod": f"{pod.active}/{pod.sub}" if pod and pod.load == "loaded" else "not installed",
        "publish": record.publish,
        "containers": rows,
        **({"error": error} if error else {}),
        **web,
    }


def offsite_state(host: Host, record: AppRecord) -> dict:
    """The newest offsite upload (the app's nightly path notes it in its home) and the last drill
    (root's history): {} for an app without offsite backups."""
    from roost.history import read as read_history
    from roost.offsite.state import read_state

    layout = record.layout
    upload = read_state(host, layout)
    drills = [e for e in read_history(host, layout) if e.get("action") == "drill"]
    if not upload and not drills:
        return {}
    last = drills[-1] if drills else {}
    return {"offsite": {"newest_s": int(time.time() - upload["time"]) if upload else None,
                        "snapshot": upload.get("snapshot", ""),
                        "drill": {"time": str(last.get("time", ""))[:24], "result": str(last.get("result", ""))[:16]}
                        if last else None}}


def problems(data: list[dict]) -> list[str]:
    """What makes `roost status` exit 1, so that it can serve as a monitoring check."""
    out = []
    for a in data:
        if a.get("error"):
            out.append(f"{a['app']}: {a['error']}")
        off = a.get("offsite")
        if off and (off["newest_s"] is None or off["newest_s"] > 86400):
            out.append(f"{a['app']}: no offsite snapshot newer than a day")
        if a["pod"] != "active/running":
            out.append(f"{a['app']}: pod is {a['pod']}")
        for row in a["containers"]:
            if row["state"] != "active/running":
                out.append(f"{a['app']}/{row['container']}: unit is {row['state']}")
            elif row["health"] == "unhealthy":
                out.append(f"{a['app']}/{row['container']}: unhealthy")
    return out


def read(app: str | None = None, host: Host | None = None) -> list[dict]:
    """The state of one app (an unknown name is a located error) or of every recorded app."""
    host = host or Runner()
    if app:
        read_record(app, host)  # a clear error for an unknown app
    names = [app] if app else list_apps(host)
    # 8 at a time: most of each read is podman and runuser starting up, not CPU (2 cores here: 21 apps
    # took 1.54 s with 3 calls per app, 4 at a time; docs/benchmarks.md has the figures since)
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda name: collect(name, host), names))
