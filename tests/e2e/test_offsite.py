"""Issue 21 (backups that survive the server): a disaster-recovery drill across machines.

A rest-server runs on this machine's loopback, outside the lab, so the repository outlives it:
one instance append-only without credentials (the app's side), one that may delete, behind a
password the app's side does not have (the trusted side). Lab A applies an app with PostgreSQL,
writes marker M1, backs up offsite, writes M2; lab A is destroyed; a fresh lab B runs
`roost recover`: M1 is served, M2 is not. Around it: a client's forget against the append-only
server, a trusted prune, the recovery kit, `roost drill` passing and failing loudly on a damaged
pack, and recover refusing a wrong password and an empty repository with nothing created.

This module destroys the session's lab and leaves lab B in its place: conftest runs it last.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import pytest
from tests.e2e.conftest import LAB_NAME, as_app, http, notes_spec, put, roost, wait_http

from roost.lab import up as lab_up

pytestmark = pytest.mark.lab

NAME, UID, PORT = "ledger", 2900, 8401
URL = f"http://127.0.0.1:{PORT}"
SPEC = f"/var/tmp/specs/{NAME}.toml"
ADMIN_USER = "trusted"
FIGURES: dict[str, str] = {}
STATE: dict = {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RestServers:
    """rest-server on this machine: append-only for the app, a deleting one for the trusted side."""

    def __init__(self) -> None:
        binary = shutil.which("rest-server")
        if binary is None:
            pytest.fail("rest-server is not installed on this machine: run scripts/bootstrap", pytrace=False)
        self.dir = Path(tempfile.mkdtemp(prefix="roost-offsite-"))
        self.data = self.dir / "repos"
        self.data.mkdir()
        self.admin_password = os.urandom(12).hex()
        with warnings.catch_warnings():  # bcrypt for rest-server's htpasswd (deprecated in Python 3.11, still there)
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt

            hashed = crypt.crypt(self.admin_password, crypt.mksalt(crypt.METHOD_BLOWFISH))
        (self.dir / "htpasswd").write_text(f"{ADMIN_USER}:{hashed}\n")
        self.app_port, self.admin_port = free_port(), free_port()
        common = [binary, "--path", str(self.data)]
        self.procs = [
            subprocess.Popen([*common, "--append-only", "--no-auth", "--listen", f"127.0.0.1:{self.app_port}"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
            subprocess.Popen([*common, "--htpasswd-file", str(self.dir / "htpasswd"), "--listen",
                              f"127.0.0.1:{self.admin_port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        ]
        for port in (self.app_port, self.admin_port):
            deadline = time.monotonic() + 10
            while http("GET", f"http://127.0.0.1:{port}/")[0] == 0:
                assert time.monotonic() < deadline, f"rest-server on {port} did not answer"
                time.sleep(0.1)

    def app_repo(self, name: str = NAME) -> str:
        return f"rest:http://127.0.0.1:{self.app_port}/{name}"

    def admin_repo(self, name: str = NAME) -> str:
        return f"rest:http://127.0.0.1:{self.admin_port}/{name}"

    def snapshots(self, name: str = NAME) -> int:
        return len(list((self.data / name / "snapshots").glob("*")))

    def stop(self) -> None:
        for p in self.procs:  # only the processes this module started
            p.terminate()
            p.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def spec_text(repo: str) -> str:
    return notes_spec(NAME, UID, PORT, app='health_timeout = "90s"',
                      tail=f'\n[backup.offsite]\nrepository = "{repo}"\nkeep = {{ daily = 1, weekly = 0, monthly = 0 }}\n')


def notes_text() -> str:
    return wait_http(f"{URL}/")


def history(lab) -> list[dict]:
    return [json.loads(line) for line in lab.exec(["cat", f"/var/lib/roost/apps/{NAME}/history.jsonl"]).stdout.splitlines()]


def nothing_of_the_app(lab) -> list[str]:
    """What recover would have created: the user, roost's record, the home."""
    left = []
    if lab.exec(["id", NAME], check=False).returncode == 0:
        left.append(f"user {NAME}")
    for path in (f"/var/lib/roost/apps/{NAME}", f"/srv/roost/{NAME}"):
        if lab.exec(["test", "-e", path], check=False).returncode == 0:
            left.append(path)
    return left


@pytest.fixture(scope="module")
def servers():
    s = RestServers()
    yield s
    s.stop()
    print("\nFIGURES offsite (disaster recovery across machines):"
          + "".join(f"\n  {k}: {v}" for k, v in FIGURES.items()))


@pytest.fixture(scope="module")
def lab_a(lab, servers):
    put(lab, SPEC, spec_text(servers.app_repo()))
    roost(lab, "apply", SPEC)
    wait_http(f"{URL}/status")
    yield lab


