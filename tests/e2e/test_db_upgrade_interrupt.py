"""Issue 9: `roost db upgrade` survives Ctrl-C and SIGKILL at any step: the next command finishes
or undoes it, and every row is still there.

The cut is made at each named step (upgrade_marker.STEPS) through the fault hook
(ROOST_KILL_AT=db-upgrade.STEP, roost.faults), not after a guessed number of seconds: every step
is covered on every run, whatever the machine's speed. One app on PostgreSQL 15 serves all cases;
each case but the last leaves it on 15 with its rows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.e2e.conftest import http, notes_spec, put, roost, wait_http

from roost.lab import images
from roost.upgrade_marker import STEPS

pytestmark = pytest.mark.lab

NAME, UID, PORT = "pgcut", 2900, 8399
URL = f"http://127.0.0.1:{PORT}"
SPEC = f"/var/tmp/specs/{NAME}.toml"
MARKER = f"/var/lib/roost/apps/{NAME}/db-upgrade.json"
UNDONE = STEPS[:STEPS.index("restored")]  # cut before the restore completed: the next command undoes


def pg_version(lab) -> str:
    return lab.exec(["cat", f"/srv/roost/{NAME}/database/pgdata/PG_VERSION"]).stdout.strip()


def upgrade(lab, *args: str, fault: str = ""):
    env = ["env", f"ROOST_KILL_AT={fault}"] if fault else []
    return lab.exec([*env, "roost", "db", "upgrade", NAME, "database", *args], check=False, timeout=600)


def marker_step(lab) -> str | None:
    r = lab.exec(["python3", "-c", f"import json; print(json.load(open({MARKER!r}))['step'])"], check=False)
    return r.stdout.strip() if r.returncode == 0 else None


@pytest.fixture(scope="module")
def rows(lab) -> Iterator[str]:
    """The app on PostgreSQL 15 with 25 rows; yields the page that lists them."""
    images.ensure_postgres(lab.machine, "15")
    images.ensure_postgres(lab.machine, "17")
    put(lab, SPEC, notes_spec(NAME, UID, PORT, postgres_tag="15"))
    try:
        roost(lab, "apply", SPEC)
        wait_http(f"{URL}/status")
        for i in range(25):
            http("POST", f"{URL}/", {"text": f"row {i}"})
        yield wait_http(f"{URL}/")
    finally:
        roost(lab, "down", NAME, "--purge", "--yes", check=False)


def assert_back_on_15(lab, rows: str) -> None:
    assert pg_version(lab) == "15"
    assert wait_http(f"{URL}/") == rows
    assert lab.exec(["test", "-e", MARKER], check=False).returncode != 0
    assert 'roost-lab/postgres:15"' in lab.exec(["cat", SPEC]).stdout


@pytest.mark.parametrize("step", UNDONE)
def test_sigkill_at_a_step_then_undo(lab, rows, step):
    cut = upgrade(lab, "--to", "17", fault=f"db-upgrade.{step}")
    assert cut.returncode in (-9, 137), f"not killed at {step} ({cut.returncode}): {cut.stdout[-500:]}"
    assert marker_step(lab) == step
    assert lab.exec(["stat", "-c", "%U %a", MARKER]).stdout.strip() == "root 600"
    # other verbs refuse to build on a half-moved data directory
    refused = roost(lab, "backup", NAME, check=False)
    assert refused.returncode == 2 and f"stopped at step '{step}'" in refused.stderr, refused.stderr
    undone = upgrade(lab, "--undo")
    assert undone.returncode == 0 and "db upgrade undone" in undone.stdout, undone.stdout + undone.stderr
    assert_back_on_15(lab, rows)


def test_ctrl_c_mid_upgrade_puts_everything_back(lab, rows):
    # SIGINT once the old data directory was moved aside: roost itself undoes before it exits
    cut = upgrade(lab, "--to", "17", fault="db-upgrade.moved:int")
    out = cut.stdout + cut.stderr
    assert cut.returncode not in (0, -9, 137) and "putting back PostgreSQL 15" in out, out
    assert_back_on_15(lab, rows)


def test_cut_twice_then_the_next_command_finishes(lab, rows):
    # killed before the restore: the next command undoes and starts again; killed once restored, the
    # command after that only verifies and finishes
    first = upgrade(lab, "--to", "17", fault="db-upgrade.spec-written")
    assert first.returncode in (-9, 137) and marker_step(lab) == "spec-written"
    second = upgrade(lab, "--to", "17", fault="db-upgrade.restored")
    assert second.returncode in (-9, 137), second.stdout + second.stderr
    assert "undoing the upgrade" in second.stdout and marker_step(lab) == "restored"
    done = upgrade(lab, "--to", "17")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "finishing the upgrade" in done.stdout and "PostgreSQL 15 → 17" in done.stdout, done.stdout
    assert pg_version(lab) == "17"
    assert wait_http(f"{URL}/") == rows
    assert lab.exec(["test", "-e", MARKER], check=False).returncode != 0
    assert 'roost-lab/postgres:17"' in lab.exec(["cat", SPEC]).stdout
