"""Root's record of an applied app (/var/lib/roost/apps/NAME/record.json): what every verb
after `apply` starts from. Typed, and checked when read: it is root's own file, but a
hand edit or a half-written file must fail clearly, not deep inside a verb."""

from __future__ import annotations

import json
from typing import NotRequired, TypedDict

from roost.errors import UsageError


class AppRecord(TypedDict):
    name: str
    uid: int
    gid: int
    subid_start: int
    home: str
    spec_path: str  # where the spec was applied from
    spec_digest: str
    publish: list[str]  # every host port: the spec's pod.publish and each container's publish
    volumes: list[str]  # every container's volumes (doctor: SELinux labels)
    containers: list[str]  # in start order
    images: dict[str, str]  # container -> image reference
    pod_service: str
    # the front door ([web]): other apps' plans refuse these domains, `status` shows the URL
    domains: NotRequired[list[str]]
    url: NotRequired[str]
    tls: NotRequired[str]
    network: NotRequired[str]  # [network]: the app's podman network, removed by down
    notify: NotRequired[bool]  # [notify]: down stops the system unit that watches its spool


_TYPES: dict[str, type | tuple[type, ...]] = {
    "name": str, "uid": int, "gid": int, "home": str, "pod_service": str, "containers": list,
}


def parse_record(text: str, where: str) -> AppRecord:
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise UsageError(f"{where} is not a roost record (JSON object)", hint="run `roost apply SPEC` for the app again")
    for key, kind in _TYPES.items():
        if not isinstance(data.get(key), kind) or isinstance(data.get(key), bool):
            raise UsageError(f"{where}: `{key}` is missing or not a {getattr(kind, '__name__', kind)}",
                             hint="run `roost apply SPEC` for the app again")
    data.setdefault("subid_start", 0)
    data.setdefault("spec_path", "")
    data.setdefault("spec_digest", "")
    data.setdefault("publish", [])
    data.setdefault("volumes", [])
    data.setdefault("images", {})
    return data  # type: ignore[return-value]  # checked above


def dump_record(record: AppRecord) -> str:
    return json.dumps(record, indent=2, sort_keys=True) + "\n"
