"""What a backup archive may hold, checked from its bytes as they stream past.

An archive sits in the app's home, so the app user (what a compromised app becomes) could
have written it. Restore reads it only as a stream of bytes handed over by the app user and
accepts exactly what the spec explains: a few directories and regular files with relative,
normalised names, each listed in the manifest with its SHA-256. Links, devices, absolute
names, `..`, duplicates and members the spec does not explain are refused before anything
on the host changes. Pure code: unit tests feed it bytes.
"""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from roost.errors import UsageError

FORMAT = 2  # manifests with a SHA-256 of every member
MANIFEST = "manifest.json"
MAX_MANIFEST = 1 << 20  # bytes: a manifest is a few KiB
BLOCK = 512
SHA256_RE = re.compile(r"[0-9a-f]{64}")
REGULAR, DIRECTORY, GNU_LONGNAME = (b"0", b"\0"), b"5", b"L"
KIND = {b"1": "a hard link", b"2": "a symbolic link", b"3": "a character device", b"4": "a block device",
        b"6": "a FIFO", b"7": "a contiguous file", b"K": "a long link name", b"x": "a pax header",
        b"g": "a global pax header", b"S": "a sparse file", b"V": "a volume label"}


@dataclass(frozen=True)
class Expected:
    """What the spec explains: the members a backup of this app can hold."""

    app: str
    volumes: Mapping[str, str]  # volume key (vol-KEY.tar) -> the host directory the spec gives it
    databases: frozenset[str]  # PostgreSQL containers (db-NAME.sql)
    secrets: frozenset[str]

    def files(self) -> set[str]:
        return ({MANIFEST, "spec.toml"} | {f"vol-{k}.tar" for k in self.volumes}
                | {f"db-{c}.sql" for c in self.databases} | {f"secrets/{s}" for s in self.secrets})

    @staticmethod
    def dirs() -> set[str]:
        return {".", "secrets"}


@dataclass(frozen=True)
class Manifest:
    app: str
    created: str
    volumes: tuple[str, ...]  # keys whose tar is in the archive
    databases: dict[str, str]  # container -> dump member
    secrets: tuple[str, ...]
    files: dict[str, str]  # member -> sha256
    images: dict


def member_name(raw: str) -> str:
    """'./db-x.sql' -> 'db-x.sql', './' -> '.'; refuses absolute names, '..', empty or '.' parts
    and control characters."""
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in raw):
        raise ValueError("has control characters in its name")
    if raw.startswith("/"):
        raise ValueError("is an absolute name")
    name = raw.removeprefix("./")
    name = name.removesuffix("/")
    if name in ("", "."):
        return "."
    if any(part in ("", ".", "..") for part in name.split("/")):
        raise ValueError("is not a normalised relative name (no '..', '.' or '//')")
    return name


def _octal(field_: bytes) -> int:
    if field_[:1] and field_[0] & 0x80:  # GNU base-256, for members over 8 GiB
        return int.from_bytes(field_[1:], "big")
    text = field_.split(b"\0", 1)[0].strip(b" \0")
    return int(text, 8) if text else 0


def _header_ok(block: bytes) -> bool:
    try:
        stored, _ = _octal(block[148:156]), _octal(block[124:136])
    except ValueError:
        return False
    return stored == sum(block[:148]) + 8 * 32 + sum(block[156:])


