"""The backup archive checker (roost.archive): pure functions fed bytes, table-driven.

Every archive here is built with Python's tarfile the way an attacker with the app user's
rights could build one; the checker must refuse each bad one with a message that names the
archive and the member, and accept the genuine one however the bytes are chunked."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile

import pytest

from roost.archive import Expected, Scanner, check_manifest, member_name
from roost.errors import UsageError

EXPECTED = Expected("notes", {"uploads": "/srv/roost/notes/uploads"}, frozenset({"database"}),
                    frozenset({"db_password"}))
DATA = {"db-database.sql": b"CREATE TABLE notes (text text);\n", "vol-uploads.tar": b"x" * 1500,
        "spec.toml": b"[app]\nname = \"notes\"\n", "secrets/db_password": b"s3cret\n"}


def manifest(**changes) -> dict:
    m = {"format": 2, "app": "notes", "created": "20261130T040000Z",
         "volumes": {"uploads": "/srv/roost/notes/uploads"},
         "databases": {"database": {"user": "notes", "db": "notes", "file": "db-database.sql"}},
         "files": {n: hashlib.sha256(b).hexdigest() for n, b in DATA.items()}}
    m.update(changes)
    return m


def build(members: list[tarfile.TarInfo | tuple[str, bytes]], fmt: int = tarfile.GNU_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=fmt) as tar:
        for m in members:
            if isinstance(m, tarfile.TarInfo):
                tar.addfile(m)
            else:
                info = tarfile.TarInfo(m[0])
                info.size = len(m[1])
                tar.addfile(info, io.BytesIO(m[1]))
    return buf.getvalue()


def dir_(name: str) -> tarfile.TarInfo:
    t = tarfile.TarInfo(name)
    t.type = tarfile.DIRTYPE
    return t


def special(name: str, kind: bytes, link: str = "") -> tarfile.TarInfo:
    t = tarfile.TarInfo(name)
    t.type, t.linkname = kind, link
    return t


def genuine(m: dict | None = None, extra: list | None = None, data: dict | None = None) -> list:
    data = DATA if data is None else data
    return [dir_("."), dir_("./secrets"), *[(f"./{n}", b) for n, b in data.items()],
            ("./manifest.json", json.dumps(m or manifest()).encode()), *(extra or [])]


def scan(blob: bytes, chunk: int = 100_000):
    s = Scanner("/srv/roost/notes/backups/notes-X.tar.gz", EXPECTED)
    for i in range(0, len(blob), chunk):
        s.feed(blob[i:i + chunk])
    return s.finish()


@pytest.mark.parametrize("chunk", [1, 511, 512, 4096, 1 << 20])
def test_genuine_archive_is_accepted_whatever_the_chunking(chunk):
    m = scan(build(genuine()), chunk)
    assert m.volumes == ("uploads",) and m.databases == {"database": "db-database.sql"}
    assert m.secrets == ("db_password",) and set(m.files) == set(DATA)


def test_pax_and_long_names_are_read_as_what_they_name():
    # a ustar archive with prefix field and a GNU long name both resolve to allowed names
    m = scan(build(genuine(), fmt=tarfile.USTAR_FORMAT))
    assert m.app == "notes"


REFUSED = [
    ("absolute member", genuine(extra=[("/etc/shadow", b"root::0:")]), "member '/etc/shadow' is an absolute name"),
    ("dot-dot member", genuine(extra=[("./../../etc/cron.d/x", b"* * * * * root sh")]), "not a normalised"),
    ("symlink member", [dir_("."), special("./vol-uploads.tar", tarfile.SYMTYPE, "/etc/shadow")],
     "member 'vol-uploads.tar' is a symbolic link (to '/etc/shadow')"),
    ("hard link member", [dir_("."), special("./spec.toml", tarfile.LNKTYPE, "/etc/shadow")], "is a hard link"),
    ("fifo member", [dir_("."), special("./db-database.sql", tarfile.FIFOTYPE)], "is a FIFO"),
    ("device member", [dir_("."), special("./db-database.sql", tarfile.CHRTYPE)], "is a character device"),
    ("member the spec does not explain", genuine(extra=[("./vol-etc.tar", b"x")]),
     "member 'vol-etc.tar' is not something a backup of this spec holds"),
    ("secret the spec does not have", genuine(extra=[("./secrets/other", b"x")]), "'secrets/other' is not something"),
    ("directory the spec does not explain", genuine(extra=[dir_("./etc")]), "member 'etc' is not something"),
    ("duplicate member", genuine(extra=[("./spec.toml", b"again")]), "member 'spec.toml' appears twice"),
    ("control characters in a name", genuine(extra=[("./spec.toml\x1b[2J", b"")]), "control characters"),
    ("no manifest", [dir_("."), *[(f"./{n}", b) for n, b in DATA.items() if "/" not in n]], "there is no manifest.json"),
    ("checksum mismatch", genuine(data={**DATA, "db-database.sql": b"DROP TABLE notes;\n"}),
     "files.db-database.sql: the checksum does not match"),
    ("old manifest without checksums", genuine(manifest(format=1, files=None)), "has no checksums"),
    ("manifest of another app", genuine(manifest(app="other")), "app: 'other' is not this app"),
    ("volume sent to /etc", genuine(manifest(volumes={"uploads": "/etc"})),
     "volumes.uploads: '/etc' is not where the spec keeps it (/srv/roost/notes/uploads)"),
    ("volume the spec does not have", genuine(manifest(volumes={"../../etc": "/etc"})),
     "volumes.../../etc: not a volume of this spec"),
    ("absolute name in files", genuine(manifest(files={**manifest()["files"], "/etc/shadow": "0" * 64})),
     "files./etc/shadow: not something a backup of this spec holds"),
    ("files entry that is not a digest", genuine(manifest(files={**manifest()["files"], "spec.toml": "abc"})),
     "files.spec.toml: not a SHA-256"),
    ("member without a checksum", genuine(manifest(files={k: v for k, v in manifest()["files"].items()
                                                          if k != "spec.toml"})),
     "member 'spec.toml' has no checksum"),
    ("database of another container", genuine(manifest(databases={"app": {"file": "db-app.sql"}})),
     "databases.app: not a PostgreSQL container"),
    ("database dump under another name", genuine(manifest(databases={"database": {"file": "spec.toml"}})),
     "databases.database.file: must be 'db-database.sql'"),
]


@pytest.mark.parametrize("blob,expect", [(build(m), e) for _, m, e in REFUSED], ids=[c for c, _, _ in REFUSED])
def test_hostile_archives_are_refused_with_the_archive_and_member_named(blob, expect):
    with pytest.raises(UsageError) as e:
        scan(blob)
    assert expect in e.value.message
    assert e.value.message.startswith("/srv/roost/notes/backups/notes-X.tar.gz: ")
    assert "nothing was changed" in e.value.message


@pytest.mark.parametrize("blob,expect", [
    (b"not gzip at all", "not a gzip archive"),
    (build(genuine())[:-40], "truncated"),
    (gzip.compress(b"\x01" * 512), "corrupt tar header"),
    (gzip.compress(b""), "truncated (no end-of-archive marker)"),
], ids=["not gzip", "cut short", "garbage header", "empty"])
def test_broken_archives_are_refused(blob, expect):
    with pytest.raises(UsageError, match=expect.replace("(", r"\(").replace(")", r"\)")):
        scan(blob)


def test_refusal_comes_at_the_bad_member_not_at_the_end():
    """A link is refused as soon as its header passes: the members after it are never read."""
    blob = build([dir_("."), special("./vol-uploads.tar", tarfile.SYMTYPE, "/etc/shadow"), ("./spec.toml", b"x" * 10**6)])
    s = Scanner("a", EXPECTED)
    with pytest.raises(UsageError, match="symbolic link"):
        for i in range(0, len(blob), 512):
            s.feed(blob[i:i + 512])
    assert "spec.toml" not in s.sums


@pytest.mark.parametrize("raw,name", [
    (".", "."), ("./", "."), ("./manifest.json", "manifest.json"), ("secrets/", "secrets"),
    ("./secrets/db_password", "secrets/db_password"),
])
def test_member_names_normalised(raw, name):
    assert member_name(raw) == name


@pytest.mark.parametrize("raw", ["/etc/shadow", "../x", "./a/../b", "a//b", "a/./b", "x\ny", "\x7f"])
def test_member_names_refused(raw):
    with pytest.raises(ValueError):
        member_name(raw)


def test_manifest_must_be_a_json_object():
    for data in (b"[1]", b"{nope", "é".encode("latin-1")):
        with pytest.raises(UsageError, match=r"manifest\.json: not"):
            check_manifest(data, EXPECTED, {}, "a")
