from __future__ import annotations

import click

from roost.cli.common import print_plan, require_root, runner, spec_argument


@click.command()
@spec_argument
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON (no diffs, secrets never included).")
def plan(spec: str, as_json: bool) -> None:
    """Show what `apply` would change, with diffs of every file. Changes nothing.

    \b
    Example:
      roost plan examples/hedgedoc.toml
    """
    from roost.apply import prepare

    require_root()
    prep = prepare(spec, runner(dry_run=True))
    if as_json:
        click.echo(prep.plan.to_json())
    else:
        print_plan(prep.plan)
