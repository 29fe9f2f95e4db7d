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
    from roost.output import console

    require_root()
    record = load_app(app)
    layout = Layout(app, record["home"])
    path = layout.history_file
    entries = read(runner(), layout)[-lines:]
    if as_json:
        click.echo(json.dumps(entries, indent=2))
        return
    table = Table(title=f"history of {app} ({path})", title_justify="left")
    for col in ("#", "time", "who", "action", "result", "changes", "images"):
        table.add_column(col)
    for i, e in enumerate(entries, 1):
        images = ", ".join(f"{c}={v.get('digest', '').removeprefix('sha256:')[:12] or v.get('image', '')}"
                           for c, v in (e.get("images") or {}).items())
        colour = "green" if e.get("result") == "ok" else "red"
        table.add_row(str(i), e.get("time", ""), e.get("who", ""), e.get("action", ""),
                      f"[{colour}]{e.get('result', '')}[/]", str(e.get("changes", "")), images)
    console.print(table)