def test_backup_goes_offsite_and_deduplicates(lab_a, servers):
    lab = lab_a
    assert lab.exec(["stat", "-c", "%U %a", f"/srv/roost/{NAME}/.config/roost/secrets/offsite-password"]
                    ).stdout.split() == [NAME, "600"]
    assert http("POST", f"{URL}/", {"text": "M1 written before the offsite backup"})[0] in (200, 303)
    # an upload in the app's volume, so that what deduplication saves is visible next to restic's metadata
    as_app(lab, "dd", "if=/dev/urandom", f"of=/srv/roost/{NAME}/uploads/photo.bin", "bs=1M", "count=4",
           "status=none", uid=UID, name=NAME)
    started = time.monotonic()
    out = roost(lab, "backup", NAME)
    first_s = time.monotonic() - started
    assert servers.snapshots() == 1
    started = time.monotonic()
    roost(lab, "backup", NAME)
    FIGURES["backup (local + offsite)"] = f"first {first_s:.1f}s, second {time.monotonic() - started:.1f}s"
    assert servers.snapshots() == 2
    ups = [e for e in history(lab) if e["action"] == "offsite"]
    assert [e["result"] for e in ups] == ["ok", "ok"]
    assert ups[1]["bytes_added"] < ups[0]["bytes_added"] / 2, ups  # restic deduplicated the uncompressed staging
    FIGURES["bytes uploaded"] = (f"first {ups[0]['bytes_added']} of {ups[0]['bytes_processed']} processed, "
                                 f"second {ups[1]['bytes_added']} (deduplicated)")
    password = lab.exec(["cat", f"/srv/roost/{NAME}/.config/roost/secrets/offsite-password"]).stdout.strip()
    # the journal holds binary lines too (a container's raw output): only its text is searched
    journal = lab.exec(["sh", "-c", "journalctl --no-pager -o cat | tr -cd '\\11\\12\\40-\\176'"]).stdout
    units = lab.exec(["sh", "-c", f"cat /srv/roost/{NAME}/.config/containers/systemd/* "
                                  f"/srv/roost/{NAME}/.config/systemd/user/* 2>/dev/null; true"]).stdout
    audit = lab.exec(["cat", "/var/log/roost/audit.log"]).stdout
    for where, text in (("backup output", out.stdout + out.stderr), ("journal", journal), ("units", units),
                        ("audit log", audit)):
        assert password not in text, f"the repository password is in the {where}"
    STATE["photo"] = as_app(lab, "sha256sum", f"/srv/roost/{NAME}/uploads/photo.bin", uid=UID, name=NAME
                            ).stdout.split()[0]
    STATE["backup_done"] = time.time()


def test_client_forget_on_append_only_is_an_error_and_trusted_prune_works(lab_a, servers):
    r = roost(lab_a, "offsite", "prune", NAME, check=False)
    assert r.returncode != 0 and "refused to delete" in r.stderr, r.stderr
    assert servers.snapshots() == 2  # nothing was deleted, and roost said so (restic 0.18.0 exits 0 here)
    creds = {"RESTIC_REST_USERNAME": ADMIN_USER, "RESTIC_REST_PASSWORD": servers.admin_password}
    r = lab_a.exec(["roost", "offsite", "prune", NAME, "--repository", servers.admin_repo()], env=creds)
    assert "2 snapshot(s) before, 1 kept" in r.stdout, r.stdout
    assert servers.snapshots() == 1
    r = roost(lab_a, "offsite", "prune", NAME, "--repository", servers.admin_repo(), check=False)
    assert r.returncode != 0, "the trusted side answered without its credentials"


def test_kit_is_printed_once(lab_a):
    r = roost(lab_a, "offsite", "kit", NAME)
    password = lab_a.exec(["cat", f"/srv/roost/{NAME}/.config/roost/secrets/offsite-password"]).stdout.strip()
    assert "OFF this server" in r.stdout and f"password:   {password}" in r.stdout
    again = roost(lab_a, "offsite", "kit", NAME, check=False)
    assert again.returncode == 2 and "printed already" in again.stderr and password not in again.stdout
    put(lab_a, "/root/kit.txt", r.stdout)


