"""Issue 13: roost on a real server for months — installed with scripts/install from a checkout
in root's home, the nightly path working as the app's user, notifications for what goes wrong,
and exit codes a cron job or a monitoring check can trust.

The app `srv` follows its own tag (notes:srv). Notifications go to a webhook receiver on this
machine (the lab shares its network) through Apprise's json:// URL, whose password is the secret
that must never show up in a message, a unit file or output.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from tests.e2e.conftest import as_app, notes_spec, put, roost, wait_http

from roost.lab import images, wheels
from roost.lab.machine import CACHE_DIR
from roost.lab.up import copy_into

pytestmark = pytest.mark.lab

NAME, UID, PORT = "srv", 2760, 8394
HOOK_PORT = 18394  # the webhook receiver, on this machine
SECRET = "Zq7s3cr3tT0ken"
URL = f"http://127.0.0.1:{PORT}"
SPEC_DIR = "/root/specs"
SPEC = f"{SPEC_DIR}/{NAME}.toml"
HOME = f"/srv/roost/{NAME}"


class Receiver:
    """A webhook receiver: keeps the body of every POST."""

    def __init__(self, port: int) -> None:
        self.bodies: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                outer.bodies.append(self.rfile.read(n).decode(errors="replace"))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def messages(self) -> list[dict]:
        return [json.loads(b) for b in self.bodies]

    def wait_for(self, words: str, timeout: float = 90) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [m for m in self.messages() if words in m.get("title", "")]
            if found:
                return found
            time.sleep(0.5)
        raise AssertionError(f"no message with {words!r} within {timeout}s; got {self.messages()}")


def spec_text() -> str:
    return notes_spec(NAME, UID, PORT, notes_tag=NAME, app='health_timeout = "60s"',
                      tail='\n[backup]\nkeep = 5\nschedule = "*-*-* 03:00"\n\n[notify]\nurls_file = "srv.notify"\n')


def app(lab, *argv: str, check: bool = True):
    return as_app(lab, *argv, uid=UID, name=NAME, check=check)


def version() -> str:
    wait_http(f"{URL}/status")
    return wait_http(f"{URL}/version").strip()


def offline_wheels(lab) -> str:
    """roost's dependencies and what building the checkout needs (setuptools, wheel), for pip
    inside the lab, where HTTPS to PyPI does not verify."""
    built = wheels.build(lab.machine.dir / "wheels")
    build_deps = CACHE_DIR / "wheels" / "build-deps"
    if not any(build_deps.glob("setuptools-*.whl")):
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(build_deps),
                        "--only-binary=:all:", "setuptools>=77", "wheel"], check=True, timeout=600)
    target = lab.rootfs / "root" / "wheels"
    target.mkdir(parents=True, exist_ok=True)
    for w in [*built.deps.glob("*.whl"), *build_deps.glob("*.whl")]:
        (target / w.name).write_bytes(w.read_bytes())
    return "/root/wheels"


@pytest.fixture(scope="module")
def hook():
    r = Receiver(HOOK_PORT)
    yield r
    r.server.shutdown()


@pytest.fixture(scope="module")
def srv(lab, hook):
    # a fresh server: no roost installed, the checkout cloned into root's home (README quick start)
    lab.exec(["rm", "-rf", "/opt/roost", "/usr/local/bin/roost"])
    copy_into(lab.machine, wheels.checkout(), "/root/roost")
    found = offline_wheels(lab)
    out = lab.exec(["env", "PIP_NO_INDEX=1", f"PIP_FIND_LINKS={found}", "/root/roost/scripts/install"], timeout=900)
    print(f"\ninstall: {out.stderr.strip()[-300:]}")
    images.build_notes(lab.machine, "1", tags=(NAME,))
    put(lab, SPEC, spec_text())
    put(lab, f"{SPEC_DIR}/srv.notify", f"# where roost reports\njson://roost:{SECRET}@127.0.0.1:{HOOK_PORT}/hook\n")
    lab.exec(["chmod", "0600", f"{SPEC_DIR}/srv.notify"])
    applied = roost(lab, "apply", SPEC)
    assert SECRET not in applied.stdout + applied.stderr
    wait_http(f"{URL}/status")
    yield lab
    roost(lab, "down", NAME, "--purge", "--yes", check=False)


def test_install_is_root_owned_and_units_run_the_installed_roost(srv):
    lab = srv
    assert lab.exec(["readlink", "/usr/local/bin/roost"]).stdout.strip() == "/opt/roost/venv/bin/roost"
    assert lab.exec(["stat", "-c", "%U %a", "/opt/roost", "/opt/roost/venv/bin/roost"]).stdout.split() == \
        ["root", "755", "root", "755"]
    unit = (lab.rootfs / HOME.lstrip("/") / ".config/systemd/user/roost-restart.service").read_text()
    assert "/opt/roost/venv/bin/python3 -m roost restart-changed srv" in unit and "/root/" not in unit
    checks = {c["check"]: c for c in json.loads(roost(lab, "doctor", NAME, "--json", check=False).stdout)}
    assert checks[f"roost command {NAME}"]["status"] == "ok", checks[f"roost command {NAME}"]
    # re-running the installer upgrades in place and re-renders: nothing changes for a converged app
    again = lab.exec(["env", "PIP_NO_INDEX=1", "PIP_FIND_LINKS=/root/wheels", "/root/roost/scripts/install"],
                     timeout=900)
    assert "no changes" in again.stdout, again.stdout


def test_doctor_fails_when_the_units_name_a_roost_the_user_cannot_run(srv):
    lab = srv
    dropin = lab.rootfs / HOME.lstrip("/") / ".config/systemd/user/roost-restart.service"
    good = dropin.read_text()
    dropin.write_text(good.replace("/opt/roost/venv/bin/python3", "/root/roost/.venv/bin/python3"))
    try:
        app(lab, "systemctl", "--user", "daemon-reload")
        checks = {c["check"]: c for c in json.loads(roost(lab, "doctor", NAME, "--json", check=False).stdout)}
        c = checks[f"roost command {NAME}"]
        assert c["status"] == "fail" and "scripts/install" in c["fix"], c
    finally:
        dropin.write_text(good)
        app(lab, "systemctl", "--user", "daemon-reload")


def test_nightly_path_takes_its_backup_and_updates(srv, hook):
    lab = srv
    before = len(json.loads(roost(lab, "backups", NAME, "--json").stdout))
    images.build_notes(lab.machine, "2", tags=(NAME,))
    app(lab, "systemctl", "--user", "start", "podman-auto-update.service", check=False)
    lab.wait(lambda: "2" in version(), "version 2", timeout=120)
    assert len(json.loads(roost(lab, "backups", NAME, "--json").stdout)) == before + 1
    assert hook.messages() == []  # a good night is a quiet one


def test_update_rolled_back_exits_1_shows_both_digests_and_notifies(srv, hook):
    lab = srv
    images.build_notes(lab.machine, "3", broken=True, tags=(NAME,))
    r = roost(lab, "update", NAME, check=False)
    assert r.returncode == 1, r.stdout + r.stderr
    line = next(ln for ln in r.stdout.splitlines() if "tried" in ln)
    tried, restored = line.split("tried ")[1].split(", restored ")
    assert tried.strip() != restored.strip() and tried.startswith("sha256:"), line
    assert "2" in version()
    [m] = hook.wait_for("update rolled back")
    history = json.loads(roost(lab, "history", NAME, "--json").stdout)
    assert history[-1]["action"] == "update" and history[-1]["result"] == "rolled-back"
    assert history[-1]["tried"]["app"]["digest"] != history[-1]["after"]["app"]["digest"]
    print(f"\nmessage: {m}")


def test_nightly_rollback_notifies(srv, hook):
    lab = srv
    app(lab, "systemctl", "--user", "start", "podman-auto-update.service", check=False)
    [m] = hook.wait_for("nightly update rolled back", timeout=180)
    assert "tried" in m["message"] and "restored" in m["message"], m
    assert "2" in version()
    assert len(hook.wait_for("update rolled back")) == 2  # roost update's and this one: nothing else


def test_failing_backup_notifies(srv, hook):
    lab = srv
    app(lab, "chmod", "0500", f"{HOME}/backups")
    try:
        app(lab, "systemctl", "--user", "start", "roost-backup.service", check=False)
    finally:
        app(lab, "chmod", "0700", f"{HOME}/backups")
    [m] = hook.wait_for("backup failed")
    assert "scheduled backup" in m["message"]


def test_restart_loop_notifies_once_and_status_fails_meanwhile(srv, hook):
    lab = srv
    wait_http(f"{URL}/status")
    assert roost(lab, "status", NAME, check=False).returncode == 0
    codes = []
    for _ in range(3):
        app(lab, "podman", "kill", f"{NAME}-app", check=False)
        time.sleep(0.5)
        codes.append(roost(lab, "status", NAME, "--json", check=False).returncode)
        time.sleep(2)
    assert 1 in codes, codes
    [m] = hook.wait_for("container app failed")
    assert "app.service failed" in m["message"], m
    time.sleep(5)
    assert len([x for x in hook.messages() if "container app failed" in x["title"]]) == 1  # throttled
    app(lab, "systemctl", "--user", "reset-failed", check=False)
    app(lab, "systemctl", "--user", "start", "app.service", check=False)
    wait_http(f"{URL}/status")


def test_notify_test_and_the_secret_is_nowhere(srv, hook):
    lab = srv
    out = roost(lab, "notify", "test", NAME)
    assert "sent to 1" in out.stdout
    hook.wait_for("test message")
    assert all(SECRET not in b for b in hook.bodies)
    leaks = lab.exec(["grep", "-rl", "--exclude=notify.urls", SECRET, f"{HOME}/.config", "/etc/systemd/system", "/var/lib/roost",
                      "/var/log/roost"], check=False)
    assert leaks.stdout.strip() == "", leaks.stdout
    plan = roost(lab, "plan", SPEC)
    assert SECRET not in plan.stdout + plan.stderr
    assert lab.exec(["stat", "-c", "%U %a", f"/var/lib/roost/apps/{NAME}/notify.urls"]).stdout.split() == ["root", "600"]
    print(f"\nmessages received: {[m['title'] for m in hook.messages()]}")
