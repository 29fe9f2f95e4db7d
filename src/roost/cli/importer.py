"""`roost import` (compose file -> spec) and `roost check` (validate specs). Neither needs root or reads the host."""

from __future__ import annotations

import os
import re
from pathlib import Path

import click

from roost.errors import RoostError, SpecError, UsageError

# folder names that say how a project is laid out, not what it is: the app is named after a folder above
GENERIC_FOLDERS = {"docker", "compose", "docker-compose", "deploy", "deployment", "deployments", "container",
                   "containers", "examples", "example", "contrib", "install", "self-hosted", "selfhost", "hosting",
                   "production", "prod", "dev", "ops", "infra", "src", "app", "lifecycle", "build", "dist", "etc"}
MAX_FILE = 1 << 20  # an env file is KEY=VALUE lines: a megabyte is plenty


def _echo(text: str) -> None:
    """A report line: plain text (no markup, so `:100:` stays `:100:`), control characters escaped."""
    from roost.compose.report import plain

    click.echo(plain(text), err=True)


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file", f"give the path of {what}") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: cannot read it: {e}") from None


def read_beside(path: Path) -> str | None:
    """A file the compose project names (.env, an env_file): opened without following a link
    (a link could make root read another app's secrets under sudo), a regular file of at most
    1 MB. None when it does not exist; a UsageError naming the file when it may not be read."""
    from roost.host.safefs import UnsafePath, read_bytes

    try:
        data = read_bytes(os.path.abspath(path), MAX_FILE)
    except UnsafePath as e:
        raise UsageError(f"{e.message.split('; ')[0]}: not read (it could lead to another app's files)",
                         "replace it by a regular file (copy the content), then import again") from None
    except OSError as e:
        raise UsageError(f"{path}: cannot read it: {e.strerror}") from None
    if data is None:
        return None
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text", "an env file holds KEY=VALUE lines") from None


def default_name(project: Path) -> str:
    """The project's folder, or the first folder above it whose name says more than `docker`."""
    for folder in (project, *project.parents):
        if folder.name and folder.name.lower() not in GENERIC_FOLDERS:
            return folder.name
    return "app"


@click.command("import")
@click.argument("compose_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", help="App name (default: the file's `name:`, COMPOSE_PROJECT_NAME or its folder's name).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the spec here (default: print it on stdout).")
@click.option("--env-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Variables for ${VAR} instead of the project's .env file.")
@click.option("--profile", "profiles", multiple=True,
              help="Also import services of this compose profile (default: COMPOSE_PROFILES).")
@click.option("--strict", is_flag=True,
              help="Exit 2 if anything was dropped or approximated, or a value came from this shell's environment.")
def import_(compose_file: Path, name: str | None, output: Path | None, env_file: Path | None,
            profiles: tuple[str, ...], strict: bool) -> None:
    """Turn a docker-compose file into a roost spec, with a report of everything not carried over.

    The report (stderr) names the compose line of each dropped or approximated key, what roost did
    and what to do, and each value taken from this shell's environment. Credentials of the
    file's own services that it repeats or leaves as placeholders become generated secrets.

    \b
    Example:
      roost import docker-compose.yml --name notes -o notes.toml
      roost check notes.toml && sudo roost plan notes.toml
    """
    from roost.compose import import_compose
    from roost.compose.convert import Options
    from roost.compose.interpolate import parse_dotenv
    from roost.output import console

    text = _read(compose_file, "a docker-compose.yml")
    project = compose_file.resolve().parent
    dotenv = env_file if env_file is not None else project / ".env"
    dotenv_text = read_beside(dotenv)
    if dotenv_text is None and env_file is not None:
        raise UsageError(f"{env_file}: no such file", "give the path of a file of KEY=VALUE lines")
    values = parse_dotenv(dotenv_text, os.environ) if dotenv_text is not None else {}
    shell = dict(os.environ)
    env = {**values, **shell}  # as compose: the shell's environment wins over the .env file
    if not profiles and env.get("COMPOSE_PROFILES"):
        profiles = tuple(p.strip() for p in env["COMPOSE_PROFILES"].split(",") if p.strip())
    spec_dir = (output.resolve().parent if output else Path.cwd().resolve())
    prefix = os.path.relpath(project, spec_dir)
    opts = Options(name=name, profiles=profiles, env_file_prefix="" if prefix == "." else prefix,
                   default_name=env.get("COMPOSE_PROJECT_NAME") or default_name(project),
                   read_env_file=lambda p: read_beside(project / p), shell=frozenset(shell))
    result = import_compose(text, str(compose_file), env, opts)
    report = result.report
    for f in report.sorted():
        _echo(f"{f.kind:<12} {f.render(report.source)}")
    counts = ", ".join(f"{n} {k}" for k, n in report.counts().items() if n)
    if output:
        output.write_text(result.spec)
        _echo(f"wrote {output} (app {result.name}): {counts or 'nothing to report'}")
    else:
        click.echo(result.spec, nl=False)
        _echo(f"imported app {result.name}: {counts or 'nothing to report'}")
    if strict and report.lossy:
        raise UsageError("--strict: the import dropped or approximated something, or took a value from this "
                         "shell's environment (see the report above)",
                         "fix the compose file or the spec by hand, or import without --strict")
    if not output:
        return
    console.print(f"next: roost check {_plain(str(output))} && sudo roost plan {_plain(str(output))}", highlight=False)


def _plain(text: str) -> str:
    """Text from a file reaches the terminal without markup or control characters."""
    from rich.markup import escape

    return escape(re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "?", text))


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
    from roost.spec.envfiles import read_env_files
    from roost.spec.load import load_spec

    bad = 0
    for path in specs:
        try:
            spec = load_spec(path)
            read_env_files(spec, Path(path))  # what plan reads: a missing or unreadable env file fails here too
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