def test_drill_passes_then_fails_loudly_on_a_damaged_pack(lab_a, servers):
    lab = lab_a
    started = time.monotonic()
    r = roost(lab, "drill", NAME)
    FIGURES["drill"] = f"{time.monotonic() - started:.1f}s"
    assert "drill passed" in r.stdout and "database notes matches db-database.sql" in r.stdout, r.stdout
    assert lab.exec(["id", f"{NAME}-drill"], check=False).returncode != 0, "the drill's copy was not purged"
    assert wait_http(f"{URL}/").count("M1") == 1  # the app itself untouched
    status = json.loads(roost(lab, "status", NAME, "--json").stdout)[0]
    assert status["offsite"]["drill"]["result"] == "ok" and status["offsite"]["newest_s"] < 600

    saved = servers.dir / "saved"
    shutil.copytree(servers.data / NAME, saved)
    try:
        for pack in (servers.data / NAME / "data").rglob("*"):
            if pack.is_file() and pack.stat().st_size > 64:
                with open(pack, "r+b") as fh:  # one byte in the middle of every pack
                    fh.seek(pack.stat().st_size // 2)
                    b = fh.read(1)
                    fh.seek(-1, 1)
                    fh.write(bytes([b[0] ^ 0xFF]))
        r = roost(lab, "drill", NAME, check=False)
        assert r.returncode != 0 and "error" in r.stderr, r.stdout + r.stderr
        print(f"\ndamaged pack -> {r.stderr.strip().splitlines()[0]}")
        assert lab.exec(["id", f"{NAME}-drill"], check=False).returncode != 0, "a failed drill left its copy"
        assert history(lab)[-1]["action"] == "drill" and history(lab)[-1]["result"] == "failed"
    finally:
        shutil.rmtree(servers.data / NAME)
        shutil.copytree(saved, servers.data / NAME)


def test_lab_a_dies_and_lab_b_recovers(lab_a, servers):
    lab = lab_a
    kit = (lab.rootfs / "root" / "kit.txt").read_text()
    password = re.search(r"^password:\s+(\S+)$", kit, re.M).group(1)  # type: ignore[union-attr]
    assert http("POST", f"{URL}/", {"text": "M2 written after the offsite backup"})[0] in (200, 303)
    assert "M2" in notes_text()
    disaster = time.time()
    FIGURES["data-lost window"] = f"{disaster - STATE['backup_done']:.1f}s (M2, written after the last snapshot)"

    lab_up.down(lab.machine)  # lab A is gone, with its disk
    started = time.monotonic()
    lab.machine = lab_up.up(LAB_NAME, quiet=True)  # the session's lab is now B
    FIGURES["lab B boot"] = f"{time.monotonic() - started:.1f}s"
    assert lab.exec(["id", NAME], check=False).returncode != 0  # a new machine

    put(lab, "/root/ledger.pw", password + "\n")
    put(lab, "/root/wrong.pw", "not-the-password\n")
    cases = [
        ("wrong password", ["--from", servers.app_repo(), "--password-file", "/root/wrong.pw"], "wrong password"),
        ("empty repository", ["--from", servers.app_repo("empty"), "--password-file", "/root/ledger.pw"],
         "holds no snapshot of app ledger (it is empty)"),
        ("no repository", ["--from", servers.app_repo("nothing"), "--password-file", "/root/ledger.pw"],
         "there is no restic repository"),
    ]
    lab.exec(["restic", "--repo", servers.app_repo("empty"), "--password-file", "/root/ledger.pw", "init"])
    for case, args, expect in cases:
        r = roost(lab, "recover", *args, NAME, check=False)
        assert r.returncode == 2 and expect in r.stderr, f"{case}: exit {r.returncode}\n{r.stdout}{r.stderr}"
        assert nothing_of_the_app(lab) == [], f"{case}: left {nothing_of_the_app(lab)}"

    started = time.monotonic()
    r = roost(lab, "recover", "--from", servers.app_repo(), "--password-file", "/root/ledger.pw", NAME)
    total = time.monotonic() - started
    body = notes_text()
    assert "M1" in body and "M2" not in body, body
    assert as_app(lab, "sha256sum", f"/srv/roost/{NAME}/uploads/photo.bin", uid=UID, name=NAME).stdout.split()[0] \
        == STATE["photo"], "the volume did not come back as it was"
    entry = history(lab)[-1]
    assert entry["action"] == "recover" and entry["result"] == "ok"
    FIGURES["recovery"] = (f"{total:.1f}s total (roost: " + ", ".join(f"{k} {v}s" for k, v in entry["phases"].items())
                           + ")")
    FIGURES["bytes moved"] = f"{entry['bytes']} bytes fetched from the repository"
    print("\n" + r.stdout)
    # the recovered app goes on backing up to the same repository with the kit's password
    assert lab.exec(["cat", f"/srv/roost/{NAME}/.config/roost/secrets/offsite-password"]).stdout.strip() == password
    before = servers.snapshots()
    roost(lab, "backup", NAME)
    assert servers.snapshots() == before + 1
    roost(lab, "down", NAME, "--purge", "--yes")
