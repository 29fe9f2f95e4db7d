"""PostgreSQL majors: a spec change 15 -> 17 is refused; `roost db upgrade` moves the data."""

from __future__ import annotations

import pytest
from tests.e2e.conftest import http, notes_spec, put, roost, wait_http

from roost.lab import images

pytestmark = pytest.mark.lab

NAME, UID, PORT = "pgup", 2500, 8393
URL = f"http://127.0.0.1:{PORT}"
SPEC = f"/var/tmp/specs/{NAME}.toml"


def spec_text(major: str) -> str:
    return notes_spec(NAME, UID, PORT, postgres_tag=major)


def test_major_jump_is_refused_and_db_upgrade_keeps_every_row(lab):
    images.ensure_postgres(lab.machine, "15")
    put(lab, SPEC, spec_text("15"))
    try:
        roost(lab, "apply", SPEC)
        wait_http(f"{URL}/status")
        texts = [f"row {i}: {'x' * i}" for i in range(1, 40)]
        for t in texts:
            http("POST", f"{URL}/", {"text": t})
        before = wait_http(f"{URL}/")
        assert all(t in before for t in texts)
        assert lab.exec(["cat", f"/srv/roost/{NAME}/database/pgdata/PG_VERSION"]).stdout.strip() == "15"

        put(lab, SPEC, spec_text("17"))
        refused = roost(lab, "apply", SPEC, check=False)
        assert refused.returncode == 2
        assert f"roost db upgrade {NAME} database --to 17" in refused.stderr
        assert wait_http(f"{URL}/") == before  # nothing was touched

        put(lab, SPEC, spec_text("15"))
        out = roost(lab, "db", "upgrade", NAME, "database", "--to", "17").stdout
        assert "PostgreSQL 15 → 17" in out
        assert wait_http(f"{URL}/") == before
        assert lab.exec(["cat", f"/srv/roost/{NAME}/database/pgdata/PG_VERSION"]).stdout.strip() == "17"
        kept = lab.exec(["sh", "-c", f"ls -d /srv/roost/{NAME}/database.pg15-*"]).stdout.strip()
        assert kept and lab.exec(["test", "-f", f"{kept}/pgdata/PG_VERSION"], check=False).returncode == 0
        assert 'roost-lab/postgres:17"' in lab.exec(["cat", SPEC]).stdout
        assert "no changes" in roost(lab, "apply", SPEC).stdout
    finally:
        roost(lab, "down", NAME, "--purge", "--yes", check=False)
