"""PostgreSQL major guard: tags, data directories and the refusal that names the migration."""

from __future__ import annotations

import pytest

from roost.errors import UsageError
from roost.pgmajor import guard, image_major, pg_version_files, pgdata_host_path, with_major
from roost.spec.load import parse_spec

SPEC = """
[app]
name = "wiki"
[containers.db]
image = "registry.example.org/lib/postgres:{tag}"
env = {{ PGDATA = "/var/lib/postgresql/data/pgdata" }}
volumes = ["database:/var/lib/postgresql/data:Z"]
[containers.web]
image = "registry.example.org/wiki:2"
requires = ["db"]
"""


@pytest.mark.parametrize("image, major", [
    ("postgres:13", 13), ("docker.io/library/postgres:17.2-bookworm", 17), ("127.0.0.1:5000/x/postgres:15", 15),
    ("postgres", None), ("postgres:latest", None), ("postgres:16@sha256:" + "a" * 64, 16),
])
def test_image_major(image, major):
    assert image_major(image) == major


@pytest.mark.parametrize("image, to, expected", [
    ("127.0.0.1:5000/roost-lab/postgres:15", 17, "127.0.0.1:5000/roost-lab/postgres:17"),
    ("postgres:13.4-bookworm", 17, "postgres:17.4-bookworm"),
    ("postgres", 16, "postgres:16"),
    ("127.0.0.1:5000/postgres", 16, "127.0.0.1:5000/postgres:16"),
])
def test_with_major(image, to, expected):
    assert with_major(image, to) == expected


def test_pgdata_is_found_through_the_volume():
    spec = parse_spec(SPEC.format(tag="15"))
    assert spec.containers["db"].is_postgres and not spec.containers["web"].is_postgres
    assert pgdata_host_path(spec, "db") == "/srv/roost/wiki/database/pgdata"
    assert pg_version_files(spec) == {"db": "/srv/roost/wiki/database/pgdata/PG_VERSION"}


def test_same_major_or_no_data_passes():
    spec = parse_spec(SPEC.format(tag="15"))
    guard(spec, {"/srv/roost/wiki/database/pgdata/PG_VERSION": "15\n"})
    guard(spec, {})  # a first deploy has no data yet


def test_major_jump_is_refused_with_the_migration_command():
    spec = parse_spec(SPEC.format(tag="17"))
    with pytest.raises(UsageError) as e:
        guard(spec, {"/srv/roost/wiki/database/pgdata/PG_VERSION": "15\n"})
    assert "PostgreSQL 17" in e.value.message and "PostgreSQL 15 data" in e.value.message
    assert "roost db upgrade wiki db --to 17" in e.value.hint
