from __future__ import annotations

import os
import time

import click

from roost.cli.common import print_plan, require_root, runner
from roost.output import console


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
    from concurrent.futures import ThreadPoolExecutor
    from contextlib import ExitStack

    from roost.apply import prepare
    from roost.cli.common import locked
    from roost.errors import UsageError
    from roost.layout import Layout
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
        for spec in sorted(loaded, key=lambda s: s.name):  # one order for all: no deadlock between runs
            locks.enter_context(locked(Layout(spec.name, spec.home)))
        with ThreadPoolExecutor(max_workers=4) as pool:  # reads only; each spends its time in podman/runuser
            preps = list(pool.map(lambda s: prepare(s, host), specs))
        changed = False
        for path, prep in zip(specs, preps):
            if changed:  # an earlier app changed the host (users, ranges, ports): look again
                prep = prepare(path, host)
            print_plan(prep.plan, show_diffs=not quiet)
            if not prep.plan.empty:
                _apply_one(host, prep)
                changed = True


def _apply_one(host, prep) -> None:
    from roost import history
    from roost.apply import execute
    from roost.errors import RoostError
    from roost.host.state import running_images

    started = time.monotonic()
    result, error = "ok", None
    try:
        execute(prep, host, console, on_action=lambda a: console.print(f"[cyan]→[/] {a.describe()}", highlight=False))
    except RoostError as e:
        result, error = "failed", e.message
        raise
    finally:
        entry = {"action": "apply", "result": result, "spec": prep.spec_path, "spec_digest": prep.spec.digest(),
                 "changes": len(prep.plan.actions), "seconds": round(time.monotonic() - started, 2)}
        if error:
            entry["error"] = host.mask(error)
        try:
            if _user_exists(prep.spec.name):
                entry["images"] = running_images(host, prep.user, prep.spec.name, prep.spec.images)
            if os.path.isdir(prep.spec.home):
                ident = prep.desired.identity
                history.append(host, prep.desired.layout, ident.uid, ident.gid, entry)
        except Exception:  # history must never hide the real outcome
            pass
    console.print(f"[bold green]applied[/] {len(prep.plan.actions)} change(s) in {time.monotonic() - started:.1f}s")
    for port in prep.spec.pod.ports:
        if port.proto == "tcp":
            host_ip = "127.0.0.1" if port.ip in ("0.0.0.0",) else port.ip
            console.print(f"  app {prep.spec.name} answers on [bold]http://{host_ip}:{port.host_port}/[/]")
    if prep.spec.web is not None:
        console.print(f"  and at [bold]{prep.spec.web.url}[/] through caddy")


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False
