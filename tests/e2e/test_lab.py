"""Smoke tests of the lab itself: what every roost e2e test relies on."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.lab


def test_systemd_is_running(lab):
    state = lab.exec(["systemctl", "is-system-running"], check=False).stdout.strip()
    failed = lab.exec(["systemctl", "--failed", "--plain", "--no-legend"]).stdout
    assert state == "running", f"systemd is {state}; failed units:\n{failed}"
    # what Quadlet units wait for at boot
    assert lab.exec(["systemctl", "is-active", "network-online.target"]).stdout.strip() == "active"


def test_fresh_user_pulls_the_test_images_and_runs_them_rootless(lab):
    lab.add_user("smoke", 2901)
    info = lab.exec(["podman", "info", "--format", "{{.Host.Security.Rootless}}"], user="smoke").stdout
    assert info.strip() == "true"
    for image in (lab.postgres_image, lab.notes_image):
        lab.exec(["podman", "pull", "--quiet", image], user="smoke")
    out = lab.exec(["podman", "run", "--rm", lab.notes_image, "python3", "-c", "import psycopg; print('ok')"],
                   user="smoke").stdout  # fmt: skip
    assert out.strip() == "ok"


def test_pod_published_port_answers_on_the_machine(lab):
    """The notes pod by hand (no roost): postgres + app in one pod, port published on
    127.0.0.1 inside, reached from this machine."""
    lab.add_user("smokepod", 2902)
    run = ["podman", "run", "--detach", "--pod", "smoke"]
    lab.exec(["podman", "pod", "create", "--name", "smoke", "--publish", "127.0.0.1:8399:3000"], user="smokepod")
    lab.exec([*run, "--name", "db", "-e", "POSTGRES_USER=notes", "-e", "POSTGRES_PASSWORD=pw", "-e", "POSTGRES_DB=notes",
              "-e", "PGDATA=/var/lib/postgresql/data/pgdata", "-v", "db:/var/lib/postgresql/data:Z",
              lab.postgres_image], user="smokepod")  # fmt: skip
    lab.exec([*run, "--name", "app", "-e", "DATABASE_URL=postgres://notes:pw@127.0.0.1:5432/notes",
              lab.notes_image], user="smokepod")  # fmt: skip
    try:
        lab.wait_http("http://127.0.0.1:8399/status", 200, timeout=90)
        assert lab.http("POST", "http://127.0.0.1:8399/", {"text": "hello from the machine"}).status == 303
        assert lab.http("GET", "http://127.0.0.1:8399/").body.splitlines() == ["hello from the machine"]
        pg = lab.exec(["podman", "exec", "db", "pg_isready", "-h", "127.0.0.1", "-U", "notes"], user="smokepod")
        assert "accepting connections" in pg.stdout
        # TCP needs the password (scram), as the official image's contract implies
        nopw = lab.exec(["podman", "exec", "db", "psql", "-h", "127.0.0.1", "-U", "notes", "-w", "-c", "select 1"],
                        user="smokepod", check=False)  # fmt: skip
        assert nopw.returncode != 0
    finally:
        lab.exec(["podman", "pod", "rm", "--force", "--time", "2", "smoke"], user="smokepod", check=False)


def test_reboot_comes_back_running(lab):
    assert lab.reboot() == "running"
    # tmpfiles fixed /dev/net/tun again (no udev in the lab), or pasta could not start pods
    assert lab.exec(["stat", "-c", "%a", "/dev/net/tun"]).stdout.strip() == "666"
