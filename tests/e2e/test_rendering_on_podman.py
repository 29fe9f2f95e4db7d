"""Rendered units, read by the real Quadlet generator and podman: a value means exactly itself."""

from __future__ import annotations

import json

import pytest
from tests.e2e.conftest import as_app, put, roost, wait_http

pytestmark = pytest.mark.lab

ODD = {
    "PERCENT": "100% sure %h %n %%",
    "DOLLAR": "$HOME ${HOME} $$ $1",
    "QUOTES": "it's \"quoted\" `ticks`",
    "BACKSLASH": "a\\b\\\\c \\n",
    "SEMI": "a; rm -rf / && echo pwned | cat",
    "UNICODE": "héllo wörld ✓",
    "SPACES": "two  spaces\tand a tab",
}

SPEC = """
[app]
name = "odd"
uid = 2300

[pod]
publish = ["127.0.0.1:8391:3000"]

[secrets]
token = {{ generate = 20 }}

[containers.db]
image = "127.0.0.1:5000/roost-lab/postgres:17"
env = {{ POSTGRES_USER = "odd", POSTGRES_DB = "odd", POSTGRES_PASSWORD = "${{secrets.token}}" }}
volumes = ["db:/var/lib/postgresql/data:Z"]
health = {{ cmd = "pg_isready -h 127.0.0.1 -U odd" }}

[containers.web]
image = "127.0.0.1:5000/roost-lab/notes:latest"
requires = ["db"]
command = ["python3", "/srv/notes/app.py", "$HOME", "${{X}}", "$$", "100%", "a b", "it's"]
env = {{ {env}, DATABASE_URL = "postgres://odd:${{secrets.token}}@127.0.0.1:5432/odd", SECRET_MIX = "pre %% ${{secrets.token}} $x" }}
health = {{ http = "http://127.0.0.1:3000/status" }}
"""


def toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t") + '"'


def test_odd_values_reach_the_container_unchanged(lab):
    env = ", ".join(f"{k} = {toml_str(v)}" for k, v in ODD.items())
    put(lab, "/var/tmp/specs/odd.toml", SPEC.format(env=env))
    try:
        roost(lab, "apply", "/var/tmp/specs/odd.toml")
        wait_http("http://127.0.0.1:8391/status")
        # the generator accepts the units without a warning
        gen = as_app(lab, "/usr/libexec/podman/quadlet", "-dryrun", "-user", uid=2300, name="odd")
        assert "---web.service---" in gen.stdout and "---odd-pod.service---" in gen.stdout
        assert "unsupported" not in gen.stderr and "error" not in gen.stderr.lower()
        inside = as_app(lab, "podman", "exec", "odd-web", "env", uid=2300, name="odd").stdout
        values = dict(line.split("=", 1) for line in inside.splitlines() if "=" in line)
        for key, value in ODD.items():
            assert values.get(key) == value, key
        cmd = as_app(lab, "podman", "inspect", "--format", "{{json .Config.Cmd}}", "odd-web", uid=2300, name="odd").stdout
        assert json.loads(cmd) == ["python3", "/srv/notes/app.py", "$HOME", "${X}", "$$", "100%", "a b", "it's"]
        token = lab.exec(["cat", "/srv/roost/odd/.config/roost/secrets/token"]).stdout.strip()
        assert values["SECRET_MIX"] == f"pre %% {token} $x"
    finally:
        roost(lab, "down", "odd", "--purge", "--yes", check=False)
