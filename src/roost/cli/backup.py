from __future__ import annotations

import json

import click

from roost.output import console


def _load(app: str):
    from roost.app import App
    from roost.cli.common import runner

    return App.load(app, runner())


@click.command()
@click.argument("app")
@click.option("--reason", default="manual", help="Recorded in the history (e.g. pre-update, scheduled).")
def backup(app: str, reason: str) -> None:
    """Take a backup: PostgreSQL dumps, volume tars (ownership kept), spec, image digests, secrets.

    Archives go to <home>/backups (mode 0600); `backup.keep` in the spec sets how many stay.
    Runs as root or as the app user itself (its nightly timer does).

    \b
    Example:
      roost backup hedgedoc
    """
    from roost import backup as bk
    from roost.cli.common import locked

    a = _load(app)
    with locked(a.layout), console.status(f"backing up {app}"):
        path = bk.take_recorded(a, reason)
    console.print(f"[bold green]backup written[/]: {path}")


@click.command()
@click.argument("app")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def backups(app: str, as_json: bool) -> None:
    """List an app's backups, oldest first.

    \b
    Example:
      roost backups hedgedoc
    """
    from rich.table import Table

    from roost import backup as bk

    items = bk.listing(_load(app))
    if as_json:
        click.echo(json.dumps([b.__dict__ for b in items], indent=2))
        return
    table = Table(title=f"backups of {app}", title_justify="left")
    for col in ("name", "created", "size"):
        table.add_column(col)
    for b in items:
        table.add_row(b.name, b.created, f"{b.size / 1024:.0f} KiB")
    console.print(table)


@click.command()
@click.argument("app")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask before replacing the app's data.")
def restore(app: str, name: str, yes: bool) -> None:
    """Put an app's volumes and databases back as a backup has them: stop, restore, start, wait healthy.

    \b
    Example:
      roost restore hedgedoc hedgedoc-20261129T030000Z
    """
    from roost import backup as bk
    from roost.cli.common import locked, require_root

    require_root()
    a = _load(app)
    bk.find(a, name)
    if not yes:
        click.confirm(f"Replace the data of {app} with backup {name}?", abort=True)
    with locked(a.layout):
        safety = bk.restore_recorded(a, name, say=lambda m: console.print(f"→ {m}", markup=False))
    console.print(f"[bold green]restored[/] {app} from {name}" + (f" (safety backup: {safety})" if safety else ""))
