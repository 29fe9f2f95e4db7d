"""Root's record of an app: typed, and checked when read."""

from __future__ import annotations

import pytest

from roost.errors import UsageError
from roost.layout import Layout
from roost.record import dump_record, parse_record

GOOD = ('{"name": "wiki", "uid": 2001, "gid": 2001, "home": "/srv/roost/wiki", "pod_service": "wiki-pod.service", '
        '"containers": ["db", "web"]}')


def test_a_record_reads_with_defaults():
    r = parse_record(GOOD, "record.json")
    assert (r.name, r.uid, r.containers, r.publish, r.subid_start) == ("wiki", 2001, ["db", "web"], [], 0)
    assert (r.domains, r.url, r.network, r.notify) == (None, None, None, None)
    assert r.user.name == "wiki" and r.user.uid == 2001 and r.user.home == "/srv/roost/wiki"
    assert r.layout == Layout("wiki", "/srv/roost/wiki")


# as roost wrote them before the record was a dataclass (an app with [web], [network] and [notify]; one without)
OLD_FULL = """{
  "containers": [
    "admin",
    "db",
    "sidecar",
    "web"
  ],
  "domains": [
    "two.example.org"
  ],
  "gid": 2100,
  "home": "/srv/roost/two",
  "images": {
    "admin": "example.org/notes:1",
    "db": "example.org/postgres:17",
    "sidecar": "example.org/socat:1",
    "web": "example.org/notes:1"
  },
  "name": "two",
  "network": "two",
  "notify": true,
  "pod_service": "two-pod.service",
  "publish": [
    "127.0.0.1:8442:3000",
    "127.0.0.1:8441:3000"
  ],
  "spec_digest": "4b8803df326586266dc5dc5f5bbb25747c1f15e2f90e90e2d2d23ddeed166dd0",
  "spec_path": "/root/two.toml",
  "subid_start": 200000000,
  "tls": "internal",
  "uid": 2100,
  "url": "https://two.example.org/",
  "volumes": [
    "db:/var/lib/postgresql/data"
  ]
}
"""
OLD_PLAIN = """{
  "containers": [
    "database",
    "app"
  ],
  "gid": 2101,
  "home": "/srv/roost/notes",
  "images": {
    "app": "127.0.0.1:5000/roost-lab/notes:latest",
    "database": "127.0.0.1:5000/roost-lab/postgres:17"
  },
  "name": "notes",
  "pod_service": "notes-pod.service",
  "publish": [
    "127.0.0.1:8388:3000"
  ],
  "spec_digest": "97d39595a6aefc277772bbfef23836d0f24a026070d42be72ea37767cb95f424",
  "spec_path": "/root/notes.toml",
  "subid_start": 200100000,
  "uid": 2101,
  "volumes": [
    "database:/var/lib/postgresql/data:Z",
    "uploads:/srv/uploads:Z"
  ]
}
"""


@pytest.mark.parametrize("text", [OLD_FULL, OLD_PLAIN])
def test_a_record_written_by_the_old_code_is_written_again_byte_for_byte(text):
    assert dump_record(parse_record(text, "record.json")) == text


@pytest.mark.parametrize("text, complaint", [
    ("", "is not a roost record"),
    ("[1, 2]", "is not a roost record"),
    (GOOD.replace('"uid": 2001', '"uid": "2001"'), "`uid` is missing or not a int"),
    (GOOD.replace('"uid": 2001', '"uid": true'), "`uid` is missing or not a int"),
    (GOOD.replace('"home": "/srv/roost/wiki", ', ""), "`home` is missing"),
])
def test_a_broken_record_is_refused_with_its_path(text, complaint):
    with pytest.raises(UsageError, match=complaint) as info:
        parse_record(text, "/var/lib/roost/apps/wiki/record.json")
    assert info.value.message.startswith("/var/lib/roost/apps/wiki/record.json") or "record.json" in info.value.message
