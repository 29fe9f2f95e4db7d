"""Issue 9 (backups you can trust): the app user attacks roost's backups and restore.

Each case does the attacker's step as the app user (what a compromised app becomes), then runs
the roost verb as root, and asserts: it refused with a located error (or did the safe thing),
nothing outside the app's home changed (a digest of /etc, /root, /usr/local, /var/lib before and
after), and the app still serves its notes. The summary prints paths tried and held.
"""

from __future__ import annotations

import json

import pytest
from tests.e2e.conftest import as_app, http, notes_spec, put, roost, wait_http

from roost.lab import images

pytestmark = pytest.mark.lab

NAME, UID, PORT = "vault", 2800, 8398
URL = f"http://127.0.0.1:{PORT}"
SPEC = f"/var/tmp/specs/{NAME}.toml"
HOME = f"/srv/roost/{NAME}"
BACKUPS = f"{HOME}/backups"
FORGED = f"{NAME}-20990101T000000Z"  # a name the attacker gives its archive
HELD: dict[str, bool] = {}

# what changes on its own while the lab runs, and says nothing about what roost did
NOISE = ("/var/lib/systemd/timers/", "/var/lib/systemd/random-seed", "/var/lib/systemd/linger/",
         "/var/lib/private/", "/var/lib/systemd/coredump/")


def spec_text() -> str:
    return notes_spec(NAME, UID, PORT, notes_tag=NAME, app='health_timeout = "60s"',
                      tail='\n[backup]\nkeep = 10\nschedule = "daily"\n')


def app(lab, *argv: str, check: bool = True):
    return as_app(lab, *argv, uid=UID, name=NAME, check=check)


def attacker(lab, script: str) -> None:
    """The attacker's step: a shell script run as the app user in its home."""
    app(lab, "sh", "-euc", f"cd {HOME}\n{script}")


def snapshot(lab) -> dict[str, str]:
    """Path -> type, mode, owner, size, mtime, link target; content hash for /etc, /root, /usr/local."""
    listing = lab.exec(["find", "/etc", "/root", "/usr/local", "/var/lib", "-xdev", "-printf",
                        r"%p\t%y %m %U:%G %s %T@ %l\n"]).stdout
    hash_all = "find /etc /root /usr/local -xdev -type f -print0 | sort -z | xargs -0 sha256sum 2>/dev/null || true"
    sums = lab.exec(["sh", "-c", hash_all]).stdout
    out = {}
    for line in listing.splitlines():
        path, _, meta = line.partition("\t")
        if not path.startswith(NOISE):
            out[path] = meta
    for line in sums.splitlines():
        digest, _, path = line.partition("  ")
        out[path] = out.get(path, "") + " " + digest
    return out


def assert_unchanged(before: dict[str, str], after: dict[str, str]) -> None:
    changed = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    assert not changed, "changed outside the app's home: " + "; ".join(
        f"{p}: {before.get(p)} -> {after.get(p)}" for p in changed[:10])


def unit_started(lab, unit: str) -> str:
    return app(lab, "systemctl", "--user", "show", "-p", "ActiveEnterTimestampMonotonic", "--value", unit).stdout.strip()


def backups(lab) -> list[dict]:
    return json.loads(roost(lab, "backups", NAME, "--json").stdout)


@pytest.fixture(scope="module", autouse=True)
def summary():
    yield
    held = sum(HELD.values())
    print(f"\nSUMMARY backup boundary: {len(HELD)} paths tried, {held} held"
          + "".join(f"\n  {'held' if ok else 'BROKEN'}: {case}" for case, ok in HELD.items()))


@pytest.fixture(scope="module")
def vault(lab):
    images.build_notes(lab.machine, "1", tags=(NAME,))
    put(lab, SPEC, spec_text())
    roost(lab, "apply", SPEC)
    wait_http(f"{URL}/status")
    for text in ("first note", "second: ünïcode ✓"):
        http("POST", f"{URL}/", {"text": text})
    roost(lab, "backup", NAME)
    yield lab
    roost(lab, "down", NAME, "--purge", "--yes", check=False)


