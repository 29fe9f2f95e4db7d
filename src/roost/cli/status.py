from __future__ import annotations

import json
import time

import click

from roost.output import console


def _health(status: str) -> str:
    for word in ("unhealthy", "healthy", "starting"):
        if f"({word})" in status:
            return word
    return "-"


def collect(name: str) -> dict:
    """One app's state, from systemd and podman, read as the app user."""
    from roost.cli.common import app_user, load_app, runner
    from roost.host.facts import (
        SHOW_PROPS,
        parse_containers,
        parse_images,
        parse_systemctl_show,
    )
    from roost.host.state import concurrently

    record = load_app(name)
    host, user = runner(), app_user(record)
    units = [record["pod_service"], *(f"{c}.service" for c in record["containers"])]
    manager = host.exists(f"{user.runtime_dir}/bus")
    states, containers, digests = {}, {}, {}
    if manager:
        show, ps, images = concurrently(
            lambda: host.run(["systemctl", "--user", "show", "-p", ",".join(SHOW_PROPS), "--", *units], user=user,
                             check=False),
            lambda: host.run(["podman", "ps", "-a", "--format", "json"], user=user, check=False),
            lambda: host.run(["podman", "images", "--format", "json"], user=user, check=False),
        )
        states = parse_systemctl_show(show.stdout)
        for c in parse_containers(ps.stdout) if ps.ok else []:
            if c["labels"].get("io.roost.app") == name:
                containers[c["labels"].get("io.roost.container")] = c
        digests = {i.id: i.digest for i in parse_images(images.stdout)} if images.ok else {}
    rows = []
    now = time.time()
    for cname in record["containers"]:
        unit = states.get(f"{cname}.service")
        c = containers.get(cname, {})
        started = c.get("started") or 0
        rows.append({
            "container": cname,
            "unit": f"{cname}.service",
            "state": f"{unit.active}/{unit.sub}" if unit and unit.load == "loaded" else "not installed",
            "health": _health(c.get("status", "")) if c.get("state") == "running" else "-",
            "image": c.get("image") or record["images"].get(cname, ""),
            "digest": digests.get(c.get("image_id", ""), ""),
            "uptime_s": int(now - started) if started and c.get("state") == "running" else None,
        })
    pod = states.get(record["pod_service"])
    web = {}
    if record.get("url"):  # served through the front door (roost.frontdoor)
        from roost.frontdoor.certs import state as cert_state

        certs = {d: cert_state(host, d) for d in record["domains"]} if record.get("tls") != "off" else {}
        web = {"url": record["url"], "certificates": certs}
    return {
        "app": name,
        "user": record["name"],
        "uid": record["uid"],
        "home": record["home"],
        "user_manager": "running" if manager else "not running",
        "pod": f"{pod.active}/{pod.sub}" if pod and pod.load == "loaded" else "not installed",
        "publish": record["publish"],
        "containers": rows,
        **web,
    }


def _uptime(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@click.command()
@click.argument("app", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def status(app: str | None, as_json: bool) -> None:
    """How every roost app (or one) is doing: units, health, images, ports, uptime.

    \b
    Examples:
      roost status
      roost status hedgedoc --json
    """
    from rich.table import Table

    from roost.cli.common import list_apps, load_app, require_root

    require_root()
    names = [app] if app else list_apps()
    if app:
        load_app(app)  # a clear error for an unknown app
    # apps are independent: read them side by side (each read is mostly podman/runuser start-up)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=4) as pool:
        data = list(pool.map(collect, names))
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    if not data:
        console.print("no roost apps on this host yet: `roost apply SPEC` deploys one")
        return
    table = Table(title="roost apps", title_justify="left")
    for col in ("app", "container", "unit state", "health", "image", "digest", "ports", "uptime"):
        table.add_column(col, no_wrap=col in ("app", "container", "digest"))
    colour = {"healthy": "green", "unhealthy": "red", "starting": "yellow"}
    for a in data:
        for i, row in enumerate(a["containers"]):
            state_style = "green" if row["state"].startswith("active") else "red"
            table.add_row(
                a["app"] if i == 0 else "",
                row["container"],
                f"[{state_style}]{row['state']}[/]",
                f"[{colour.get(row['health'], 'dim')}]{row['health']}[/]",
                row["image"],
                row["digest"].removeprefix("sha256:")[:12] or "-",
                ", ".join(a["publish"]) if i == 0 else "",
                _uptime(row["uptime_s"]),
            )
        table.add_section()
    console.print(table)
    for a in data:
        if a.get("url"):
            from rich.markup import escape

            certs = "; ".join(f"{d}: {c}" for d, c in a["certificates"].items()) or "plain HTTP"
            console.print(f"{a['app']}: {a['url']}  [dim]certificate: {escape(certs)}[/]")
