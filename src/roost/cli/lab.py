"""`roost lab`: a disposable systemd + rootless Podman host on this machine (systemd-nspawn)."""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path

import click

from roost.errors import RoostError, UsageError

DEFAULT_NAME = "roost-lab"
name_option = click.option("--name", "-n", default=DEFAULT_NAME, show_default=True, help="Which lab.")


def _machine(name: str):  # -> roost.lab.machine.Machine (imported lazily: keeps --help fast)
    from roost.lab.machine import Machine
    from roost.lab.up import preflight

    preflight()
    return Machine(name)


def _running(name: str):
    machine = _machine(name)
    if not machine.running:
        raise RoostError(f"lab {name} is not running", f"roost lab up --name {name}")
    return machine


@click.group()
def lab() -> None:
    """A disposable Debian 13 host with systemd and rootless Podman 5, booted with
    systemd-nspawn on this machine (needs root). It shares this machine's network:
    ports published on 127.0.0.1 inside answer here. One lab runs at a time.

    \b
      sudo roost lab up                        # build (first time ~3 min), boot
      sudo roost lab try examples/lab-notes.toml
      sudo roost lab shell roost-lab
      sudo roost lab down roost-lab
    """


@lab.command()
@name_option
def up(name: str) -> None:
    """Build (once, cached under /var/cache/roost/lab), boot and provision a lab.

    Installs this checkout of roost inside (/usr/local/bin/roost) and pushes the test
    images (127.0.0.1:5000/roost-lab/postgres, .../notes) to the lab's registry. On a
    running lab it only reinstalls roost if the checkout changed.

    \b
    Example:
      sudo roost lab up --name roost-lab
    """
    from roost.lab.up import up as lab_up

    lab_up(name)


