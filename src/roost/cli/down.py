from __future__ import annotations

import click

from roost.output import console


@click.command()
@click.argument("app")
@click.option("--purge", is_flag=True, help="Also delete data, secrets, images, the user, its linger and ID ranges.")
@click.option("--yes", is_flag=True, help="Do not ask before --purge deletes data.")
def down(app: str, purge: bool, yes: bool) -> None:
    """Stop an app and remove its units. User, data and secrets are kept: `apply` brings it back.

    With --purge everything roost created for the app is removed, data included.

    \b
    Examples:
      roost down hedgedoc
      roost down hedgedoc --purge --yes
    """
    from roost.cli.common import load_app, locked, require_root, runner
    from roost.teardown import down as teardown

    require_root()
    host = runner()
    record = load_app(app, host)
    home = record.home
    if purge and not yes:
        click.confirm(f"Delete app {app} for good, with everything in {home} (data and secrets)?", abort=True)
    with locked(record.layout):
        teardown(record, host, purge, console,
                 on_action=lambda a: console.print(f"→ {a.describe()}", highlight=False, markup=False))
    if purge:
        console.print(f"[bold green]purged[/]: {app}, its user, ID ranges, linger and {home} are gone")
    else:
        console.print(f"[bold green]down[/]: {app} stopped and its units removed; data kept in {home}")
