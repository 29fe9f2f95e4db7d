"""Fact parsers against outputs recorded on Debian 13 with podman 5.4 (tests/unit/facts/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from roost.host import parse as P

FACTS = Path(__file__).resolve().parent / "facts"


def recorded(name: str) -> str:
    return (FACTS / name).read_text()


def test_passwd():
    users = P.parse_passwd(recorded("passwd"))
    assert users["hedgedoc"] == P.PasswdEntry("hedgedoc", 2000, 2000, "/srv/hedgedoc", "/usr/sbin/nologin")
    assert users["_apt"].uid == 42 and users["_apt"].home == "/nonexistent"  # empty GECOS
    assert users["alice"].home == "/home/alice"  # GECOS with commas
    assert len(users) == len(recorded("passwd").splitlines())


def test_passwd_skips_what_is_not_an_entry():
    text = "+::::::\n# comment\nbroken:x:abc:1:::\n\nok:x:2001:2001::/srv/ok:/bin/sh\n"
    assert list(P.parse_passwd(text)) == ["ok"]


def test_group():
    groups = P.parse_group(recorded("group"))
    assert groups["hedgedoc"] == 2000 and groups["sudo"] == 27 and groups["nogroup"] == 65534


def test_subuid():
    ranges = P.parse_subid(recorded("subuid"))
    assert ranges == [P.SubRange("alice", 100000, 65536), P.SubRange("hedgedoc", 200000000, 65536)]
    assert ranges[1].end == 200065536


@pytest.mark.parametrize("start, count, overlaps", [
    (200000000, 65536, True),
    (199934464, 65536, False),  # ends exactly where the range starts
    (199934465, 65536, True),
    (200065536, 65536, False),  # starts exactly at its end
    (200065535, 1, True),
])
def test_subrange_overlap(start, count, overlaps):
    assert P.SubRange("x", 200000000, 65536).overlaps(start, count) is overlaps


def test_subid_ignores_malformed_lines():
    assert P.parse_subid("a:1:2\nb:100000\nc:x:65536\n d:5:6 \n") == [P.SubRange("a", 1, 2), P.SubRange("d", 5, 6)]


def test_systemctl_show():
    units = P.parse_systemctl_show(recorded("systemctl-show"))
    assert list(units) == ["hedgedoc-pod.service", "database.service", "application.service", "gone.service",
                           "podman-auto-update.timer"]
    assert units["database.service"] == P.UnitState("database.service", "loaded", "active", "running", True)
    assert units["application.service"].active == "activating"
    gone = units["gone.service"]
    assert (gone.load, gone.active, gone.sub, gone.need_reload) == ("not-found", "inactive", "dead", False)
    assert units["podman-auto-update.timer"].sub == "waiting"


def test_systemctl_show_of_nothing():
    assert P.parse_systemctl_show("") == {}


def test_images():
    images = P.parse_images(recorded("podman-images.json"))
    refs = [i.ref for i in images]
    # one entry per name; the dangling image (no Names) is left out
    assert refs == ["quay.io/hedgedoc/hedgedoc:latest", "docker.io/library/postgres:13",
                    "127.0.0.1:5000/roost-lab/postgres:13"]
    assert images[1].digest == images[2].digest and images[1].digest.startswith("sha256:0c3e5a7b")
    assert images[0].id.startswith("3a1c9d2f")


def test_images_empty_output():
    assert P.parse_images("") == [] and P.parse_images("[]\n") == []


def test_containers():
    ctrs = P.parse_containers(recorded("podman-ps.json"))
    assert [c["name"] for c in ctrs] == ["hedgedoc-infra", "hedgedoc-database", "hedgedoc-application"]
    db = ctrs[1]
    assert db["labels"]["io.roost.app"] == "hedgedoc" and db["labels"]["io.roost.container"] == "database"
    assert (db["state"], db["status"]) == ("running", "Up 5 minutes (healthy)")
    assert db["image"] == "docker.io/library/postgres:13" and db["started"] == 1732912032
    assert ctrs[0]["labels"] == {}  # the infra container has "Labels": null
    assert (ctrs[2]["state"], ctrs[2]["status"]) == ("exited", "Exited (1) 2 minutes ago")


def test_ss():
    listeners = P.parse_ss(recorded("ss"))
    got = [(x.proto, x.address, x.port) for x in listeners]
    assert ("tcp", "127.0.0.1", 8388) in got
    assert ("tcp", "::", 22) in got and ("tcp", "::1", 5432) in got and ("tcp", "*", 9090) in got
    assert ("udp", "127.0.0.53", 53) in got  # the %lo interface suffix is dropped
    assert ("udp", "fe80::5054:ff:fe12:3456", 546) in got  # [address]%interface
    assert len(got) == len(recorded("ss").splitlines())


@pytest.mark.parametrize("text, version", [
    (recorded("podman-version"), (5, 4, 2)),
    ("podman version 4.3.1\n", (4, 3, 1)),
    ("podman version 5.5.0-dev\n", (5, 5, 0)),
    ("podman version 5.0\n", (5, 0, 0)),
    ("bash: podman: command not found\n", None),
    ("", None),
])
def test_podman_version(text, version):
    assert P.parse_podman_version(text) == version


@pytest.mark.parametrize("ref, listed", [
    ("postgres:13", "docker.io/library/postgres:13"),
    ("postgres", "docker.io/library/postgres:latest"),
    ("hedgedoc/hedgedoc", "docker.io/hedgedoc/hedgedoc:latest"),
    ("docker.io/library/postgres:13", "docker.io/library/postgres:13"),
    ("quay.io/hedgedoc/hedgedoc:latest", "quay.io/hedgedoc/hedgedoc:latest"),
    ("quay.io/hedgedoc/hedgedoc", "quay.io/hedgedoc/hedgedoc:latest"),
    ("127.0.0.1:5000/roost-lab/postgres:13", "127.0.0.1:5000/roost-lab/postgres:13"),
    ("registry:5000/app", "registry:5000/app:latest"),  # a port marks a registry even without a dot
    ("localhost/notes", "localhost/notes:latest"),
    ("postgres:13@sha256:" + "a" * 64, "docker.io/library/postgres:13"),
])
def test_normalize_image(ref, listed):
    assert P.normalize_image(ref) == listed


def test_systemctl_show_carries_the_unit_file_state():
    # gather_app reads whether the timers are enabled from the same `show` (no `is-enabled` process)
    text = ("Id=podman-auto-update.timer\nLoadState=loaded\nActiveState=active\nSubState=waiting\n"
            "UnitFileState=enabled\n\nId=roost-backup.timer\nLoadState=loaded\nActiveState=inactive\n"
            "SubState=dead\nUnitFileState=disabled\n")
    units = P.parse_systemctl_show(text)
    assert units["podman-auto-update.timer"].file_state == "enabled"
    assert units["roost-backup.timer"].file_state == "disabled"
