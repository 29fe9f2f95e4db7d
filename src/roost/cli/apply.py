from __future__ import annotations

import time

import click

from roost.cli.common import print_plan, require_root, runner, spec_argument
from roost.output import console


@click.command()
@spec_argument
@click.option("--quiet", "-q", is_flag=True, help="Do not print the diffs before applying.")
def apply(spec: str, quiet: bool) -> None:
    """Converge the host to the spec: user, ID ranges, linger, secrets, units, images, start.

    Every step is idempotent: a second apply on a converged host prints "no changes" and
    runs no mutating command. A failed apply is finished by the next one.

    \b
    Example:
      roost apply examples/hedgedoc.toml
    """
    from roost.apply import app_lock, execute, image_digests, prepare, record_history
    from roost.errors import RoostError
    from roost.layout import Layout
    from roost.spec.load import load_spec

    require_root()
    host = runner()
    loaded = load_spec(spec)
    layout = Layout(loaded.name, loaded.home)
    with app_lock(layout, say=lambda m: console.print(f"[yellow]{m}[/]")):
        prep = prepare(spec, host)
        print_plan(prep.plan, show_diffs=not quiet)
        if prep.plan.empty:
            return
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
                    entry["images"] = image_digests(host, prep.user, prep.spec)
                record_history(host, prep, entry)
            except Exception:  # history must never hide the real outcome
                pass
        console.print(f"[bold green]applied[/] {len(prep.plan.actions)} change(s) in {time.monotonic() - started:.1f}s")
        for port in prep.spec.pod.ports:
            if port.proto == "tcp":
                host_ip = "127.0.0.1" if port.ip in ("0.0.0.0",) else port.ip
                console.print(f"  app {prep.spec.name} answers on [bold]http://{host_ip}:{port.host_port}/[/]")


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False
