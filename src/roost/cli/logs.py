from __future__ import annotations

import click


@click.command()
@click.argument("app")
@click.argument("container", required=False)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
@click.option("-n", "--lines", default=100, show_default=True, help="How many recent lines.")
def logs(app: str, container: str | None, follow: bool, lines: int) -> None:
    """The journal of an app's units (pod and containers), read as the app user.

    \b
    Examples:
      roost logs hedgedoc
      roost logs hedgedoc database -f
    """
    from roost.cli.common import load_app, require_root, runner
    from roost.errors import UsageError

    require_root()
    host = runner()
    record = load_app(app, host)
    if container and container not in record.containers:
        raise UsageError(f"app {app} has no container {container!r} (it has: {', '.join(record.containers)})")
    import roost.units as units

    names = ([units.container(container)] if container
             else [record.pod_service, *(units.container(c) for c in record.containers)])
    argv = ["journalctl", "--no-pager", "-o", "short-iso", "-n", str(lines), *journal_matches(record.uid, names)]
    if follow:
        host.exec_interactive([*argv, "-f"])
    result = host.run(argv, check=False)
    from roost.output import plain

    click.echo(plain(result.stdout, lines=True), nl=False)  # the containers' own words: no escapes
    if not result.ok:
        click.echo(plain(result.stderr, lines=True), err=True, nl=False)


def journal_matches(uid: int, units: list[str]) -> list[str]:
    """Lines the units wrote (containers log straight to their unit) or systemd wrote about them.

    Matched by the app user's UID, because unit names repeat across apps. Read by root: an
    app user may not read the system journal where volatile storage puts its lines.
    """
    own = [f"_SYSTEMD_USER_UNIT={u}" for u in units]
    about = [f"USER_UNIT={u}" for u in units]
    return [f"_UID={uid}", *own, "+", f"_UID={uid}", *about]
