from __future__ import annotations

import json

import click

from roost.output import cell, console, plain


@click.command()
@click.argument("app", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@click.option("--fix", is_flag=True, help="Repair what is safe to repair, after showing what will be done.")
@click.option("--yes", is_flag=True, help="With --fix: do not ask before repairing.")
def doctor(app: str | None, as_json: bool, fix: bool, yes: bool) -> None:
    """Find the classic rootless traps (linger, ID ranges, boot target, helpers, modes) and say the fix.

    Exit code 1 when any check fails.

    \b
    Examples:
      roost doctor
      roost doctor hedgedoc --json
      roost doctor --fix
    """
    from rich.table import Table

    from roost.cli.common import list_apps, load_app, require_root, runner
    from roost.doctor import FAIL, run_checks

    require_root()
    host = runner()
    apps = {n: load_app(n, host) for n in ([app] if app else list_apps(host))}
    checks = run_checks(host, apps, app)
    if as_json and not fix:
        click.echo(json.dumps([c.to_dict() for c in checks], indent=2))
    else:
        table = Table(title="roost doctor", title_justify="left")
        for col in ("check", "status", "detail", "fix"):
            table.add_column(col)
        style = {"ok": "green", "warn": "yellow", "fail": "bold red"}
        for c in checks:
            table.add_row(cell(c.name), cell(c.status, style[c.status]), cell(c.detail), cell(c.fix or ""))
        console.print(table)
    fixable = [c for c in checks if c.status != "ok" and c.repair]
    if fix and fixable:
        console.print("[bold]--fix will run:[/]")
        for c in fixable:
            for r in c.repair:
                console.print(f"  {plain(c.name)}: {plain(r.__doc__)}", markup=False)
        if yes or click.confirm("Go ahead?", default=True):
            for c in fixable:
                for r in c.repair:
                    r(host)
            checks = run_checks(host, apps, app)
            console.print(f"after repair: {sum(c.status == FAIL for c in checks)} check(s) still failing")
    if any(c.status == FAIL for c in checks):
        raise SystemExit(1)
