"""`roost reapply`: apply every recorded app again from the spec it was last applied with.

scripts/install runs it after an upgrade, so the units that name the roost command (the
nightly pre-update backup, the auto-update restart, notifications) point at the installed roost."""

from __future__ import annotations

import click

from roost.output import console

APP_WAIT = 60.0  # seconds reapply waits for one app's lock before it goes on to the next app


@click.command()
@click.argument("apps", nargs=-1)
@click.option("--quiet", "-q", is_flag=True, help="Do not print the diffs before applying.")
def reapply(apps: tuple[str, ...], quiet: bool) -> None:
    """Apply each app (default: every recorded app) from its applied spec: what it runs does
    not change, the files roost renders are brought up to this roost's version.

    \b
    Examples:
      roost reapply
      roost reapply hedgedoc
    """
    from roost.app import App
    from roost.apply import prepare
    from roost.cli.apply import _apply_one
    from roost.cli.common import list_apps, locked, print_plan, require_root, runner
    from roost.errors import RoostError
    from roost.lock import LockBusy, global_lock
    from roost.output import plain

    require_root()
    host = runner()
    names = list(apps) or list_apps(host)
    if not names:
        console.print("no roost apps on this host: nothing to reapply")
    skipped = []
    for name in names:
        app = App.load(name, host)
        try:
            # the app's lock first, waited for a bounded time: its user can hold it (a long backup, or
            # on purpose); then the host's, never held while waiting for an app's
            with locked(app.layout, wait=APP_WAIT), global_lock(say=lambda m: console.print(m, style="yellow",
                                                                                             markup=False)):
                prep = prepare(app.record.spec_path, host, spec_text=app.spec_text)
                print_plan(prep.plan, show_diffs=not quiet)
                if not prep.plan.empty:
                    _apply_one(host, prep)
        except LockBusy as e:
            console.print(f"[red]skipped {name}[/]: {plain(e.message, markup=True)}")
            skipped.append(name)
    if skipped:
        raise RoostError(f"not reapplied (locked): {', '.join(skipped)}",
                         hint="run `roost reapply " + " ".join(skipped) + "` when they are free")
