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
    from roost import converged
    from roost.cli.common import prepare_recorded
    from roost.output import print_converged

    require_root()
    host = runner(dry_run=True)
    memo = None if as_json else converged.load(spec)
    if memo is not None and converged.unchanged(memo, host):  # the fast path: roost/converged.py
        print_converged(memo.app, memo.notes)
        return
    prep, reads = prepare_recorded(spec, host)
    converged.remember(prep, reads)
    if as_json:
        click.echo(prep.plan.to_json())
    else:
        print_plan(prep.plan)
