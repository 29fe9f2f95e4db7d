"""`roost import` (compose file -> spec) and `roost check` (validate specs). Neither needs root or reads the host."""

from __future__ import annotations

import os
import re
from pathlib import Path

import click

from roost.errors import RoostError, SpecError, UsageError

_STYLE = {"dropped": "red", "approximated": "yellow", "review": "cyan", "info": "dim"}


def _plain(text: str) -> str:
    """Text from a file reaches the terminal without markup or control characters."""
    from rich.markup import escape

    return escape(re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "?", text))


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file", f"give the path of {what}") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: cannot read it: {e}") from None


def _read_env_file(project: Path, name: str) -> str | None:
    """An env_file the compose file names, to compare values with (a regular file of at most 1 MB)."""
    path = project / name
    try:
        if not path.is_file() or path.stat().st_size > 1 << 20:
            return None
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        return None


@click.command("import")
@click.argument("compose_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", help="App name (default: the file's `name:` or its folder's name).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the spec here (default: print it on stdout).")
@click.option("--env-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Variables for ${VAR} instead of the project's .env file.")
@click.option("--profile", "profiles", multiple=True, help="Also import services of this compose profile.")
@click.option("--strict", is_flag=True, help="Exit 2 if anything was dropped or approximated.")
def import_(compose_file: Path, name: str | None, output: Path | None, env_file: Path | None,
            profiles: tuple[str, ...], strict: bool) -> None:
    """Turn a docker-compose file into a roost spec, with a report of everything not carried over.

    The report (stderr) names the compose line of each dropped or approximated key, what roost did
    and what to do. Passwords the file repeats or leaves as placeholders become generated secrets.

    \b
    Example:
      roost import docker-compose.yml --name notes -o notes.toml
      roost check notes.toml && sudo roost plan notes.toml
    """
    from roost.compose import import_compose
    from roost.compose.convert import Options
    from roost.compose.interpolate import parse_dotenv
    from roost.output import console, console_err

    text = _read(compose_file, "a docker-compose.yml")
    project = compose_file.resolve().parent
    dotenv = env_file if env_file is not None else project / ".env"
    values: dict[str, str] = {}
    if env_file is not None or dotenv.is_file():
        values = parse_dotenv(_read(dotenv, "a file of KEY=VALUE lines"), os.environ)
    env = {**values, **os.environ}  # as compose: the shell's environment wins over the .env file
    spec_dir = (output.resolve().parent if output else Path.cwd().resolve())
    prefix = os.path.relpath(project, spec_dir)
    opts = Options(name=name, profiles=profiles, env_file_prefix="" if prefix == "." else prefix,
                   default_name=project.name, read_env_file=lambda p: _read_env_file(project, p))
    result = import_compose(text, str(compose_file), env, opts)
    report = result.report
    for f in report.sorted():
        console_err.print(f"[{_STYLE[f.kind]}]{f.kind:<12}[/] {_plain(f.render(report.source))}",
                          highlight=False, soft_wrap=True)
    counts = ", ".join(f"{n} {k}" for k, n in report.counts().items() if n)
    if output:
        output.write_text(result.spec)
        console_err.print(f"[bold]wrote[/] {_plain(str(output))} (app {result.name}): {counts or 'nothing to report'}",
                          highlight=False)
    else:
        click.echo(result.spec, nl=False)
        console_err.print(f"[bold]imported[/] app {result.name}: {counts or 'nothing to report'}", highlight=False)
    if strict and report.lossy:
        raise UsageError("--strict: the import dropped or approximated something (see the report above)",
                         "fix the compose file or the spec by hand, or import without --strict")
    if not output:
        return
    console.print(f"next: roost check {_plain(str(output))} && sudo roost plan {_plain(str(output))}", highlight=False)


@click.command()
@click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=str))
def check(specs: tuple[str, ...]) -> None:
    """Validate spec files: every key, and the cross-references (requires, ${secrets.x}, host paths).

    Reads nothing from the host and needs no root: for editors, pre-commit hooks and CI.
    Exit 0 when all are valid, 2 with the located problems otherwise.

    \b
    Example:
      roost check examples/*.toml
    """
    from roost.output import console, console_err
    from roost.spec.load import load_spec

    bad = 0
    for path in specs:
        try:
            spec = load_spec(path)
        except SpecError as e:
            bad += 1
            console_err.print(f"[bold red]error:[/] {_plain(e.render())}", highlight=False, soft_wrap=True)
            continue
        except RoostError as e:
            bad += 1
            console_err.print(f"[bold red]error:[/] {_plain(path)}: {_plain(e.message)}", highlight=False)
            continue
        console.print(f"[green]ok[/] {_plain(path)}: app {spec.name}, {len(spec.containers)} container(s)",
                      highlight=False)
    if bad:
        raise UsageError(f"{bad} of {len(specs)} spec(s) have problems", "fix them and run `roost check` again")
