"""The source document's deployment, end to end, on a real systemd + Podman lab host.

Drives the real `roost` CLI inside the lab; checks through HTTP from this machine and through
podman, systemctl and the file system inside. Tests run in order and share the `notes` app.
"""

from __future__ import annotations

import json
import time

import pytest
from tests.e2e.conftest import EXAMPLE, NOTES_UID, as_app, http, notes_spec, put, roost, wait_http

pytestmark = pytest.mark.lab

SPEC = "/var/tmp/specs/notes.toml"
URL = "http://127.0.0.1:8388"
UID = NOTES_UID


def unit_prop(lab, unit: str, prop: str, uid: int = UID, name: str = "notes") -> str:
    return as_app(lab, "systemctl", "--user", "show", "-p", prop, "--value", unit, uid=uid, name=name).stdout.strip()


def audit_lines(lab) -> int:
    out = lab.exec(["sh", "-c", "cat /var/log/roost/audit.log 2>/dev/null | wc -l"]).stdout
    return int(out.strip() or 0)


@pytest.fixture(scope="module")
def notes(lab):
    put(lab, SPEC, EXAMPLE)
    yield lab


def test_apply_from_nothing_serves_and_stores_notes(notes):
    lab = notes
    out = roost(lab, "apply", SPEC).stdout
    assert "applied" in out and f"{URL}/" in out
    # the user, as the source document makes it
    passwd = lab.exec(["getent", "passwd", "notes"]).stdout.strip().split(":")
    assert passwd[2:4] == [str(UID), str(UID)] and passwd[5] == "/srv/roost/notes" and passwd[6] == "/usr/sbin/nologin"
    assert "notes:210000000:65536" in lab.exec(["cat", "/etc/subuid"]).stdout
    assert "notes:210000000:65536" in lab.exec(["cat", "/etc/subgid"]).stdout
    assert lab.exec(["test", "-e", "/var/lib/systemd/linger/notes"], check=False).returncode == 0
    # files: owners and modes
    def stat(path: str) -> str:
        return lab.exec(["stat", "-c", "%U %a", path]).stdout.strip()

    assert stat("/srv/roost/notes/.config/containers/systemd/notes.pod") == "notes 644"
    assert stat("/srv/roost/notes/.config/containers/systemd/app.container") == "notes 644"
    assert stat("/srv/roost/notes/env/app.env") == "notes 600"
    assert stat("/srv/roost/notes/.config/roost/secrets/db_password") == "notes 600"
    assert "HISTFILESIZE=" in lab.exec(["cat", "/srv/roost/notes/.bashrc"]).stdout
    # the app answers on the published loopback port, and keeps what it is given
    wait_http(f"{URL}/status")
    code, _ = http("POST", f"{URL}/", {"text": "first note from the golden path"})
    assert code in (200, 201, 303)
    assert "first note from the golden path" in wait_http(f"{URL}/")
    # the secret reached the containers but nothing that shows their config
    secret = lab.exec(["cat", "/srv/roost/notes/.config/roost/secrets/db_password"]).stdout.strip()
    assert len(secret) == 32
    inspect = as_app(lab, "podman", "inspect", "notes-app", "notes-database").stdout
    units = lab.exec(["sh", "-c", "cat /srv/roost/notes/.config/containers/systemd/* /run/user/2100/systemd/generator/*.service"]).stdout
    assert secret not in inspect and secret not in units and secret not in out


def test_second_apply_changes_nothing(notes):
    lab = notes
    before = audit_lines(lab)
    started = unit_prop(lab, "app.service", "ActiveEnterTimestampMonotonic")
    out = roost(lab, "apply", SPEC).stdout
    assert "no changes" in out
    assert audit_lines(lab) == before, "a converged apply ran a mutating command"
    assert unit_prop(lab, "app.service", "ActiveEnterTimestampMonotonic") == started


def test_a_converged_apply_takes_the_cached_reads_and_still_sees_every_drift(notes):
    """roost/converged.py: a converged apply makes the last converged run's reads again and stops when
    each answers the same. A change the app's user makes (its unit file, a stopped unit) must be seen."""
    lab = notes
    unit = "/srv/roost/notes/.config/containers/systemd/app.container"
    good = lab.exec(["cat", unit]).stdout
    roost(lab, "apply", SPEC)
    out = roost(lab, "-vv", "apply", SPEC)
    assert "no changes" in out.stdout and "converged cache: all" in out.stderr
    as_app(lab, "sh", "-c", f"echo '# the user was here' >> {unit}")
    out = roost(lab, "-vv", "apply", SPEC)
    assert "answers differently" in out.stderr and "no changes" not in out.stdout
    assert lab.exec(["cat", unit]).stdout == good
    as_app(lab, "systemctl", "--user", "stop", "app.service")
    out = roost(lab, "apply", SPEC).stdout
    assert "no changes" not in out and "start" in out
    lab.wait(lambda: unit_prop(lab, "app.service", "ActiveState") == "active", "app.service started again")
    assert "first note from the golden path" in wait_http(f"{URL}/")
    roost(lab, "apply", SPEC)  # converged again (the full pipeline), remembered
    out = roost(lab, "-vv", "apply", SPEC)
    assert "no changes" in out.stdout and "converged cache: all" in out.stderr


def test_env_change_restarts_only_the_affected_container(notes):
    lab = notes
    db_started = unit_prop(lab, "database.service", "ActiveEnterTimestampMonotonic")
    app_started = unit_prop(lab, "app.service", "ActiveEnterTimestampMonotonic")
    put(lab, SPEC, EXAMPLE.replace('PORT = "3000"', 'PORT = "3000", NOTES_TITLE = "changed"'))
    out = roost(lab, "apply", SPEC).stdout
    assert "restart app.service" in out
    assert unit_prop(lab, "database.service", "ActiveEnterTimestampMonotonic") == db_started
    assert unit_prop(lab, "app.service", "ActiveEnterTimestampMonotonic") != app_started
    assert "first note from the golden path" in wait_http(f"{URL}/")