@dataclass
class Scanner:
    """Feed it the archive (.tar.gz) chunk by chunk; it refuses a bad member as soon as it sees it
    and, at `finish()`, returns the manifest checked against the members' checksums.

    `where` names the archive in errors."""

    where: str
    expected: Expected
    sums: dict[str, str] = field(default_factory=dict)
    _inflate: zlib._Decompress = field(default_factory=lambda: zlib.decompressobj(31))
    _buf: bytearray = field(default_factory=bytearray)
    _member: str | None = None  # regular file being read
    _left: int = 0  # bytes of its data still to come
    _pad: int = 0
    _hash: hashlib._Hash | None = None
    _long: bytearray | None = None  # a GNU long name being read
    _next_name: str | None = None
    _manifest: bytearray | None = None
    _ended: bool = False
    _seen: set[str] = field(default_factory=set)

    def fail(self, what: str, hint: str | None = None) -> UsageError:
        return UsageError(f"{self.where}: {what}: refused, nothing was changed",
                          hint=hint or "a backup holds only regular files roost wrote; take a new one with `roost backup`")

    def feed(self, chunk: bytes) -> None:
        try:
            data = self._inflate.decompress(chunk)
        except zlib.error as e:
            raise self.fail(f"not a gzip archive ({e})") from None
        self._buf += data
        self._parse()

    def _parse(self) -> None:
        buf = self._buf
        pos = 0
        while not self._ended:
            if self._left or self._pad:
                take = min(self._left + self._pad, len(buf) - pos)
                if take == 0:
                    break
                data = bytes(buf[pos:pos + min(take, self._left)])
                self._consume(data)
                self._pad -= take - len(data)
                pos += take
                continue
            if len(buf) - pos < BLOCK:
                break
            block = bytes(buf[pos:pos + BLOCK])
            pos += BLOCK
            self._header(block)
        del buf[:pos]

    def _consume(self, data: bytes) -> None:
        self._left -= len(data)
        if self._long is not None:
            self._long += data
            if len(self._long) > 4096:
                raise self.fail("a member name longer than 4096 bytes")
        elif self._hash is not None:
            self._hash.update(data)
            if self._member == MANIFEST and self._manifest is not None:
                self._manifest += data
        if self._left == 0:
            self._member_done()

    def _member_done(self) -> None:
        if self._long is not None:
            self._next_name = bytes(self._long).split(b"\0", 1)[0].decode("utf-8", "replace")
            self._long = None
        elif self._member is not None and self._hash is not None:
            self.sums[self._member] = self._hash.hexdigest()
            self._member, self._hash = None, None

    def _header(self, block: bytes) -> None:
        if block == bytes(BLOCK):
            self._ended = True  # end of archive; what follows is padding
            return
        if not _header_ok(block):
            raise self.fail("a corrupt tar header (its checksum does not match)")
        kind = block[156:157]
        size = _octal(block[124:136])
        if kind == GNU_LONGNAME:
            self._long, self._left, self._pad = bytearray(), size, -size % BLOCK
            if size == 0:
                self._member_done()
            return
        raw = block[:100].split(b"\0", 1)[0]
        if block[257:265] == b"ustar\x0000" and block[345:500].strip(b"\0"):
            raw = block[345:500].split(b"\0", 1)[0] + b"/" + raw
        shown = self._next_name if self._next_name is not None else raw.decode("utf-8", "replace")
        self._next_name = None
        try:
            name = member_name(shown)
        except ValueError as e:
            raise self.fail(f"member {shown!r} {e}") from None
        if kind not in (*REGULAR, DIRECTORY):
            link = block[157:257].split(b"\0", 1)[0].decode("utf-8", "replace")
            what = KIND.get(kind, f"of unknown type {kind!r}")
            raise self.fail(f"member {name!r} is {what}" + (f" (to {link!r})" if link else ""))
        if name in self._seen:
            raise self.fail(f"member {name!r} appears twice")
        self._seen.add(name)
        allowed = self.expected.dirs() if kind == DIRECTORY else self.expected.files()
        if name not in allowed:
            raise self.fail(f"member {name!r} is not something a backup of this spec holds",
                            hint="a backup holds manifest.json, spec.toml, secrets/, and vol-*.tar and db-*.sql "
                                 "for the spec's volumes and PostgreSQL containers")
        if kind == DIRECTORY:
            if size:
                raise self.fail(f"directory {name!r} has data")
            return
        if name == MANIFEST:
            if size > MAX_MANIFEST:
                raise self.fail(f"{MANIFEST} is {size} bytes (at most {MAX_MANIFEST})")
            self._manifest = bytearray()
        self._member, self._hash, self._left, self._pad = name, hashlib.sha256(), size, -size % BLOCK
        if size == 0:
            self._member_done()

    def finish(self) -> Manifest:
        if not self._inflate.eof:
            raise self.fail("the archive is truncated (the gzip stream does not end)")
        if not self._ended or self._left or self._member is not None:
            raise self.fail("the archive is truncated (no end-of-archive marker)")
        if self._manifest is None:
            raise self.fail(f"there is no {MANIFEST}")
        return check_manifest(bytes(self._manifest), self.expected, self.sums, self.where)


