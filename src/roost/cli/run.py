from __future__ import annotations

import click


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("app")
@click.argument("container")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.option("-e", "--env", "env", multiple=True, metavar="KEY=VALUE",
              help="An extra variable for this run (visible in the process list: not for passwords).")
def run(app: str, container: str, command: tuple[str, ...], env: tuple[str, ...]) -> None:
    """Run CONTAINER of APP once, as `docker compose run` does: its image, environment, secrets,
    volumes and network as applied, with COMMAND instead of its own (none: its own). As the app's
    user, on a terminal of its own; removed when it exits; its exit code is roost's.

    For the steps an app's README asks for once: generate a config, create an admin, migrate.
    Options go before APP; everything after CONTAINER is the command.

    \b
    Examples:
      roost run -e SYNAPSE_SERVER_NAME=chat.example.org synapse synapse generate
      roost run miniflux miniflux /usr/bin/miniflux -create-admin
    """
    import os

    from roost.app import App
    from roost.cli.common import require_root, runner
    from roost.errors import UsageError
    from roost.render.oneoff import run_argv
    from roost.spec.model import ENV_KEY_RE

    require_root()
    host = runner()
    a = App.load(app, host)
    if container not in a.spec.containers:
        raise UsageError(f"app {app} has no container {container!r} (it has: {', '.join(a.spec.start_order())})",
                         hint=f"`roost status {app}` lists them")
    for kv in env:
        key, eq, _ = kv.partition("=")
        if not eq or not ENV_KEY_RE.fullmatch(key):
            raise UsageError(f"--env {kv.partition('=')[0]!r}: expected KEY=VALUE with KEY a variable name")
    # lstat through safefs: a path in the app's home is never followed by root
    has_env_file = host.stat(a.layout.env_file(container)) is not None
    argv = run_argv(a.spec, a.layout, container, has_env_file, command, env,
                    tty=os.isatty(0) and os.isatty(1))
    host.exec_interactive(argv, user=a.user)
