"""Who the app runs as: (spec, system facts) -> UID, GID and subordinate range, or a refusal."""

from __future__ import annotations

import re

import pytest

from roost.errors import UsageError
from roost.host.facts import SystemFacts
from roost.host.parse import PasswdEntry, SubRange
from roost.plan.identity import resolve
from roost.render.desired import Identity
from roost.spec.load import parse_spec
from roost.tombstone import Purged, parse_tombstones, with_entry
from tests.unit.fakehost import app_record

BASE_USERS = {"root": (0, 0), "nobody": (65534, 65534), "alice": (1000, 1000)}


def spec(uid: int | None = None, gid: int | None = None, name: str = "demo"):
    extra = (f"uid = {uid}\n" if uid else "") + (f"gid = {gid}\n" if gid else "")
    return parse_spec(f'[app]\nname = "{name}"\n{extra}\n[containers.web]\nimage = "example.org/web:1"\n')


def system(users=None, groups=None, subuids=(), subgids=None, apps=None, purged=()) -> SystemFacts:
    users = {**BASE_USERS, **(users or {})}
    return SystemFacts(
        package_manager="apt-get", missing_packages=(), podman_version=(5, 4, 2),
        users={n: PasswdEntry(n, u, g, f"/home/{n}", "/bin/sh") for n, (u, g) in users.items()},
        groups={"root": 0, "nogroup": 65534, "alice": 1000, **(groups or {})},
        subuids=tuple(SubRange(*r) for r in subuids),
        subgids=tuple(SubRange(*r) for r in (subuids if subgids is None else subgids)),
        listeners=(), apps={n: app_record(n, **a) for n, a in (apps or {}).items()}, linger=frozenset(), purged=tuple(purged),
    )


ALICE_RANGE = ("alice", 100000, 65536)
OLD = Purged("old", 2000, 2000, 200_000_000, 65536)  # a purged app: its IDs are not handed out again
OLD_2001 = Purged("older", 2001, 2001, 200_100_000, 65536)
ODD_RANGE = Purged("odd", 2500, 2500, 200_065_536, 65536)

CASES = [
    # (id, spec, system, expected identity)
    ("uid-from-spec", spec(2000), system(subuids=[ALICE_RANGE]), Identity(2000, 2000, 200_000_000)),
    ("gid-from-spec", spec(2000, 2100), system(), Identity(2000, 2100, 200_000_000)),
    ("lowest-free", spec(), system(), Identity(2000, 2000, 200_000_000)),
    ("skips-taken-uid", spec(), system(users={"bob": (2000, 2000)}, groups={"bob": 2000}),
     Identity(2001, 2001, 200_100_000)),
    ("skips-taken-gid", spec(), system(groups={"team": 2000}), Identity(2001, 2001, 200_100_000)),
    ("skips-other-roost-apps", spec(), system(apps={"notes": {"name": "notes", "uid": 2000, "gid": 2000}}),
     Identity(2001, 2001, 200_100_000)),
    # a group roost created (its record says so) and an interrupted apply that stopped before the user
    ("existing-group-gid-kept", spec(2000), system(groups={"demo": 2300}, apps={"demo": {"name": "demo"}}),
     Identity(2000, 2300, 200_000_000)),
    ("existing-user-kept", spec(), system(users={"demo": (2005, 2005)}, apps={"demo": {"uid": 2005}}),
     Identity(2005, 2005, 200_500_000)),
    ("existing-user-same-uid", spec(2005), system(users={"demo": (2005, 2005)}, apps={"demo": {"name": "demo"}}),
     Identity(2005, 2005, 200_500_000)),
    ("existing-range-reused", spec(2000), system(subuids=[("demo", 300_000, 65536)]), Identity(2000, 2000, 300_000)),
    ("existing-subuid-without-subgid", spec(2000), system(subuids=[("demo", 300_000, 65536)], subgids=[]),
     Identity(2000, 2000, 300_000)),
    ("too-small-range-not-reused", spec(2000), system(subuids=[("demo", 300_000, 1000)]),
     Identity(2000, 2000, 200_000_000)),
    # preferred block taken: the next 65536-aligned block above the highest range in use
    # (200_081_408 = 3053 * 65536, the first aligned start after 200_075_536 / 200_055_536)
    ("preferred-overlaps-range", spec(2000), system(subuids=[ALICE_RANGE, ("carol", 200_010_000, 65536)]),
     Identity(2000, 2000, 200_081_408)),
    ("preferred-overlaps-subgid-only", spec(2000), system(subuids=[], subgids=[("carol", 199_990_000, 65536)]),
     Identity(2000, 2000, 200_081_408)),
    ("preferred-overlaps-roost-record", spec(2000),
     system(apps={"notes": {"name": "notes", "uid": 2001, "gid": 2001, "subid_start": 200_030_000}}),
     Identity(2000, 2000, 200_146_944)),
    # tombstones (roost down --purge): UID, GID and range skipped unless the spec names the UID
    ("purged-uid-skipped", spec(), system(purged=[OLD]), Identity(2001, 2001, 200_100_000)),
    ("purged-uids-skipped", spec(), system(purged=[OLD, OLD_2001]), Identity(2002, 2002, 200_200_000)),
    ("purged-gid-skipped", spec(), system(purged=[Purged("g", 2100, 2000, 0, 0)]), Identity(2001, 2001, 200_100_000)),
    # the spec names the purged UID: it gets that UID back with its own range (the source document's fixed IDs)
    ("purged-uid-asked-for", spec(2000), system(purged=[OLD]), Identity(2000, 2000, 200_000_000)),
    ("purged-uid-asked-for-range-overlapped", spec(2001), system(purged=[OLD_2001, ODD_RANGE]),
     Identity(2001, 2001, 200_146_944)),
    # another app's purged range is never reused, even for a named UID
    ("purged-range-never-reused", spec(2000), system(purged=[OLD_2001, ODD_RANGE]), Identity(2000, 2000, 200_000_000)),
    ("purged-range-of-another-uid", spec(2000), system(purged=[Purged("x", 2500, 2500, 200_000_000, 65536)]),
     Identity(2000, 2000, 200_081_408)),
    ("purged-range-overlapping-preferred", spec(), system(purged=[Purged("x", 3000, 3000, 200_050_000, 65536)]),
     Identity(2000, 2000, 200_146_944)),
    ("preferred-holds-a-real-uid", spec(2000), system(users={"ldap": (200_000_500, 100)}, subuids=[ALICE_RANGE]),
     Identity(2000, 2000, 196_608)),
]