def check_manifest(data: bytes, expected: Expected, sums: dict[str, str], where: str) -> Manifest:
    """The manifest against the spec and the checksums of the members actually in the archive."""

    def fail(what: str) -> UsageError:
        return UsageError(f"{where}: {MANIFEST}: {what}: refused, nothing was changed",
                          hint="take a new backup with `roost backup`")

    try:
        m = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise fail(f"not JSON ({e})") from None
    if not isinstance(m, dict):
        raise fail("not a JSON object")
    if m.get("format") != FORMAT or not isinstance(m.get("files"), dict):
        raise fail(f"format {m.get('format')!r} has no checksums (roost writes format {FORMAT})")
    files: dict = m["files"]
    for name, digest in files.items():
        if not isinstance(name, str) or not isinstance(digest, str) or not SHA256_RE.fullmatch(digest):
            raise fail(f"files.{name}: not a SHA-256 in hex")
        if name == MANIFEST or name not in expected.files():
            raise fail(f"files.{name}: not something a backup of this spec holds")
    data_members = {n for n in sums if n != MANIFEST}
    if missing := sorted(set(files) - data_members):
        raise fail(f"files.{missing[0]}: listed but not in the archive")
    if unlisted := sorted(data_members - set(files)):
        raise fail(f"member {unlisted[0]!r} has no checksum in files")
    for name in sorted(files):
        if files[name] != sums[name]:
            raise fail(f"files.{name}: the checksum does not match the member (sha256 {sums[name][:16]}..., "
                       f"manifest says {files[name][:16]}...)")
    if m.get("app") != expected.app:
        raise fail(f"app: {str(m.get('app'))[:64]!r} is not this app ({expected.app})")
    volumes = m.get("volumes", {})
    databases = m.get("databases", {})
    if not isinstance(volumes, dict) or not isinstance(databases, dict):
        raise fail("volumes and databases must be objects")
    for key, host_dir in volumes.items():
        if key not in expected.volumes:
            raise fail(f"volumes.{key}: not a volume of this spec")
        if host_dir != expected.volumes[key]:
            raise fail(f"volumes.{key}: {str(host_dir)[:200]!r} is not where the spec keeps it ({expected.volumes[key]})")
    dumps = {}
    for container, info in databases.items():
        wanted = f"db-{container}.sql"
        if container not in expected.databases:
            raise fail(f"databases.{container}: not a PostgreSQL container of this spec")
        if not isinstance(info, dict) or info.get("file") != wanted:
            raise fail(f"databases.{container}.file: must be {wanted!r}")
        if wanted not in files:
            raise fail(f"databases.{container}: {wanted} is not in the archive")
        dumps[container] = wanted
    images = m.get("images", {})
    return Manifest(
        app=str(m.get("app", "")), created=str(m.get("created", "")),
        volumes=tuple(sorted(k for k in volumes if f"vol-{k}.tar" in files)),
        databases=dumps,
        secrets=tuple(sorted(n.removeprefix("secrets/") for n in files if n.startswith("secrets/"))),
        files=dict(files), images=images if isinstance(images, dict) else {},
    )