def test_port_change_moves_the_app_and_keeps_data(notes):
    lab = notes
    put(lab, SPEC, EXAMPLE.replace("127.0.0.1:8388:3000", "127.0.0.1:8389:3000"))
    roost(lab, "apply", SPEC)
    assert "first note from the golden path" in wait_http("http://127.0.0.1:8389/")
    assert http("GET", f"{URL}/")[0] == 0  # the old port is closed
    put(lab, SPEC, EXAMPLE)
    roost(lab, "apply", SPEC)
    assert "first note from the golden path" in wait_http(f"{URL}/")


def test_killed_app_is_brought_back_by_systemd(notes):
    lab = notes
    pid = as_app(lab, "podman", "inspect", "--format", "{{.State.Pid}}", "notes-app").stdout.strip()
    assert pid.isdigit() and int(pid) > 0
    lab.exec(["kill", "-9", pid])
    time.sleep(1)
    assert "first note from the golden path" in wait_http(f"{URL}/", timeout=90)
    new_pid = as_app(lab, "podman", "inspect", "--format", "{{.State.Pid}}", "notes-app").stdout.strip()
    assert new_pid != pid
    # systemd counts it as back once the new container reports healthy
    lab.wait(lambda: unit_prop(lab, "app.service", "ActiveState") == "active", "app.service active again")


def test_status_and_logs_show_the_real_units(notes):
    lab = notes
    data = json.loads(roost(lab, "status", "--json").stdout)
    app = next(a for a in data if a["app"] == "notes")
    rows = {r["container"]: r for r in app["containers"]}
    assert rows["app"]["state"] == "active/running" and rows["database"]["state"] == "active/running"
    assert rows["app"]["health"] == "healthy" and rows["database"]["health"] == "healthy"
    assert rows["app"]["digest"].startswith("sha256:")
    assert app["publish"] == ["127.0.0.1:8388:3000"]
    logs = roost(lab, "logs", "notes", "-n", "200").stdout
    assert "app.service" in logs or "notes-app" in logs
    db_logs = roost(lab, "logs", "notes", "database", "-n", "500").stdout
    assert "database" in db_logs and len(db_logs.splitlines()) > 3
    table = roost(lab, "status").stdout
    assert "notes" in table and "healthy" in table


def test_reboot_brings_the_app_back_without_login(notes):
    lab = notes
    lab.reboot()
    # nobody logs in: linger starts the user manager, the pod's [Install] starts the app
    assert "first note from the golden path" in wait_http(f"{URL}/", timeout=180)
    sessions = lab.exec(["loginctl", "list-sessions", "--no-legend"]).stdout.splitlines()
    # systemd lists the lingering user manager as a session of class "manager"; no one logged in
    assert not [s for s in sessions if " user " in f" {s} "], sessions


def test_down_keeps_data_and_apply_brings_it_back(notes):
    lab = notes
    roost(lab, "down", "notes")
    assert lab.exec(["test", "-e", "/srv/roost/notes/.config/containers/systemd/app.container"], check=False).returncode == 1
    assert unit_prop(lab, "app.service", "LoadState") == "not-found"
    assert http("GET", f"{URL}/")[0] == 0
    assert lab.exec(["test", "-d", "/srv/roost/notes/database/pgdata"], check=False).returncode == 0
    roost(lab, "apply", SPEC)
    assert "first note from the golden path" in wait_http(f"{URL}/")


def test_two_apps_side_by_side(notes):
    lab = notes
    # another app, with its own database user and name too
    other = notes_spec("jotter", 2200, 8390).replace('"notes"', '"jotter"').replace(
        "-U notes", "-U jotter").replace("notes:${", "jotter:${").replace("5432/notes", "5432/jotter")
    put(lab, "/var/tmp/specs/jotter.toml", other)
    roost(lab, "apply", "/var/tmp/specs/jotter.toml")
    http("POST", "http://127.0.0.1:8390/", {"text": "jotter's own note"})
    assert "jotter's own note" in wait_http("http://127.0.0.1:8390/")
    assert "jotter's own note" not in wait_http(f"{URL}/")
    subuid = lab.exec(["cat", "/etc/subuid"]).stdout
    assert "notes:210000000:65536" in subuid and "jotter:220000000:65536" in subuid
    before = audit_lines(lab)
    both = roost(lab, "apply", SPEC, "/var/tmp/specs/jotter.toml").stdout  # one run, several specs
    assert both.count("no changes") == 2 and audit_lines(lab) == before
    roost(lab, "down", "jotter", "--purge", "--yes")


def test_purge_removes_everything(notes):
    lab = notes
    roost(lab, "down", "notes", "--purge", "--yes")
    assert lab.exec(["getent", "passwd", "notes"], check=False).returncode == 2
    for ranges in ("/etc/subuid", "/etc/subgid"):  # owners, not substrings: `kubenotes:` is someone else
        assert "notes" not in [line.split(":", 1)[0] for line in lab.exec(["cat", ranges]).stdout.splitlines()]
    assert lab.exec(["test", "-e", "/var/lib/systemd/linger/notes"], check=False).returncode == 1
    assert lab.exec(["test", "-e", "/srv/roost/notes"], check=False).returncode == 1
    assert lab.exec(["pgrep", "-u", str(UID)], check=False).returncode == 1
    assert http("GET", f"{URL}/")[0] == 0
