from __future__ import annotations

import json

import click

from roost.output import console


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
    Exits 1 when a unit is not running or a container is unhealthy (a monitoring check).

    \b
    Examples:
      roost status
      roost status hedgedoc --json
    """
    from roost.cli.common import require_root
    from roost.status import problems, read

    require_root()
    data = read(app)
    if as_json:
        click.echo(json.dumps(data, indent=2))
    elif not data:
        console.print("no roost apps on this host yet: `roost apply SPEC` deploys one")
    else:
        _print_table(data)
    if problems(data):
        raise SystemExit(1)


def _print_table(data: list[dict]) -> None:
    from rich.table import Table

    from roost.output import cell, plain
    from roost.status import problems

    table = Table(title="roost apps", title_justify="left")
    for col in ("app", "container", "unit state", "health", "image", "digest", "ports", "uptime"):
        table.add_column(col, no_wrap=col in ("app", "container", "digest"))
    colour = {"healthy": "green", "unhealthy": "red", "starting": "yellow"}
    for a in data:
        for i, row in enumerate(a["containers"]):  # what podman and the user's manager say: sanitized
            table.add_row(
                cell(a["app"] if i == 0 else ""),
                cell(row["container"]),
                cell(row["state"], "green" if row["state"].startswith("active") else "red"),
                cell(row["health"], colour.get(row["health"], "dim")),
                cell(row["image"]),
                cell(row["digest"].removeprefix("sha256:")[:12] or "-"),
                cell(", ".join(a["publish"]) if i == 0 else ""),
                cell(_uptime(row["uptime_s"])),
            )
        if a.get("error"):
            table.add_row(cell(a["app"]), cell("-"), cell(a["error"], "red"), *(cell("") for _ in range(5)))
        table.add_section()
    console.print(table)
    for a in data:
        if a.get("url"):
            certs = "; ".join(f"{d}: {c}" for d, c in a["certificates"].items()) or "plain HTTP"
            console.print(f"{plain(a['app'], markup=True)}: {plain(a['url'], markup=True)}  "
                          f"[dim]certificate: {plain(certs, markup=True)}[/]")
    for a in data:
        if off := a.get("offsite"):
            drill = off["drill"]
            console.print(f"{plain(a['app'], markup=True)}: newest offsite snapshot "
                          + (f"{_uptime(off['newest_s'])} old" if off["newest_s"] is not None else "none")
                          + (f"; last drill {plain(drill['time'], markup=True)}: {plain(drill['result'], markup=True)}"
                             if drill else "; no drill yet"), highlight=False)
    for p in problems(data):
        console.print(f"[red]problem:[/] {plain(p, markup=True)}")
