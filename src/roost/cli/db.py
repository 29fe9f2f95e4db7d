from __future__ import annotations

import click

from roost.output import console


@click.group()
def db() -> None:
    """Database chores for an app's PostgreSQL containers."""


@db.command()
@click.argument("app")
@click.argument("container")
@click.option("--to", "to", type=int, default=None, help="The PostgreSQL major to move to, e.g. 17.")
@click.option("--undo", is_flag=True, help="Undo an upgrade that was cut short: old major, old data.")
def upgrade(app: str, container: str, to: int | None, undo: bool) -> None:
    """Move a PostgreSQL container to another major version: dump, fresh data directory,
    restore, verify row counts. The old data directory is kept; the spec's tag is updated.
    An upgrade cut short (Ctrl-C, power cut) is finished by running the same command again,
    or undone with --undo.

    \b
    Examples:
      roost db upgrade hedgedoc database --to 17
      roost db upgrade hedgedoc database --undo
    """
    from roost import db_upgrade
    from roost.app import App
    from roost.apply import execute, prepare
    from roost.cli.common import locked, require_root, runner

    require_root()
    host = runner()
    a = App.load(app, host)

    def apply_spec(path: str) -> None:
        prep = prepare(path, host)
        execute(prep, host, console, on_action=lambda act: console.print(f"[cyan]→[/] {act.describe()}"))

    with locked(a.layout):
        info = db_upgrade.upgrade_recorded(a, container, to, apply_spec, undo=undo,
                                           say=lambda m: console.print(f"→ {m}", markup=False))
    if info is None:
        console.print(f"[bold yellow]db upgrade undone[/]: {container} is back on its old major and data")
        return
    console.print(f"[bold green]PostgreSQL {info['from']} → {info['to']}[/]: {info['tables']} tables, "
                  f"{info['rows']} rows verified. Old data: {info['kept']} (remove it when satisfied)")