def forge(lab, tamper: str, tar_args: str = ".") -> None:
    """Unpack the newest genuine backup into ~/craft as the app user, run `tamper` there, and pack
    it back as a new archive in ~/backups under a name roost lists."""
    genuine = backups(lab)[-1]["path"]
    attacker(lab, f"rm -rf craft && mkdir craft && tar -C craft -xzf {genuine}\n"
                  f"cd craft\n{tamper}\ncd ..\n"
                  f"tar -C craft -czPf {BACKUPS}/{FORGED}.tar.gz {tar_args}\nrm -rf craft")


def refused_restore(lab, case: str, expect: str) -> None:
    """Restore the forged archive as root: refused with a located error, before anything stopped."""
    notes_before = wait_http(f"{URL}/")
    pod_started = unit_started(lab, f"{NAME}-pod.service")
    before = snapshot(lab)
    r = roost(lab, "restore", NAME, FORGED, "--yes", check=False)
    after = snapshot(lab)
    ok = r.returncode == 2 and expect in r.stderr and f"{FORGED}.tar.gz" in r.stderr
    HELD[case] = False
    assert ok, f"{case}: exit {r.returncode}\n--- stdout\n{r.stdout}--- stderr\n{r.stderr}"
    assert_unchanged(before, after)
    assert unit_started(lab, f"{NAME}-pod.service") == pod_started, "the app was stopped before the refusal"
    assert wait_http(f"{URL}/") == notes_before
    HELD[case] = True
    attacker(lab, f"rm -f {BACKUPS}/{FORGED}.tar.gz")


def test_member_with_an_absolute_name_is_refused(vault):
    forge(vault, "true", tar_args=". /etc/hostname")
    refused_restore(vault, "restore: member with an absolute name (/etc/hostname)", "is an absolute name")


def test_member_that_is_a_link_is_refused(vault):
    forge(vault, "rm vol-uploads.tar && ln -s /etc/shadow vol-uploads.tar")
    refused_restore(vault, "restore: vol-uploads.tar is a symlink to /etc/shadow", "is a symbolic link")


def test_manifest_pointing_a_volume_at_etc_is_refused(vault):
    forge(vault, "sed -i 's#\"/srv/roost/vault/uploads\"#\"/etc\"#' manifest.json && grep -q '\"/etc\"' manifest.json")
    refused_restore(vault, "restore: manifest sends the uploads volume to /etc", "is not where the spec keeps it")


def test_manifest_listing_an_absolute_member_is_refused(vault):
    forge(vault, "python3 - <<'EOF'\nimport json\nm = json.load(open('manifest.json'))\n"
                 "m['files']['/etc/shadow'] = '0' * 64\njson.dump(m, open('manifest.json', 'w'))\nEOF")
    refused_restore(vault, "restore: manifest lists /etc/shadow", "files./etc/shadow")


def test_member_whose_checksum_does_not_match_is_refused(vault):
    forge(vault, "echo 'DROP TABLE notes;' >> db-database.sql")
    refused_restore(vault, "restore: dump changed after the backup (checksum)", "checksum does not match")


def test_planted_links_at_the_next_backup_names_are_replaced_not_followed(vault):
    lab = vault
    # every name the next minute of backups could take, each a link to a file root would create
    attacker(lab, "now=$(date -u +%s)\nfor i in $(seq 0 90); do\n"
                  f"  ln -sfn /etc/roost-pwned-$i {BACKUPS}/{NAME}-$(date -u -d @$((now + i)) +%Y%m%dT%H%M%SZ).tar.gz\n"
                  "done")
    notes_before = wait_http(f"{URL}/")
    before = snapshot(lab)
    r = roost(lab, "backup", NAME, check=False)
    after = snapshot(lab)
    HELD["backup: links planted at the next archive names"] = False
    assert r.returncode == 0, r.stderr
    newest = backups(lab)[-1]["path"]
    kind = lab.exec(["stat", "-c", "%F %U %a", newest]).stdout.strip()
    assert kind == f"regular file {NAME} 600", kind
    assert lab.exec(["sh", "-c", "ls /etc/roost-pwned-* 2>/dev/null | wc -l"]).stdout.strip() == "0"
    assert_unchanged(before, after)
    assert wait_http(f"{URL}/") == notes_before
    HELD["backup: links planted at the next archive names"] = True
    attacker(lab, f"find {BACKUPS} -maxdepth 1 -type l -delete")


