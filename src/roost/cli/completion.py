"""`roost completion SHELL`: the shell's completion script, from click's own shell completion."""

from __future__ import annotations

import click


@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the completion script for SHELL.

    \b
    Examples:
      roost completion bash > /etc/bash_completion.d/roost
      roost completion zsh > "${fpath[1]}/_roost"
      roost completion fish > ~/.config/fish/completions/roost.fish
    """
    from click.shell_completion import get_completion_class

    from roost.cli import cli

    cls = get_completion_class(shell)
    assert cls is not None  # click ships all three
    click.echo(cls(cli, {}, "roost", "_ROOST_COMPLETE").source())