@lab.command("try")
@click.argument("spec", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@name_option
def try_(spec: Path, name: str) -> None:
    """Bring the lab up, copy SPEC's directory in and `roost apply` it there, then print
    the URL(s) where the app answers from this machine.

    SPEC may be a compose file (.yml/.yaml): it is imported inside the lab (`roost import`,
    report shown), the images it names are built for the lab if it knows them (examples/apps),
    then applied. Host ports below 1024 are published 8000 higher: the lab shares this
    machine's network, whose sysctls it leaves alone. A `first-run` script beside SPEC (the
    steps the app's README asks for once, e.g. Synapse's `generate`) runs after a first apply.

    \b
    Examples:
      sudo roost lab try examples/lab-notes.toml
      sudo roost lab try examples/apps/miniflux/docker-compose.yml
      sudo roost lab try examples/apps/synapse/docker-compose.yml
    """
    from roost.lab import config, trying
    from roost.lab.up import copy_into
    from roost.lab.up import up as lab_up
    from roost.output import console
    from roost.spec.load import load_spec

    compose = trying.is_compose(spec.name)
    if not compose:
        load_spec(spec)  # a bad spec is reported here, located, before a lab is built or booted
    machine = lab_up(name)
    spec = spec.resolve()
    inside = f"/root/roost-try/{spec.parent.name}"
    copy_into(machine, spec.parent, inside)
    env = {"HOME": "/root", "TERM": os.environ.get("TERM", "dumb")}
    target = f"{inside}/{spec.name}"
    if compose:
        target = _import_in_lab(machine, inside, spec.name, env)
    data = tomllib.loads((machine.rootfs / target.lstrip("/")).read_text())
    if (spec.parent / trying.FIRST_RUN).is_file():
        _first_run(machine, inside, target, env)
    console.print(f"[bold]roost apply {target}[/] (in lab {name})")
    cp = machine.exec(["roost", "apply", target], check=False, capture=False, env=env)
    if cp.returncode != 0:
        raise RoostError(f"roost apply failed in lab {name} (exit {cp.returncode})",
                         f"look around: roost lab shell {name}")  # fmt: skip
    for url in config.publish_urls(data):
        status = trying.wait_answers(url)
        if not status:
            raise RoostError(f"{url} does not answer", f"see `roost lab exec {name} -- roost logs {data['app']['name']}`")
        console.print(f"[green]→[/] {url}  [dim](answers {status})[/]")
    for line in config.web_hints(data, str(machine.rootfs)):
        console.print(line if line.startswith(" ") else f"[green]→[/] {line}", markup=False, highlight=False)


def _first_run(machine, inside: str, target: str, env: dict[str, str]) -> None:
    """The steps an app's README asks for once before its first start (examples/apps/NAME/first-run):
    they need the app applied (its user, volumes, network) but may be what lets it start at all."""
    from roost.lab import trying
    from roost.output import console

    console.print(f"[bold]roost apply {target}[/] (before {trying.FIRST_RUN}: the app may not start yet)")
    machine.exec(["roost", "apply", "--quiet", target], check=False, capture=False, env=env)
    console.print(f"[bold]sh {trying.FIRST_RUN}[/] (in {inside})")
    cp = machine.exec(["sh", "-c", 'cd "$1" && sh ./"$2"', "sh", inside, trying.FIRST_RUN],
                      check=False, capture=False, env=env)  # fmt: skip
    if cp.returncode != 0:
        raise RoostError(f"{inside}/{trying.FIRST_RUN} failed (exit {cp.returncode})", "see its output above")


def _import_in_lab(machine, inside: str, compose: str, env: dict[str, str]) -> str:
    """`roost import` in the lab (its report goes to the terminal), the images built, low ports lifted."""
    from roost.lab import apps, trying
    from roost.output import console

    target = f"{inside}/roost-spec.toml"
    console.print(f"[bold]roost import {compose} -o roost-spec.toml[/] (in {inside})")
    cp = machine.exec(["sh", "-c", 'cd "$1" && roost import "$2" -o roost-spec.toml', "sh", inside, compose],
                      check=False, capture=False, env=env)  # fmt: skip
    if cp.returncode != 0:
        raise RoostError(f"roost import of {compose} failed (exit {cp.returncode})", "see its report above")
    path = machine.rootfs / target.lstrip("/")
    text, moved = trying.lift_low_ports(path.read_text())
    path.write_text(text)
    for line in moved:
        console.print(f"[yellow]lab:[/] {line} (this machine's unprivileged ports start at 1024)")
    for app in apps.needed(tomllib.loads(text)):
        with console.status(f"images of {app} for the lab"):
            apps.ensure_app(machine, app)
    return target


@lab.command("exec", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("argv", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_(name: str, argv: tuple[str, ...]) -> None:
    """Run a command inside lab NAME as root, clean environment; its exit code is ours.

    \b
    Example:
      sudo roost lab exec roost-lab -- systemctl is-system-running
    """
    machine = _running(name)
    sys.stdout.flush()
    full = machine.argv(list(argv), env={"HOME": "/root", "TERM": os.environ.get("TERM", "dumb")})
    os.execvp(full[0], full)


@lab.command()
@click.argument("name", default=DEFAULT_NAME)
def shell(name: str) -> None:
    """An interactive root shell (bash -l) inside lab NAME.

    \b
    Example:
      sudo roost lab shell roost-lab
    """
    machine = _running(name)
    full = machine.argv(["bash", "-l"], env={"HOME": "/root", "TERM": os.environ.get("TERM", "xterm")})
    os.execvp(full[0], full)


@lab.command()
@click.argument("name")
def down(name: str) -> None:
    """Power lab NAME off and delete its disk (the build cache stays).

    \b
    Example:
      sudo roost lab down roost-lab
    """
    from roost.lab.up import down as lab_down
    from roost.output import console

    machine = _machine(name)
    if not machine.dir.exists():
        raise UsageError(f"no lab named {name}", "roost lab ls")
    lab_down(machine)
    console.print(f"lab {name} removed")


@lab.command()
@click.argument("name")
def stop(name: str) -> None:
    """Power lab NAME off, keeping its disk (`roost lab up --name NAME` boots it again).

    \b
    Example:
      sudo roost lab stop roost-lab
    """
    from roost.output import console

    _machine(name).poweroff()
    console.print(f"lab {name} stopped")


@lab.command()
@click.argument("name")
def reboot(name: str) -> None:
    """Power lab NAME off and boot it again from the same disk, like a server reboot.

    \b
    Example:
      sudo roost lab reboot roost-lab
    """
    from roost.lab.up import reboot as lab_reboot
    from roost.output import console

    state = lab_reboot(_running(name))
    console.print(f"lab {name} rebooted: {state}")


@lab.command("ls")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def ls(as_json: bool) -> None:
    """List labs and their state.

    \b
    Example:
      sudo roost lab ls
    """
    from rich.table import Table

    from roost.lab.machine import all_machines
    from roost.lab.up import preflight
    from roost.output import console

    preflight()
    if as_json:
        import json

        click.echo(json.dumps([{"name": m.name, "state": m.system_state(), "pid": m.nspawn_pid(), "disk": str(m.dir)}
                               for m in all_machines()], indent=2))
        return
    table = Table("name", "state", "pid", "disk")
    for m in all_machines():
        table.add_row(m.name, m.system_state(), str(m.nspawn_pid() or "-"), str(m.dir))
    console.print(table)
