"""`roost notify`: a test message (root), and the small verbs the app's units run to report
events (as the app's user) and the system unit runs to send them (root)."""

from __future__ import annotations

import click

from roost.output import console


@click.group()
def notify() -> None:
    """Notifications of an app (the spec's [notify] section).

    \b
    Example:
      roost notify test hedgedoc
    """


def _app(name: str):
    from roost.app import App
    from roost.cli.common import runner

    return App.load(name, runner())


@notify.command()
@click.argument("app")
def test(app: str) -> None:
    """Send a test message to the app's notification URLs."""
    from roost import notify as nt
    from roost.cli.common import require_root
    from roost.errors import UsageError

    require_root()
    a = _app(app)
    if a.spec.notify is None:
        raise UsageError(f"app {app} has no [notify] section", hint="add one to its spec (docs/spec.md) and apply it")
    console.print(nt.send(app, nt.Event("test", f"roost can reach you about app {app}.")))


@notify.command("flush", hidden=True)
@click.argument("app")
def flush(app: str) -> None:
    """(roost-notify@APP.service, as root) Send the events the app's user handed over."""
    from roost import notify as nt
    from roost.cli.common import require_root

    require_root()
    a = _app(app)
    nt.flush(app, a.record.uid, a.spec, say=lambda m: console.print(m, markup=False))


@notify.command("container-failed", hidden=True)
@click.argument("app")
@click.argument("container")
def container_failed(app: str, container: str) -> None:
    """(OnFailure= of a container's unit, as the app's user) Report a failed container, unless an
    update or apply is at work on the app (it reports its own outcome)."""
    import roost.units as units
    from roost import notify as nt
    from roost.lock import busy

    a = _app(app)
    if container not in a.spec.containers:
        raise click.BadParameter(f"no container {container} in app {app}")
    nightly = a.systemctl("show", "-p", "ActiveState", "--value", units.AUTO_UPDATE_SERVICE, check=False)
    if busy(a.layout.lock_file) or nightly.stdout.strip() in ("activating", "active", "deactivating"):
        console.print(f"{container} failed while roost or podman auto-update works on {app}: they report it")
        return
    show = a.systemctl("show", "-p", "Result,NRestarts", "--value", a.service(container), check=False)
    result, restarts = [*show.stdout.split(), "?", "?"][:2]
    detail = (f"{a.service(container)} failed (result: {result}); systemd restarted it {restarts} time(s). "
              f"See `roost logs {app} {container}`.")
    console.print(nt.emit(a, nt.Event("container-failed", detail, container)))


@notify.command("auto-update-done", hidden=True)
@click.argument("app")
def auto_update_done(app: str) -> None:
    """(ExecStopPost= of podman-auto-update.service, as the app's user) Report a nightly update
    that was rolled back, failed, or skipped because its pre-update backup failed."""
    import os

    import roost.units as units
    from roost import notify as nt

    a = _app(app)
    # the user's own runs (pre-update backup, restart-changed) are recorded in its copy of the
    # history only; what it reports from there root validates as untrusted input anyway
    show = a.systemctl("show", "--timestamp=unix", "-p", "InactiveExitTimestamp", "--value",
                       units.AUTO_UPDATE_SERVICE, check=False)
    stamp = show.stdout.strip().lstrip("@")
    started = float(stamp) if stamp.replace(".", "", 1).isdigit() else None
    entries = nt.since(nt.history_lines(a.host.read_file(a.layout.history_copy) or ""), started)
    event = nt.nightly_outcome(entries, os.environ.get("SERVICE_RESULT", "success"), os.environ.get("EXIT_STATUS", ""),
                               nt.lock_problem(a.layout.lock_file))
    if event is None:
        console.print("nightly update: nothing to report")
        return
    console.print(nt.emit(a, event))
