from __future__ import annotations

import click

from roost.output import console


@click.command()
@click.argument("app")
def drill(app: str) -> None:
    """Prove APP's newest offsite snapshot restores: into a throwaway copy (another user, port and
    home) that must start healthy with data matching the manifest, then is purged. The result is
    recorded in the history; a failure is notified and exits 1.

    \b
    Example:
      roost drill notes
    """
    from roost.app import App
    from roost.cli.common import locked, require_root, runner
    from roost.offsite.drill import drill as run_drill

    require_root()
    a = App.load(app, runner())
    with locked(a.layout):
        entry = run_drill(a, say=lambda m: console.print(f"→ {m}", markup=False), ui=console)
    console.print(f"[bold green]drill passed[/] for {app}: snapshot {entry['snapshot'][:8]} "
                  f"({entry['snapshot_time'][:19]}Z) restored in {entry['seconds']}s; "
                  + "; ".join(entry["checked"]), highlight=False)
