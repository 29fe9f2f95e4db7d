"""`roost import` end to end: a compose file written like the ones self-hosted projects ship (health
check, depends_on with service_healthy, a password literal shared by two services, named volumes) is
imported on this machine, checked, and applied in the lab with no edit in between; the app serves
(started through the compose file's entrypoint + command), and a note survives `roost update`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from roost.lab import images
from roost.spec.load import parse_spec

pytestmark = pytest.mark.lab

NAME = "composed"
PORT = 8390
URL = f"http://127.0.0.1:{PORT}"
SPEC = f"/var/tmp/specs/{NAME}.toml"
PASSWORD = "notes-Pa55-shared"  # the literal the compose file repeats: must not survive the import

COMPOSE = """\
# notes + PostgreSQL, the way self-hosted projects write their docker-compose.yml
x-restart: &restart
  restart: unless-stopped

services:
  db:
    <<: *restart
    image: {postgres}
    environment:
      POSTGRES_USER: notes
      POSTGRES_DB: notes
      POSTGRES_PASSWORD: {password}
      PGDATA: /var/lib/postgresql/data/pgdata
    volumes:
      - db-data:/var/lib/postgresql/data
    healthcheck:
      test: ["CMD", "pg_isready", "-h", "db", "-U", "notes"]
      interval: 5s
      timeout: 5s
      retries: 10
      start_period: 5s

  notes:
    <<: *restart
    image: {notes}
    entrypoint: ["python3"]
    command: ["/srv/notes/app.py"]
    depends_on:
      db:
        condition: service_healthy
    environment:
      - DATABASE_URL=postgres://notes:{password}@db:5432/notes
      - PORT=${{NOTES_PORT:-3000}}
    ports:
      - "{port}:3000"
    volumes:
      - uploads:/srv/uploads
    labels:
      io.containers.autoupdate: registry
    healthcheck:
      test: ["CMD-SHELL", "curl -fsS http://localhost:3000/status || exit 1"]
      interval: 10s

volumes:
  db-data:
  uploads:
"""


def roost_here(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "roost", *args], cwd=cwd, capture_output=True, text=True,
                          check=False, timeout=120)


def roost(lab, *args: str, check: bool = True):
    return lab.exec(["roost", *args], check=check, timeout=600)


@pytest.fixture(scope="module")
def imported(lab, tmp_path_factory):
    images.build_notes(lab.machine, "1", tags=(NAME,))
    work = tmp_path_factory.mktemp("compose")
    (work / "docker-compose.yml").write_text(
        COMPOSE.format(postgres=lab.postgres_image, notes=images.notes_ref(NAME), password=PASSWORD, port=PORT))
    out = roost_here("import", "docker-compose.yml", "--name", NAME, "-o", f"{NAME}.toml", cwd=work)
    assert out.returncode == 0, out.stderr
    spec_text = (work / f"{NAME}.toml").read_text()
    checked = roost_here("check", f"{NAME}.toml", cwd=work)
    assert checked.returncode == 0, checked.stderr
    target = lab.rootfs / SPEC.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(spec_text)  # exactly what the import wrote: no hand edits
    yield lab, spec_text, out.stderr
    roost(lab, "down", NAME, "--purge", "--yes", check=False)


def test_import_turns_the_shared_password_into_a_secret(imported):
    _, spec_text, report = imported
    spec = parse_spec(spec_text)
    assert PASSWORD not in spec_text and PASSWORD not in report
    (secret,) = spec.secrets
    assert spec.containers["db"].env["POSTGRES_PASSWORD"] == f"${{secrets.{secret}}}"
    assert spec.containers["notes"].env["DATABASE_URL"] == f"postgres://notes:${{secrets.{secret}}}@db:5432/notes"
    # compose's network: each service in its own namespace on the app's network, found by its name
    assert spec.network is not None and spec.pod.hosts == ()
    assert spec.containers["notes"].requires == ("db",)
    assert spec.containers["notes"].auto_update == "registry"
    assert spec.containers["notes"].entrypoint == ("python3",)
    assert spec.containers["notes"].command == ("/srv/notes/app.py",)
    assert spec.containers["notes"].publish == (f"127.0.0.1:{PORT}:3000",) and spec.pod.publish == ()
    assert spec.containers["db"].health.cmd == "pg_isready -h db -U notes"
    assert f"secrets.{secret}" in report


def test_imported_spec_applies_serves_and_keeps_a_note_over_an_update(imported, lab):
    lab, _, _ = imported
    out = roost(lab, "apply", SPEC).stdout
    assert "applied" in out
    assert PASSWORD not in out
    lab.wait_http(f"{URL}/status", timeout=180)
    assert lab.http("POST", f"{URL}/", {"text": "imported from compose"}).status in (200, 201, 303)
    assert "imported from compose" in lab.wait_http(f"{URL}/").body
    secret_file = lab.exec(["sh", "-c", f"ls /srv/roost/{NAME}/.config/roost/secrets/"]).stdout.split()
    assert len(secret_file) == 1
    images.build_notes(lab.machine, "2", tags=(NAME,))
    report = json.loads(roost(lab, "update", NAME, "--json").stdout)
    assert report["result"] == "updated", report
    assert lab.wait_http(f"{URL}/version").body.strip() == "2"
    assert "imported from compose" in lab.wait_http(f"{URL}/").body
