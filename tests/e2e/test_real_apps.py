"""Real apps, not ours (issue 19): each upstream compose file in examples/apps, imported by roost, applied
in the lab and used through the app's own API; then `roost update` to the next version, backup / wipe /
restore, and for Miniflux a PostgreSQL 15 -> 17 `roost db upgrade`, each keeping the data."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from tests.e2e.conftest import app_argv, put, roost, wait_http

from roost.lab import apps, trying

pytestmark = pytest.mark.lab

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "apps"


def api(method: str, url: str, body: object = None, auth: tuple[str, str] | None = None,
        headers: dict[str, str] | None = None) -> tuple[int, object]:
    """A JSON request; (status, decoded body or text)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            status, raw = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read().decode()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw


class RealApp:
    """One example app applied in the lab from the spec `roost import` made of its compose file."""

    def __init__(self, lab, name: str) -> None:
        self.lab, self.name = lab, name
        self.spec = f"/var/tmp/apps/{name}/roost-spec.toml"
        text, self.moved = trying.lift_low_ports((EXAMPLES / name / "roost-spec.toml").read_text())
        put(lab, self.spec, text)
        self.uid = 0

    def apply(self) -> None:
        started = time.monotonic()
        roost(self.lab, "apply", self.spec)
        print(f"\nFIGURES {self.name}: apply {time.monotonic() - started:.1f}s")
        self.uid = int(self.lab.exec(["id", "-u", self.name]).stdout)

    def as_user(self, *argv: str, check: bool = True):
        return self.lab.exec(app_argv(self.name, self.uid, argv), check=check)

    def image_version(self, container: str) -> str:
        fmt = '{{index .Config.Labels "org.opencontainers.image.version"}}'
        ref = self.as_user("podman", "inspect", "--format", "{{.ImageName}}", f"{self.name}-{container}").stdout
        return self.as_user("podman", "image", "inspect", "--format", fmt, ref.strip()).stdout.strip()

    def backup(self) -> str:
        roost(self.lab, "backup", self.name)
        listed = json.loads(roost(self.lab, "backups", self.name, "--json").stdout)
        return str(listed[-1]["name"])

    def wipe_volumes(self, *dirs: str) -> None:
        """Stop the app, empty its volume directories (as after a lost disk), apply again on empty data."""
        roost(self.lab, "down", self.name)
        home = f"/srv/roost/{self.name}"
        for d in dirs:
            self.lab.exec(["sh", "-c", 'rm -rf "$1" && mkdir "$1"', "sh", f"{home}/{d}"])
        roost(self.lab, "apply", self.spec)

    def down(self) -> None:
        roost(self.lab, "down", self.name, "--purge", "--yes", check=False)


# --- Miniflux ------------------------------------------------------------------------------------------------------

MINIFLUX = "http://127.0.0.1:8080"  # the compose file publishes 80: the lab publishes it 8000 higher
ADMIN = ("admin", "test123")  # the compose file's CREATE_ADMIN user


@pytest.fixture(scope="module")
def miniflux(lab):
    started = time.monotonic()
    apps.ensure_app(lab.machine, "postgres")
    apps.ensure_app(lab.machine, "miniflux")
    print(f"\nFIGURES miniflux: images ready after {time.monotonic() - started:.1f}s")
    app = RealApp(lab, "miniflux")
    assert app.moved == ["host port 80 published as 8080"]
    app.apply()
    yield app
    app.down()


def miniflux_user(name: str) -> tuple[int, object]:
    return api("GET", f"{MINIFLUX}/v1/users/{name}", auth=ADMIN)


def test_miniflux_admin_adds_a_user_and_reads_it_back(miniflux):
    assert wait_http(f"{MINIFLUX}/healthcheck") == "OK"
    status, me = api("GET", f"{MINIFLUX}/v1/me", auth=ADMIN)
    assert status == 200 and isinstance(me, dict) and me["username"] == "admin" and me["is_admin"], me
    status, made = api("POST", f"{MINIFLUX}/v1/users", {"username": "reader", "password": "reader-pass-1"}, auth=ADMIN)
    assert status == 201, made
    status, got = miniflux_user("reader")
    assert status == 200 and isinstance(got, dict) and got["username"] == "reader" and not got["is_admin"], got
    status, _ = api("GET", f"{MINIFLUX}/v1/me", auth=("reader", "reader-pass-1"))
    assert status == 200


def test_miniflux_update_to_the_next_image_keeps_the_users(miniflux):
    assert miniflux.image_version("miniflux") == "2.2.6"
    apps.publish_latest("miniflux", "2.2.6-1")
    out = roost(miniflux.lab, "update", miniflux.name).stdout
    assert miniflux.image_version("miniflux") == "2.2.6-1", out
    assert wait_http(f"{MINIFLUX}/healthcheck") == "OK"
    assert miniflux_user("reader")[0] == 200


def test_miniflux_backup_wipe_restore_brings_the_users_back(miniflux):
    name = miniflux.backup()
    miniflux.wipe_volumes("miniflux-db")
    assert wait_http(f"{MINIFLUX}/healthcheck") == "OK"
    assert miniflux_user("reader")[0] == 404  # a fresh database: only the admin the compose file creates
    roost(miniflux.lab, "restore", miniflux.name, name, "--yes")
    assert wait_http(f"{MINIFLUX}/healthcheck") == "OK"
    assert miniflux_user("reader")[0] == 200


def test_miniflux_db_upgrade_15_to_17_keeps_the_users(miniflux):
    home = f"/srv/roost/{miniflux.name}"
    version = miniflux.lab.exec(["sh", "-c", f"cat {home}/miniflux-db/PG_VERSION {home}/miniflux-db/*/PG_VERSION "
                                 "2>/dev/null | head -1"]).stdout.strip()  # fmt: skip
    assert version == "15"
    out = roost(miniflux.lab, "db", "upgrade", miniflux.name, "db", "--to", "17").stdout
    assert "PostgreSQL 15 → 17" in out
    assert "docker.io/library/postgres:17" in miniflux.lab.exec(["cat", miniflux.spec]).stdout
    assert wait_http(f"{MINIFLUX}/healthcheck") == "OK"
    assert miniflux_user("reader")[0] == 200
    assert api("GET", f"{MINIFLUX}/v1/me", auth=("reader", "reader-pass-1"))[0] == 200
