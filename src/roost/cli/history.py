from __future__ import annotations

import json

import click


@click.command()
@click.argument("app")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON lines.")
@click.option("-n", "--lines", default=20, show_default=True, help="How many recent entries.")
def history(app: str, as_json: bool, lines: int) -> None:
    """What was done to an app: time, who, action, result, images with digests. Beside root's
    entries: what the app's own units report from the night (pre-update backup, podman
    auto-update and its rollback), marked as theirs.

    \b
    Example:
      roost history hedgedoc
    """
    from rich.table import Table

    from roost.cli.common import load_app, require_root, runner
    from roost.history import merged, read, read_reported
    from roost.output import cell, console

    require_root()
    host = runner()
    record = load_app(app, host)
    layout = record.layout
    path = layout.history_file
    rows = merged(read(host, layout), read_reported(host, layout))
    shown_rows = rows[max(len(rows) - lines, 0):]  # numbers count root's whole history: `rollback --to N`
    if as_json:
        click.echo(json.dumps([{"n": n, **e} for n, e in shown_rows], indent=2))
        return
    table = Table(title=f"history of {app} ({path}; rows without a number: reported by the app's user at night, "
                        "not used by rollback)", title_justify="left")
    for col in ("#", "time", "who", "action", "result", "changes", "images"):
        table.add_column(col)
    for n, e in shown_rows:
        raw = e.get("images")
        images: dict = raw if isinstance(raw, dict) else {}
        shown = ", ".join(f"{c}={(v.get('digest') or '').removeprefix('sha256:')[:12] or v.get('image', '')}"
                          for c, v in images.items() if isinstance(v, dict))
        colour = "green" if e.get("result") in ("ok", "updated") else "red"
        who = e.get("who", "") if n is not None else f"{e.get('who', '')} (its own report)"
        what = e.get("action", "") + (f" ({e['reason']})" if n is None and e.get("reason") else "")
        table.add_row("" if n is None else str(n), cell(e.get("time", "")), cell(who), cell(what),
                      cell(e.get("result", ""), colour), cell(e.get("changes", "")), cell(shown))
    console.print(table)
