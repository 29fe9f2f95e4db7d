"""roost doctor on the real lab host: break what a check checks, see it fail, fix, see it pass."""

from __future__ import annotations

import json

import pytest
from tests.e2e.conftest import notes_spec, put, roost, wait_http

pytestmark = pytest.mark.lab

NAME, UID, PORT = "doc", 3000, 8398
SPEC = f"/var/tmp/specs/{NAME}.toml"


def checks(lab) -> dict[str, dict]:
    out = lab.exec(["roost", "doctor", NAME, "--json"], check=False)
    return {c["check"]: c for c in json.loads(out.stdout)}


@pytest.fixture(scope="module")
def doc(lab):
    text = notes_spec(NAME, UID, PORT)
    put(lab, SPEC, text)
    roost(lab, "apply", SPEC)
    yield lab
    roost(lab, "down", NAME, "--purge", "--yes", check=False)


def test_healthy_host_passes(doc):
    found = checks(doc)
    failing = {k: v["detail"] for k, v in found.items() if v["status"] == "fail"}
    assert not failing, failing
    assert doc.exec(["roost", "doctor", NAME], check=False).returncode == 0
    for name in ("podman", "quadlet", "newuidmap", f"linger {NAME}", f"subuid {NAME}", f"units {NAME}",
                 "network-online.target", "/dev/net/tun", f"secret files {NAME}"):
        assert found[name]["status"] == "ok", (name, found[name])


MOVE = "/var/tmp/doctor-moved"


def hide(path: str) -> tuple[list[str], list[str]]:
    return ["mv", path, MOVE], ["mv", MOVE, path]


@pytest.mark.parametrize("case", ["linger", "secret-mode", "tun", "subuid-overlap", "newuidmap", "catatonit",
                                  "pasta", "quadlet", "unit-warning"])
def test_break_then_fix(doc, case):
    lab = doc
    check, breaker, undo = {
        "linger": (f"linger {NAME}", ["loginctl", "disable-linger", NAME], None),
        "secret-mode": (f"secret files {NAME}", ["chmod", "0644", f"/srv/roost/{NAME}/.config/roost/secrets/db_password"], None),
        "tun": ("/dev/net/tun", ["chmod", "0600", "/dev/net/tun"], None),
        "subuid-overlap": (f"subuid {NAME}", ["sh", "-c", f"echo intruder:{UID * 100000 + 10}:100 >> /etc/subuid"],
                           ["sed", "-i", "/^intruder:/d", "/etc/subuid"]),
        "newuidmap": ("newuidmap", ["chmod", "u-s", "/usr/bin/newuidmap"], None),
        # Debian: /usr/libexec/podman/catatonit is a link to this; a dangling link is no helper
        "catatonit": ("catatonit", *hide("/usr/bin/catatonit")),
        "pasta": ("pasta or slirp4netns", *hide("/usr/bin/pasta")),
        "quadlet": ("quadlet", *hide("/usr/libexec/podman/quadlet")),
        "unit-warning": (f"units {NAME}", ["sed", "-i", "s/^\\[Container\\]$/[Container]\\nBogus=1/",
                                           f"/srv/roost/{NAME}/.config/containers/systemd/app.container"],
                         ["roost", "apply", "-q", SPEC]),
    }[case]
    lab.exec(breaker)
    found = checks(lab)[check]
    assert found["status"] == "fail" and found["fix"], found
    assert lab.exec(["roost", "doctor", NAME], check=False).returncode == 1
    if undo is None:
        assert found["fixable"]
        lab.exec(["roost", "doctor", NAME, "--fix", "--yes"], check=False)
    else:
        lab.exec(undo)  # missing packages, ranges, edited units: doctor says how, a person (or apply) does
    assert checks(lab)[check]["status"] == "ok"
    if case == "linger":
        roost(lab, "apply", SPEC)
        wait_http(f"http://127.0.0.1:{PORT}/status")


def test_network_online_trap_is_found_and_fixed_across_a_reboot(doc):
    lab = doc
    wants = "/etc/systemd/system/multi-user.target.wants/network-online.target"
    # the trap is a host where nothing pulls the target in at boot: an enabled service that wants it (Caddy, once an
    # earlier module opened the front door) would reach it anyway, so those are switched off for the two boots
    pulling = [u for u in lab.exec(["systemctl", "show", "-p", "WantedBy", "-p", "RequiredBy", "--value",
                                    "network-online.target"]).stdout.split()
               if u.endswith(".service") and lab.exec(["systemctl", "is-enabled", u], check=False).stdout.strip()
               == "enabled"]
    if pulling:
        lab.exec(["systemctl", "disable", *pulling])
    try:
        lab.exec(["rm", "-f", wants])
        lab.reboot()
        found = checks(lab)["network-online.target"]
        assert found["status"] == "fail" and "add-wants" in found["fix"], (found, pulling)
        lab.exec(["roost", "doctor", "--fix", "--yes"], check=False)
        assert lab.exec(["test", "-L", wants], check=False).returncode == 0
        lab.reboot()
        assert checks(lab)["network-online.target"]["status"] == "ok"
        wait_http(f"http://127.0.0.1:{PORT}/status", timeout=120)
    finally:
        if pulling:
            lab.exec(["systemctl", "enable", "--now", *pulling])