def test_backups_folder_replaced_by_a_link_to_etc(vault):
    lab = vault
    attacker(lab, "mv backups backups.real && ln -s /etc backups")
    notes_before = wait_http(f"{URL}/")
    before = snapshot(lab)
    try:
        r = roost(lab, "backup", NAME, check=False)
        after = snapshot(lab)
    finally:
        attacker(lab, "rm backups && mv backups.real backups")
    HELD["backup: ~/backups is a link to /etc"] = False
    assert r.returncode != 0 and BACKUPS in r.stderr, f"exit {r.returncode}\n{r.stdout}{r.stderr}"
    assert_unchanged(before, after)
    assert wait_http(f"{URL}/") == notes_before
    HELD["backup: ~/backups is a link to /etc"] = True


def test_failed_dump_leaves_no_archive_and_retention_ignores_partials(vault):
    lab = vault
    listed = backups(lab)
    # a partial archive the attacker (or a crash) left behind: never listed, never counted
    attacker(lab, f"head -c 100 /dev/urandom > {BACKUPS}/.{NAME}-20000101T000000Z.tar.gz.abcdefghij")
    app(lab, "systemctl", "--user", "stop", "app.service", "database.service")
    try:
        r = roost(lab, "backup", NAME, check=False)
    finally:
        app(lab, "systemctl", "--user", "start", f"{NAME}-pod.service", "database.service",
            "app.service")
    HELD["backup: pg_dump fails half-way"] = False
    assert r.returncode != 0 and "db-database.sql" in r.stderr, r.stderr
    assert backups(lab) == listed
    left = app(lab, "ls", "-A", BACKUPS).stdout.split()
    assert [n for n in left if n.startswith(".") and "staging" in n] == [], left
    wait_http(f"{URL}/status")
    HELD["backup: pg_dump fails half-way"] = True
    attacker(lab, f"rm -f {BACKUPS}/.{NAME}-20000101T000000Z.tar.gz.abcdefghij")


def test_the_apps_own_timer_takes_backups_as_the_app_user(vault):
    """The scheduled backup runs roost as the app user: no root, no runuser, same code."""
    lab = vault
    count = len(backups(lab))
    app(lab, "systemctl", "--user", "start", "roost-backup.service")
    listed = backups(lab)
    assert len(listed) == count + 1
    assert lab.exec(["stat", "-c", "%U %a", listed[-1]["path"]]).stdout.strip() == f"{NAME} 600"


def test_genuine_backup_restores_with_a_safety_backup_first(vault):
    lab = vault
    before_notes = wait_http(f"{URL}/")
    genuine = backups(lab)[-1]["name"]
    app(lab, "podman", "exec", f"{NAME}-database", "psql", "-U", "notes", "-d", "notes", "-c", "DELETE FROM notes")
    assert wait_http(f"{URL}/").strip() == ""
    count = len(backups(lab))
    r = roost(lab, "restore", NAME, genuine, "--yes")
    assert "safety backup" in r.stdout, r.stdout
    assert wait_http(f"{URL}/") == before_notes
    assert len(backups(lab)) == count + 1
    leftovers = app(lab, "sh", "-c", f"ls -d {HOME}/*.pre-restore-* 2>/dev/null || true").stdout.strip()
    assert leftovers == "", leftovers