@pytest.mark.parametrize("spec_, system_, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_resolve(spec_, system_, expected):
    assert resolve(spec_, system_) == expected


ERRORS = [
    # (id, spec, system, message pattern, hint pattern)
    ("existing-user-other-uid", spec(2000), system(users={"demo": (2005, 2005)}, apps={"demo": {"name": "demo"}}),
     r"user demo already exists with UID 2005, but the spec asks for app.uid = 2000", r"set app.uid = 2005"),
    ("uid-taken-by-user", spec(2000), system(users={"bob": (2000, 2000)}),
     r"app.uid 2000 is already used by bob", r"choose a free UID"),
    ("uid-taken-by-roost-app", spec(2000), system(apps={"notes": {"name": "notes", "uid": 2000}}),
     r"app.uid 2000 is already used by notes", r"choose a free UID"),
    ("account-not-created-by-roost", spec(name="alice"), system(),
     r"user alice already exists \(UID 1000\) and roost did not create it", r"pick another app name"),
    ("human-account-above-2000", spec(name="carol"), system(users={"carol": (2001, 2001)}),
     r"user carol already exists \(UID 2001\) and roost did not create it", r"never takes over"),
    # an app named after a group joins it: `shadow` could read /etc/shadow, `docker` drive dockerd
    ("system-group", spec(name="shadow"), system(groups={"shadow": 42}),
     r"group shadow already exists \(GID 42\) and roost did not create it", r"pick another app name"),
    ("other-group-above-2000", spec(name="docker"), system(groups={"docker": 2500}),
     r"group docker already exists \(GID 2500\)", r"pick another app name"),
    ("recorded-but-system-gid", spec(name="kvm"), system(groups={"kvm": 104}, apps={"kvm": {"name": "kvm"}}),
     r"group kvm has GID 104, a system group", r"pick another app name"),
    ("group-with-other-gid", spec(2000, 2100), system(groups={"demo": 2300}, apps={"demo": {"name": "demo"}}),
     r"group demo exists with GID 2300, the spec asks for 2100", r"set app.gid = 2300"),
    ("gid-taken", spec(2000, 2100), system(groups={"team": 2100}), r"GID 2100 is already used", r"free GID"),
]


@pytest.mark.parametrize("spec_, system_, message, hint", [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_resolve_refuses(spec_, system_, message, hint):
    with pytest.raises(UsageError, match=message) as info:
        resolve(spec_, system_)
    assert info.value.exit_code == 2
    assert info.value.hint and re.search(hint, info.value.hint)


def test_tombstone_file_round_trip_and_bad_lines():
    text = with_entry(None, OLD)
    text = with_entry(text, OLD_2001)
    text = with_entry(text, OLD)  # a purge run twice: one entry
    got = parse_tombstones(text)
    assert [(p.name, p.uid, p.subid_start) for p in got] == [("older", 2001, 200_100_000), ("old", 2000, 200_000_000)]
    assert all(p.when for p in got)
    assert parse_tombstones("not json") == () and parse_tombstones('[{"name": "x"}, 5]') == ()
