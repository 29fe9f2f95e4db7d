from __future__ import annotations

import click


@click.command()
@click.argument("app")
def shell(app: str) -> None:
    """A login shell as the app user, in its home, with XDG_RUNTIME_DIR and the user bus set,
    so `systemctl --user`, `journalctl --user` and `podman` just work. History is kept forever.

    \b
    Example:
      roost shell hedgedoc
    """
    from roost.cli.common import load_app, require_root, runner

    require_root()
    host = runner()
    user = load_app(app, host).user
    # the app user's shell is nologin: ask for bash explicitly, as the source document does
    host.exec_interactive(["bash", "--login"], user=user)
