from __future__ import annotations

import click

from roost.output import console


def _app(name: str):
    from roost.app import App
    from roost.cli.common import require_root, runner

    require_root()
    return App.load(name, runner())


@click.group()
def offsite() -> None:
    """Offsite backups (restic): snapshots, pruning from the trusted side, the recovery kit.

    \b
    Examples:
      roost offsite snapshots notes
      roost offsite kit notes
      roost offsite prune notes --repository rest:https://admin-side/notes --password-file /root/notes.pw
    """


@offsite.command()
@click.argument("app")
@click.option("--again", is_flag=True, help="Print the kit once more (it is printed once).")
def kit(app: str, again: bool) -> None:
    """Print what must be kept OFF this server to recover APP: repository and password. Printed once."""
    from roost.offsite import trusted

    k = trusted.kit(_app(app), again=again)
    console.print("[bold yellow]Keep this recovery kit OFF this server[/] (a password manager, paper in a safe). "
                  "Without it the offsite backups cannot be read; with it anyone can read them. "
                  "It is printed once.", highlight=False)
    click.echo(f"app:        {k['app']}\nrepository: {k['repository']}\npassword:   {k['password']}")
    click.echo("credentials: whatever the repository needs besides (rest-server user, S3 keys, SSH key) - "
               "keep them with this kit\n"
               f"recover:    roost recover --from '{k['repository']}' --password-file FILE {k['app']}")


@offsite.command()
@click.argument("app")
@click.option("--repository", help="The repository as the trusted side reaches it (default: the spec's).")
@click.option("--password-file", type=click.Path(dir_okay=False), help="Its password (default: the app's, read as "
              "the app user). '-' reads stdin.")
def prune(app: str, repository: str | None, password_file: str | None) -> None:
    """Forget and prune APP's snapshots to backup.offsite.keep, from the trusted side (root, with
    credentials the app's side does not have). Fails when the repository refused to delete."""
    from roost.cli.common import locked
    from roost.offsite import recover, trusted

    a = _app(app)
    o = trusted.offsite_of(a)
    password = recover.read_password(password_file) if password_file else trusted.app_password(a)
    a.host.add_secret(password)
    repo = repository or o.repository
    with locked(a.layout), console.status(f"pruning {app}'s snapshots in {repo}"):
        before, after = trusted.prune_recorded(a, repo, password)
    console.print(f"[bold green]pruned[/] {app}: {before} snapshot(s) before, {after} kept", highlight=False)


@offsite.command()
@click.argument("app")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def snapshots(app: str, as_json: bool) -> None:
    """List APP's snapshots in its offsite repository, oldest first."""
    import json

    from roost.offsite import restic, trusted

    a = _app(app)
    o = trusted.offsite_of(a)
    snaps = trusted.snapshots(a.host, o.repository, trusted.app_password(a), app)
    if as_json:
        click.echo(json.dumps([s.__dict__ for s in snaps], indent=2))
        return
    for s in snaps:
        click.echo(f"{s.short_id}  {s.time[:19]}Z  {restic.age(s.timestamp):>5} ago  {s.size / 1e6:8.1f} MB")
    if not snaps:
        click.echo(f"no snapshot of {app} in {o.repository} yet: `roost backup {app}` makes one")
