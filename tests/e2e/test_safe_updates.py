"""Issue: safe updates, rollback, backups and restore — on the real lab host and registry.

The app `upd` follows its own tag (notes:upd) so that pushing v2 and a broken v3 does not
disturb other tests. Figures (time to healthy, downtime, rollback time) are printed.
"""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from tests.e2e.conftest import Probe, as_app, get_ok, http, notes_spec, put, roost, wait_http

from roost.lab import images

pytestmark = pytest.mark.lab

NAME, UID, PORT = "upd", 2400, 8392
URL = f"http://127.0.0.1:{PORT}"
SPEC = f"/var/tmp/specs/{NAME}.toml"


def spec_text() -> str:
    return notes_spec(NAME, UID, PORT, notes_tag="upd", app='health_timeout = "60s"', tail="\n[backup]\nkeep = 5\n")


def version() -> str:
    with urllib.request.urlopen(f"{URL}/version", timeout=5) as r:
        return r.read().decode().strip()


def app(lab, *argv: str, check: bool = True):
    return as_app(lab, *argv, uid=UID, name=NAME, check=check)


@pytest.fixture(scope="module")
def upd(lab):
    images.build_notes(lab.machine, "1", tags=("upd",))
    put(lab, SPEC, spec_text())
    roost(lab, "apply", SPEC)
    wait_http(f"{URL}/status")
    for text in ("note one", "note two: ünïcode ✓", "note three 'quoted' \"double\""):
        http("POST", f"{URL}/", {"text": text})
    yield lab
    roost(lab, "down", NAME, "--purge", "--yes", check=False)


def test_update_moves_to_v2_and_keeps_data(upd):
    lab = upd
    assert version() == "1"
    notes_before = wait_http(f"{URL}/")
    images.build_notes(lab.machine, "2", tags=("upd",))
    check = json.loads(roost(lab, "update", NAME, "--dry-run", "--json").stdout)
    assert any(r.get("ContainerName") == f"{NAME}-app" and r.get("Updated") == "pending" for r in check), check
    with Probe(get_ok(f"{URL}/")) as probe:
        report = json.loads(roost(lab, "update", NAME, "--json").stdout)
    assert report["result"] == "updated" and report["changed"] == ["app"], report
    assert version() == "2"
    assert wait_http(f"{URL}/") == notes_before
    print(f"\nFIGURES update: healthy {report['seconds_to_healthy']}s after restart; "
          f"client saw {probe.failed} failed requests of {probe.ok + probe.failed}, longest gap {probe.longest_gap * 1000:.0f} ms")
    history = json.loads(roost(lab, "history", NAME, "--json").stdout)
    assert history[-1]["action"] == "update" and history[-1]["result"] == "updated"
    assert any(e["action"] == "apply" for e in history)


def test_broken_v3_is_rolled_back_by_roost_update(upd):
    lab = upd
    notes_before = wait_http(f"{URL}/")
    images.build_notes(lab.machine, "3", broken=True, tags=("upd",))
    r = roost(lab, "update", NAME, "--json", check=False)
    report = json.loads(r.stdout)
    assert report["result"] == "rolled-back" and r.returncode == 1, report  # scripts must not think it updated
    assert version() == "2" and wait_http(f"{URL}/") == notes_before
    history = json.loads(roost(lab, "history", NAME, "--json").stdout)
    assert history[-1]["result"] == "rolled-back" and "error" in history[-1]
    print(f"\nFIGURES rollback (roost update): {report['rollback_seconds']}s")


def test_broken_image_is_rolled_back_by_the_nightly_auto_update(upd):
    lab = upd
    backups_before = len(json.loads(roost(lab, "backups", NAME, "--json").stdout))
    started = time.monotonic()
    # what the timer does at night, run now as the app user; v3 (broken) is still :upd
    app(lab, "systemctl", "--user", "start", "podman-auto-update.service", check=False)
    took = time.monotonic() - started
    assert wait_http(f"{URL}/status", timeout=120)
    assert version() == "2"
    log = app(lab, "journalctl", "--user", "-u", "podman-auto-update.service", "-n", "50", "--no-pager", check=False).stdout
    backups_after = len(json.loads(roost(lab, "backups", NAME, "--json").stdout))
    assert backups_after == backups_before + 1, "the pre-update backup hook did not run"
    assert "rolled back" in log, log
    # the nightly path runs as the app's user, which cannot write root's history: its entries are in the
    # copy in the home (root's own history records only what root did)
    copy = lab.exec(["cat", f"/srv/roost/{NAME}/history.jsonl"]).stdout
    history = [json.loads(line) for line in copy.splitlines() if line.strip()]
    assert [e["result"] for e in history if e["action"] == "auto-update"][-2:] == ["failed", "updated"], history
    print(f"\nFIGURES rollback (podman auto-update): {took:.1f}s; journal tail: {log[-300:]!r}")


def test_backup_then_deleted_notes_are_restored_byte_for_byte(upd):
    lab = upd
    before = wait_http(f"{URL}/")
    out = roost(lab, "backup", NAME).stdout
    assert "backup written" in out
    listed = json.loads(roost(lab, "backups", NAME, "--json").stdout)
    newest = listed[-1]
    mode = lab.exec(["stat", "-c", "%U %a", newest["path"]]).stdout.strip()
    assert mode == f"{NAME} 600"
    app(lab, "podman", "exec", f"{NAME}-database", "psql", "-U", "notes", "-d", "notes", "-c", "DELETE FROM notes")
    assert wait_http(f"{URL}/").strip() == ""
    roost(lab, "restore", NAME, newest["name"], "--yes")
    assert wait_http(f"{URL}/") == before


def test_deleted_volume_directory_is_restored(upd):
    lab = upd
    before = wait_http(f"{URL}/")
    roost(lab, "backup", NAME)  # the newest before this was the safety backup the last restore took
    newest = json.loads(roost(lab, "backups", NAME, "--json").stdout)[-1]
    app(lab, "systemctl", "--user", "stop", f"{NAME}-pod.service")
    lab.exec(["rm", "-rf", f"/srv/roost/{NAME}/database", f"/srv/roost/{NAME}/uploads"])
    roost(lab, "restore", NAME, newest["name"], "--yes")
    assert wait_http(f"{URL}/") == before
    assert lab.exec(["test", "-d", f"/srv/roost/{NAME}/uploads"], check=False).returncode == 0


def test_rollback_returns_to_the_first_applied_images(upd):
    lab = upd
    before = wait_http(f"{URL}/")
    assert version() == "2"
    report = json.loads(roost(lab, "rollback", NAME, "--json").stdout)
    assert report["result"] == "rolled-back" and report["changed"] == ["app"], report
    assert version() == "1" and wait_http(f"{URL}/") == before
    history = json.loads(roost(lab, "history", NAME, "--json").stdout)
    assert history[-1]["action"] == "rollback"
