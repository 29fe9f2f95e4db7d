from __future__ import annotations

import click


@click.command()
@click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=str))
@click.option("--quiet", "-q", is_flag=True, help="Do not print the diffs before applying.")
def apply(specs: tuple[str, ...], quiet: bool) -> None:
    """Converge the host to one or more specs: user, ID ranges, linger, secrets, units, images, start.

    Every step is idempotent: a second apply on a converged host prints "no changes" and
    runs no mutating command. A failed apply is finished by the next one. Several specs are
    checked first (bad input changes nothing), read side by side, then applied in order.

    \b
    Examples:
      roost apply examples/hedgedoc.toml
      roost apply /etc/roost/specs/*.toml
    """
    if _converged(specs):  # before the model and the planner are imported: the point of it
        return
    from concurrent.futures import ThreadPoolExecutor
    from contextlib import ExitStack

    from roost import converged
    from roost.apply import prepare
    from roost.cli.common import locked, prepare_recorded, print_plan, require_root, runner
    from roost.errors import UsageError
    from roost.layout import Layout
    from roost.lock import global_lock
    from roost.output import console
    from roost.spec.load import load_spec

    require_root()
    host = runner()
    loaded = [load_spec(s) for s in specs]  # every spec valid before anything is read or changed
    names = [s.name for s in loaded]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise UsageError(f"app {', '.join(twice)} is named by more than one spec", hint="apply each app once")
    domains = [d for s in loaded for d in (s.web.domains if s.web else ())]
    if len(set(domains)) != len(domains):
        twice = sorted({d for d in domains if domains.count(d) > 1})
        raise UsageError(f"web.domains: {', '.join(twice)} is claimed by more than one spec",
                         hint="a domain has one app")
    with ExitStack() as locks:
        # the apps' locks first (an app's user can hold its own: waiting for it must not stall the
        # host), in one order for all runs (no deadlock); then one apply at a time on the host, so
        # that two new apps are not given the same UID or range. Nothing takes them the other way.
        for spec in sorted(loaded, key=lambda s: s.name):
            locks.enter_context(locked(Layout(spec.name, spec.home)))
        locks.enter_context(global_lock(say=lambda m: console.print(m, style="yellow", markup=False)))
        with ThreadPoolExecutor(max_workers=4) as pool:  # reads only; each spends its time in podman/runuser
            recorded = list(pool.map(lambda s: prepare_recorded(s, host), specs))
        changed = False
        for path, (prep, reads) in zip(specs, recorded, strict=True):
            if changed:  # an earlier app changed the host (users, ranges, ports): look again
                prep = prepare(path, host)
            else:
                converged.remember(prep, reads)
            print_plan(prep.plan, show_diffs=not quiet)
            if not prep.plan.empty:
                _apply_one(host, prep)
                changed = True


def _converged(specs: tuple[str, ...]) -> bool:
    """The fast path (roost/converged.py): every spec's last converged run read the host again, under
    the same locks as a full run, and found it as it was. False: run the pipeline."""
    import os
    from contextlib import ExitStack

    from roost import converged
    from roost.host.runner import Runner
    from roost.layout import Layout
    from roost.lock import app_lock, global_lock

    if os.geteuid() != 0:
        return False  # the pipeline says so
    memos = [m for m in map(converged.load, specs) if m is not None]
    if len(memos) != len(specs) or len({m.app for m in memos}) != len(memos):  # the pipeline says what is wrong
        return False

    def say(message: str) -> None:
        from roost.output import console

        console.print(message, style="yellow", markup=False)

    with ExitStack() as locks:
        for memo in sorted(memos, key=lambda m: m.app):  # the order of the full run's locks
            locks.enter_context(app_lock(Layout(memo.app, memo.home).lock_file, memo.app, say=say))
        locks.enter_context(global_lock(say=say))
        answers = converged.read_again(memos, Runner())
        from roost.output import print_converged  # rich: imported while the reads run

        if not answers():
            return False
    for memo in memos:
        print_converged(memo.app, memo.notes)
    return True


def _apply_one(host, prep) -> None:
    from roost.apply import apply
    from roost.output import console

    done = apply(prep, host, console, on_action=lambda a: console.print(f"[cyan]→[/] {a.describe()}", highlight=False))
    console.print(f"[bold green]applied[/] {done.changes} change(s) in {done.seconds:.1f}s")
    for url in done.urls:
        console.print(f"  app {done.app} answers on [bold]{url}[/]")
