from __future__ import annotations

import click

from roost.output import console


@click.command()
@click.argument("app")
@click.option("--from", "repository", required=True, help="The restic repository from the recovery kit.")
@click.option("--password-file", required=True, type=click.Path(dir_okay=False),
              help="A file holding the kit's password ('-': read it from stdin).")
def recover(app: str, repository: str, password_file: str) -> None:
    """Rebuild APP on this (new) server from the newest snapshot in its offsite repository:
    fetch, verify every file against the manifest, apply the spec it holds, restore volumes and
    databases, wait healthy. Nothing is created when the snapshot cannot be read or checked.

    \b
    Example:
      roost recover --from rest:https://backup.example.net:8000/notes --password-file notes.pw notes
    """
    from roost.cli.common import require_root, runner
    from roost.offsite import recover as rc

    require_root()
    password = rc.read_password(password_file)
    r = rc.recover(runner(), repository, password, app, say=lambda m: console.print(f"→ {m}", markup=False),
                   ui=console)
    phases = ", ".join(f"{k} {v:.1f}s" for k, v in r.phases.items() if k != "total")
    console.print(f"[bold green]recovered[/] {app} from snapshot {r.snapshot[:8]} ({r.snapshot_time[:19]}Z) in "
                  f"{r.phases['total']:.1f}s ({phases}); {r.bytes / 1e6:.1f} MB fetched", highlight=False)
    console.print(f"its spec: {r.spec_path}" + (f"; serving {', '.join(r.urls)}" if r.urls else ""), highlight=False)
