from __future__ import annotations

import json

import click


@click.command()
@click.argument("app")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON lines.")
@click.option("-n", "--lines", default=20, show_default=True, help="How many recent entries.")
def history(app: str, as_json: bool, lines: int) -> None:
    """What was done to an app: time, who, action, result, images with digests.

    \b
    Example:
      roost history hedgedoc
    """
    from rich.table import Table

    from roost.cli.common import load_app, require_root, runner
    from roost.history import read
    from roost.layout import Layout
    from roost.output import cell, console

    require_root()
    record = load_app(app)
    layout = Layout(app, record["home"])
    path = layout.history_file
    every = read(runner(), layout)
    first = max(len(every) - lines, 0)
    numbered = list(enumerate(every, 1))[first:]  # numbers count the whole history: `rollback --to N`
    if as_json:
        click.echo(json.dumps([{"n": n, **e} for n, e in numbered], indent=2))
        return
    table = Table(title=f"history of {app} ({path})", title_justify="left")
    for col in ("#", "time", "who", "action", "result", "changes", "images"):
        table.add_column(col)
    for n, e in numbered:
        raw = e.get("images")
        images: dict = raw if isinstance(raw, dict) else {}
        shown = ", ".join(f"{c}={(v.get('digest') or '').removeprefix('sha256:')[:12] or v.get('image', '')}"
                          for c, v in images.items() if isinstance(v, dict))
        colour = "green" if e.get("result") == "ok" else "red"
        table.add_row(str(n), *(cell(e.get(k, "")) for k in ("time", "who", "action")),
                      cell(e.get("result", ""), colour), cell(e.get("changes", "")), cell(shown))
    console.print(table)
