"""examples/apps: each upstream compose file sits beside the spec `roost import` makes of it, and its SOURCE
note. A change of the importer that changes a spec fails here: re-import (the command is in the message)."""

from __future__ import annotations

from pathlib import Path

import pytest

from roost.compose import import_compose
from roost.compose.convert import Options
from roost.compose.interpolate import parse_dotenv

APPS = Path(__file__).resolve().parents[2] / "examples" / "apps"
NAMES = sorted(p.name for p in APPS.iterdir() if p.is_dir())


def test_the_three_real_apps_are_there():
    assert NAMES == ["miniflux", "node-red", "synapse"]


@pytest.mark.parametrize("name", NAMES)
def test_spec_is_what_roost_import_makes_of_the_compose_file(name: str) -> None:
    folder = APPS / name
    dotenv = folder / ".env"
    env = parse_dotenv(dotenv.read_text(), {}) if dotenv.is_file() else {}
    opts = Options(default_name=name, read_env_file=lambda p: (folder / p).read_text() if (folder / p).is_file() else None)
    made = import_compose((folder / "docker-compose.yml").read_text(), "docker-compose.yml", env, opts).spec
    assert (folder / "roost-spec.toml").read_text() == made, (
        f"examples/apps/{name}/roost-spec.toml is stale: cd examples/apps/{name} && "
        "roost import docker-compose.yml -o roost-spec.toml")


@pytest.mark.parametrize("name", NAMES)
def test_source_note_names_repository_path_commit_and_licence(name: str) -> None:
    note = (APPS / name / "SOURCE").read_text()
    for key in ("repository:", "path:", "commit:", "licence:"):
        assert key in note, f"examples/apps/{name}/SOURCE has no {key}"
