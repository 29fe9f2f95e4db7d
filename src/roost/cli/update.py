from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from roost.output import console

if TYPE_CHECKING:  # the history's names only: the verb loads it when it runs
    from roost.history import Action


def _run_locked(app_name: str, fn):
    from roost.app import App
    from roost.cli.common import locked, runner

    app = App.load(app_name, runner())
    with locked(app.layout):
        return app, fn(app)


def _show(app, action: Action, report, as_json: bool) -> None:
    """Record, print, and exit the way scripts need: 0 only when the app runs what was asked for
    (`update`: the new images, or already the newest; `rollback`: the earlier images)."""
    from roost import update as upd

    sent = upd.record(app, action, report)
    if sent is not None:
        from roost.output import console_err

        console_err.print(f"notification: {sent}", markup=False)  # stderr: with --json, stdout carries only the report
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        _print_report(action, report)
    if report.result == "failed" or (action == "update" and report.result == "rolled-back"):
        raise SystemExit(1)


def _short(digest: str) -> str:
    return digest[:19] or "?"


def _print_report(action: str, report) -> None:
    colour = {"updated": "green", "current": "green", "rolled-back": "yellow", "failed": "red"}[report.result]
    console.print(f"[bold {colour}]{action}: {report.result}[/]")
    for c in report.changed:
        old = report.before[c].digest if c in report.before else ""
        now = report.after[c].digest if c in report.after else ""
        tried = report.tried[c].digest if c in report.tried else ""
        if tried and report.result in ("rolled-back", "failed"):
            console.print(f"  {c}: tried {_short(tried)}, " +
                          (f"restored {_short(now)}" if report.result == "rolled-back" else f"now runs {_short(now)}"))
        else:
            console.print(f"  {c}: {_short(old)} → {_short(now)}")
    if report.seconds_to_healthy is not None:
        console.print(f"  healthy {report.seconds_to_healthy:.1f}s after the restart began")
    if report.rollback_seconds is not None:
        console.print(f"  rollback took {report.rollback_seconds:.1f}s")
    if report.error:
        from rich.markup import escape

        console.print(f"  [red]why:[/] {escape(report.error)}")


@click.command()
@click.argument("app")
@click.option("--dry-run", is_flag=True, help="Only ask the registries what would change; pull nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def update(app: str, dry_run: bool, as_json: bool) -> None:
    """Update an app's images safely: back up, pull, restart in order, wait until healthy,
    and roll back to the previous images if anything fails. Recorded in `roost history`.

    \b
    Examples:
      roost update hedgedoc --dry-run
      roost update hedgedoc
    """
    from roost import update as upd
    from roost.cli.common import require_root

    require_root()
    if dry_run:
        from rich.table import Table

        from roost.app import App
        from roost.cli.common import runner

        rows = upd.check(App.load(app, runner()))
        if as_json:
            click.echo(json.dumps(rows, indent=2))
            return
        table = Table(title=f"update check for {app}", title_justify="left")
        for col in ("container", "image", "update"):
            table.add_column(col)
        for r in rows:
            table.add_row(r.get("ContainerName", ""), r.get("Image", ""), str(r.get("Updated", "")))
        console.print(table)
        return
    from roost.output import console_err

    talk = console_err if as_json else console  # --json: stdout carries only the report
    loaded, report = _run_locked(app, lambda a: upd.update(a, say=talk.print, status=talk.status))
    _show(loaded, "update", report, as_json)


@click.command()
@click.argument("app")
@click.option("--to", "to", type=int, default=None, help="The `roost history` entry to go back to (default: the one before).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def rollback(app: str, to: int | None, as_json: bool) -> None:
    """Go back to the images of an earlier applied state from the history.

    \b
    Examples:
      roost rollback hedgedoc
      roost rollback hedgedoc --to 3
    """
    from roost import update as upd
    from roost.cli.common import require_root

    require_root()
    from roost.output import console_err

    talk = console_err if as_json else console
    loaded, report = _run_locked(app, lambda a: upd.rollback(a, to, say=talk.print, status=talk.status))
    _show(loaded, "rollback", report, as_json)


@click.command("restart-changed", hidden=True)
@click.argument("app")
def restart_changed(app: str) -> None:
    """(For podman auto-update, via roost-restart.service.) Restart the containers whose
    image changed and exit non-zero unless they become healthy, so podman rolls back."""
    from roost import update as upd

    loaded, report = _run_locked(app, upd.restart_changed)
    if report.changed:
        upd.record(loaded, "auto-update", report)
    console.print(f"restart-changed {app}: {report.result} {', '.join(report.changed)}")
    if report.result == "failed":
        raise SystemExit(1)
