"""Shared bits of the verbs: the host runner, plan printing, app lookup."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from roost.errors import RoostError
from roost.host.runner import Runner
from roost.layout import list_apps as list_apps  # re-exported for the verbs
from roost.output import console, plain, print_converged
from roost.record import read_record

load_app = read_record  # the verbs' name for it

if TYPE_CHECKING:  # the plan machinery imports the spec model (pydantic): ~0.14 s that status, logs, shell
    from roost.plan.actions import Plan  # and history do not need

spec_argument = click.argument("spec", type=click.Path(dir_okay=False, path_type=str))


def require_root() -> None:
    if os.geteuid() != 0:
        raise RoostError("roost manages users and system files: run it as root (e.g. with sudo)")


def runner(dry_run: bool = False) -> Runner:
    return Runner(dry_run=dry_run)


def prepare_recorded(spec: str, host: Runner):
    """`apply.prepare` with its reads recorded for the converged cache (roost/converged.py)."""
    from typing import cast

    from roost import converged
    from roost.apply import prepare
    from roost.host.runner import Host

    with converged.recording(host) as reads:
        prep = prepare(spec, cast(Host, reads))  # a Host: what it does not record goes to `host`
    return prep, reads


def print_plan(plan: Plan, show_diffs: bool = True) -> None:
    if plan.empty:
        print_converged(plan.app, plan.notes)
        return
    console.print(f"[bold]Plan for app {plan.app}[/]: {len(plan.actions)} change(s)")
    for i, action in enumerate(plan.actions, 1):
        console.print(f"  [cyan]{i:>2}.[/] {plain(action.describe(), markup=True, lines=True)}", highlight=False)
        raw = action.detail() if show_diffs else None
        detail = plain(raw, lines=True) if raw else None  # the old side is a file in the app's home
        if detail:
            from rich.syntax import (
                Syntax,  # pygments: ~60 ms to import, needed only for diffs
            )

            console.print(Syntax(detail.rstrip("\n"), "diff", theme="ansi_dark", background_color="default"))
    for n in plan.notes:
        console.print(f"  [dim]· unchanged: {n}[/]")


def locked(layout, wait: float = 600):
    """The app's lock for a verb; while another roost run holds it, say so and wait (up to `wait` s)."""
    from roost.lock import app_lock

    return app_lock(layout.lock_file, layout.name, wait,
                    say=lambda m: console.print(m, style="yellow", markup=False))

