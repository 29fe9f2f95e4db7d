"""Root's record of an app: typed, and checked when read."""

from __future__ import annotations

import pytest

from roost.errors import UsageError
from roost.record import parse_record

GOOD = ('{"name": "wiki", "uid": 2001, "gid": 2001, "home": "/srv/roost/wiki", "pod_service": "wiki-pod.service", '
        '"containers": ["db", "web"]}')


def test_a_record_reads_with_defaults():
    r = parse_record(GOOD, "record.json")
    assert (r["name"], r["uid"], r["containers"], r["publish"], r["subid_start"]) == ("wiki", 2001, ["db", "web"], [], 0)


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
