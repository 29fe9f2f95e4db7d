"""Parsers for what the host says: pure functions from a command's output (or a file) to typed facts.

host/facts.py runs the commands; these are tested from recorded outputs in tests/unit/facts/, no root needed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class PasswdEntry:
    name: str
    uid: int
    gid: int
    home: str
    shell: str


@dataclass(frozen=True)
class SubRange:
    owner: str
    start: int
    count: int

    @property
    def end(self) -> int:  # exclusive
        return self.start + self.count

    def overlaps(self, start: int, count: int) -> bool:
        return self.start < start + count and start < self.end


@dataclass(frozen=True)
class UnitState:
    name: str
    load: str  # loaded, not-found, ...
    active: str  # active, inactive, failed, activating, ...
    sub: str
    need_reload: bool
    file_state: str = ""  # enabled, disabled, static, ... (what `systemctl is-enabled` prints)


@dataclass(frozen=True)
class ImageInfo:
    ref: str  # repository:tag as podman lists it
    digest: str
    id: str


@dataclass(frozen=True)
class Listener:
    proto: str
    address: str
    port: int


def parse_passwd(text: str) -> dict[str, PasswdEntry]:
    out = {}
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) >= 7 and parts[2].isdigit() and parts[3].isdigit():
            out[parts[0]] = PasswdEntry(parts[0], int(parts[2]), int(parts[3]), parts[5], parts[6])
    return out


def parse_group(text: str) -> dict[str, int]:
    out = {}
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) >= 3 and parts[2].isdigit():
            out[parts[0]] = int(parts[2])
    return out


def parse_subid(text: str) -> list[SubRange]:
    """/etc/subuid and /etc/subgid: owner:start:count per line."""
    out = []
    for line in text.splitlines():
        parts = line.strip().split(":")
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            out.append(SubRange(parts[0], int(parts[1]), int(parts[2])))
    return out


def parse_podman_version(text: str) -> tuple[int, ...] | None:
    """`podman --version` -> (5, 4, 2)."""
    m = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if not m:
        return None
    return tuple(int(g) for g in m.groups(default="0"))


SHOW_PROPS = ("Id", "LoadState", "ActiveState", "SubState", "NeedDaemonReload", "UnitFileState")


def parse_systemctl_show(text: str) -> dict[str, UnitState]:
    """`systemctl show -p ... A B C`: blocks of KEY=VALUE separated by blank lines."""
    out = {}
    for block in re.split(r"\n\s*\n", text.strip()):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if "Id" not in props:
            continue
        out[props["Id"]] = UnitState(
            name=props["Id"],
            load=props.get("LoadState", ""),
            active=props.get("ActiveState", ""),
            sub=props.get("SubState", ""),
            need_reload=props.get("NeedDaemonReload") == "yes",
            file_state=props.get("UnitFileState", ""),
        )
    return out


def parse_images(text: str) -> list[ImageInfo]:
    """`podman images --format json`."""
    out = []
    for item in json.loads(text or "[]"):
        digest = item.get("Digest", "")
        for name in item.get("Names") or []:
            out.append(ImageInfo(name, digest, item.get("Id", "")))
    return out


def parse_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def parse_ss(text: str) -> list[Listener]:
    """`ss -Hltnu`: Netid State Recv-Q Send-Q Local-Address:Port Peer..."""
    out = []
    for line in text.splitlines():
        cols = line.split()
        if len(cols) < 5:
            continue
        addr, _, port = cols[4].rpartition(":")
        if port.isdigit():
            address = addr.split("%")[0].strip("[]")  # 127.0.0.53%lo, [fe80::1]%eth0
            out.append(Listener(cols[0], address, int(port)))
    return out


def parse_containers(text: str) -> list[dict]:
    """`podman ps -a --format json`: keep what status needs."""
    out = []
    for item in json.loads(text or "[]"):
        out.append({
            "name": (item.get("Names") or [""])[0],
            "image": item.get("Image", ""),
            "image_id": item.get("ImageID", ""),
            "state": item.get("State", ""),
            "status": item.get("Status", ""),
            "started": item.get("StartedAt", 0),
            "labels": item.get("Labels") or {},
        })
    return out


def normalize_image(ref: str) -> str:
    """What podman lists for a reference: docker.io/library/ for short names, :latest when untagged."""
    name = ref.split("@")[0]
    first = name.split("/")[0]
    if "/" not in name:
        name = f"docker.io/library/{name}"
    elif "." not in first and ":" not in first and first != "localhost":
        name = f"docker.io/{name}"
    if ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    return name
