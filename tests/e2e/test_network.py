"""Issue 18: an app = a private network. A compose file of three services, two of them listening on :3000
(and a sidecar in one of their namespaces),
imported and applied unedited: each answers on its own published port and by name from the others. Then
updates: without the front door a broken release is rolled back in well under a minute; behind it (HTTPS,
a client every 100 ms) a broken release and then a good one fail no request.

The notes containers follow their own tag (notes:net) so pushing new versions disturbs no other test.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.e2e.conftest import Probe, app_argv, get_ok, roost, wait_http
from tests.e2e.test_https import through_proxy, wait_https

from roost import release
from roost.lab import images
from roost.spec.load import parse_spec

pytestmark = pytest.mark.lab

NAME, TAG, DOMAIN = "netapp", "net", "net.lab.test"
UID = 0  # allocated by apply (the imported spec names none)
WEB, ADMIN = 8481, 8482
SPEC = f"/var/tmp/specs/{NAME}.toml"

COMPOSE = """\
# two copies of one web app on the same port (a site and its admin), and their database
services:
  db:
    image: {postgres}
    environment:
      POSTGRES_USER: notes
      POSTGRES_DB: notes
      POSTGRES_PASSWORD: net-Pa55
      PGDATA: /var/lib/postgresql/data/pgdata
    volumes: [db-data:/var/lib/postgresql/data]
    healthcheck:
      test: ["CMD", "pg_isready", "-h", "127.0.0.1", "-U", "notes"]
      interval: 5s
  web:
    image: {notes}
    depends_on: {{db: {{condition: service_healthy}}}}
    environment: [DATABASE_URL=postgres://notes:net-Pa55@db:5432/notes, PORT=3000]
    ports: ["{web}:3000"]
    labels: {{io.containers.autoupdate: registry}}
    healthcheck:
      test: ["CMD-SHELL", "curl -fsS http://localhost:3000/status || exit 1"]
      interval: 10s
  admin:
    image: {notes}
    depends_on: [db]
    links: ["db:database"]
    environment: [DATABASE_URL=postgres://notes:net-Pa55@database:5432/notes, PORT=3000]
    ports: ["{admin}:3000"]
    networks:
      default:
        aliases: [backoffice]
    healthcheck:
      test: ["CMD-SHELL", "curl -fsS http://localhost:3000/status || exit 1"]
      interval: 10s
  sidecar:
    image: {notes}
    network_mode: "service:admin"
    entrypoint: ["python3", "-c", "import signal, time; signal.signal(signal.SIGTERM, lambda *a: exit(0)); time.sleep(1e9)"]
volumes:
  db-data:
"""


def in_container(lab, container: str, url: str) -> subprocess.CompletedProcess[str]:
    """GET url from inside one of the app's containers (its own network namespace)."""
    code = f"import urllib.request; print(urllib.request.urlopen({url!r}, timeout=5).read().decode())"
    return lab.exec(app_argv(NAME, UID, ["podman", "exec", f"{NAME}-{container}", "python3", "-c", code]), check=False)


def update(lab) -> tuple[int, dict, float]:
    started = time.monotonic()
    r = roost(lab, "update", NAME, "--json", check=False)
    took = time.monotonic() - started
    report = json.loads(r.stdout[r.stdout.index("{"):]) if "{" in r.stdout else {}
    return r.returncode, report, took


@pytest.fixture(scope="module")
def app(lab, tmp_path_factory):
    images.build_notes(lab.machine, "n1", tags=(TAG,))
    work = tmp_path_factory.mktemp("compose")
    (work / "docker-compose.yml").write_text(COMPOSE.format(
        postgres=lab.postgres_image, notes=images.notes_ref(TAG), web=WEB, admin=ADMIN))
    out = subprocess.run([sys.executable, "-m", "roost", "import", "docker-compose.yml", "--name", NAME, "-o",
                          f"{NAME}.toml"], cwd=work, capture_output=True, text=True, check=False, timeout=120)
    assert out.returncode == 0, out.stderr
    spec = (work / f"{NAME}.toml").read_text()  # applied exactly as imported
    target = lab.rootfs / SPEC.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(spec)
    roost(lab, "apply", SPEC)
    global UID
    UID = int(lab.exec(["id", "-u", NAME]).stdout)
    yield lab, spec
    roost(lab, "down", NAME, "--purge", "--yes", check=False)


def test_each_service_answers_on_its_own_port_and_by_name(app):
    lab, spec = app
    assert "[network]" in spec and "[pod]" not in spec, spec
    for port in (WEB, ADMIN):  # both listen on :3000 inside; both reach the database by name
        assert wait_http(f"http://127.0.0.1:{port}/version").strip() == "n1"
    by_name = in_container(lab, "web", "http://admin:3000/version")
    assert by_name.returncode == 0 and by_name.stdout.strip() == "n1", by_name.stderr
    alias = in_container(lab, "web", "http://backoffice:3000/status")
    assert alias.returncode == 0, alias.stderr
    back = in_container(lab, "admin", "http://web:3000/status")
    assert back.returncode == 0, back.stderr
    shared = in_container(lab, "sidecar", "http://localhost:3000/version")  # network_mode: "service:admin"
    assert shared.returncode == 0 and shared.stdout.strip() == "n1", shared.stderr
    nets = lab.exec(app_argv(NAME, UID, ["podman", "network", "ls", "--format", "{{.Name}}"])).stdout.split()
    assert NAME in nets


def test_a_broken_release_without_the_front_door_is_rolled_back_fast(app):
    lab, spec = app
    images.build_notes(lab.machine, "n2", broken=True, tags=(TAG,))
    with Probe(get_ok(f"http://127.0.0.1:{WEB}/status"), interval=0.1) as probe:  # the app's own port
        code, report, took = update(lab)
    print(f"\nFIGURES network broken release, no front door: the site was down {probe.longest_gap:.1f} s "
          f"({probe}); roost update exited {code} after {took:.1f} s (backup and pull included; rollback "
          f"{report.get('rollback_seconds')} s; why: {report.get('error')})")
    assert code == 1 and report["result"] == "rolled-back", report
    # the gate's window comes from the health checks as imported (interval 10s x compose's 3 retries; its
    # default 30 s timeout is not waited for, the checks fail at once), not from app.health_timeout (300 s)
    parsed = parse_spec(spec, f"{NAME}.toml")
    gate = max(release.window(parsed, c, hung=False) for c in ("web", "admin"))
    assert gate < parsed.app.health_timeout_s / 2, gate
    assert "each failing at once" in str(report.get("error")), report
    assert probe.longest_gap < 60, (f"the broken release was served {probe.longest_gap:.1f} s before the "
                                    f"rollback (the gate's window: {gate:.0f} s)")
    assert wait_http(f"http://127.0.0.1:{WEB}/version", timeout=30).strip() == "n1"


def test_behind_the_front_door_a_broken_then_a_good_release_fail_no_request(app):
    lab, spec = app
    web = f'\n[web]\ndomains = ["{DOMAIN}"]\ntls = "internal"\nport = {WEB}\n'
    (lab.rootfs / SPEC.lstrip("/")).write_text(spec + web)
    roost(lab, "apply", SPEC)
    wait_https(lab, DOMAIN, "/status")
    units = lab.exec(app_argv(NAME, UID, ["systemctl", "--user", "cat", "web-next.service"]), check=False)
    assert units.returncode == 0, "the web container has no start-first unit"

    with Probe(through_proxy(lab, DOMAIN), interval=0.1) as probe:
        code, report, took = update(lab)  # notes:net is still the broken n2
    print(f"\nFIGURES network broken release, front door: exit {code} after {took:.1f} s; HTTPS client: {probe}")
    assert code == 1 and report["result"] == "rolled-back", report
    assert probe.failed == 0 and probe.ok > 0, probe.failures[:5]
    assert wait_https(lab, DOMAIN, "/version").strip() == "n1"
    gone = lab.exec(app_argv(NAME, UID, ["podman", "container", "exists", f"{NAME}-web-next"]), check=False)
    assert gone.returncode == 1, "the broken release was left behind"

    images.build_notes(lab.machine, "n3", tags=(TAG,))
    with Probe(through_proxy(lab, DOMAIN), interval=0.1) as probe:
        code, report, took = update(lab)
    print(f"FIGURES network good release, front door: exit {code} after {took:.1f} s; HTTPS client: {probe}")
    assert code == 0 and report["result"] == "updated", report
    assert probe.failed == 0 and probe.ok > 0, probe.failures[:5]
    assert wait_https(lab, DOMAIN, "/version").strip() == "n3"
    assert wait_http(f"http://127.0.0.1:{WEB}/version").strip() == "n3"  # its own port again
    site = (lab.rootfs / f"etc/caddy/roost.d/{NAME}.caddy").read_text()
    assert f"127.0.0.1:{WEB}" in site, site


def nightly(lab) -> tuple[float, str]:
    """What the app's timer does at night, run now as its user: the pre-update backup, podman auto-update,
    roost restart-changed (through roost-restart.service). (seconds, the service's journal tail)."""
    started = time.monotonic()
    lab.exec(app_argv(NAME, UID, ["systemctl", "--user", "start", "podman-auto-update.service"]), check=False,
             timeout=900)
    took = time.monotonic() - started
    log = lab.exec(app_argv(NAME, UID, ["journalctl", "--user", "-u", "podman-auto-update.service", "-u",
                                        "roost-restart.service", "-n", "60", "--no-pager"]), check=False).stdout
    return took, log


def test_behind_the_front_door_the_nightly_path_fails_no_request_with_a_broken_then_a_good_release(app):
    """The nightly path runs as the app's user, which cannot write Caddy's files: it asks root's watcher
    (roost-door.service) to dial its standby release, which the watcher does only for the app's own listener."""
    lab, _ = app
    images.build_notes(lab.machine, "n4", broken=True, tags=(TAG,))
    with Probe(through_proxy(lab, DOMAIN), interval=0.1) as probe:
        took, log = nightly(lab)
    print(f"\nFIGURES network broken release, front door, nightly: {took:.1f} s; HTTPS client: {probe}")
    assert probe.failed == 0 and probe.ok > 0, (probe.failures[:5], log[-2000:])
    assert "rolled back" in log, log[-2000:]
    assert wait_https(lab, DOMAIN, "/version").strip() == "n3"
    gone = lab.exec(app_argv(NAME, UID, ["podman", "container", "exists", f"{NAME}-web-next"]), check=False)
    assert gone.returncode == 1, "the broken release was left behind"

    images.build_notes(lab.machine, "n5", tags=(TAG,))
    with Probe(through_proxy(lab, DOMAIN), interval=0.1) as probe:
        took, log = nightly(lab)
    print(f"FIGURES network good release, front door, nightly: {took:.1f} s; HTTPS client: {probe}")
    assert probe.failed == 0 and probe.ok > 0, (probe.failures[:5], log[-2000:])
    assert wait_https(lab, DOMAIN, "/version").strip() == "n5", log[-2000:]
    assert wait_http(f"http://127.0.0.1:{WEB}/version").strip() == "n5"  # the own release runs the new image
    site = (lab.rootfs / f"etc/caddy/roost.d/{NAME}.caddy").read_text()
    assert f"127.0.0.1:{WEB}" in site, site  # and the site dials its own port again
    copy = lab.exec(["cat", f"/srv/roost/{NAME}/history.jsonl"]).stdout
    results = [json.loads(line)["result"] for line in copy.splitlines()
               if line.strip() and json.loads(line).get("action") == "auto-update"]
    assert results[-2:] == ["failed", "updated"], results


def test_down_removes_the_network(app):
    lab, _ = app
    roost(lab, "down", NAME)
    nets = lab.exec(app_argv(NAME, UID, ["podman", "network", "ls", "--format", "{{.Name}}"])).stdout.split()
    assert NAME not in nets
    assert not Path(lab.rootfs / f"srv/roost/{NAME}/.config/containers/systemd/{NAME}.network").exists()
