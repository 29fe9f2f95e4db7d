"""Root's record of an applied app (/var/lib/roost/apps/NAME/record.json): what every verb
after `apply` starts from. Typed, and checked when read: it is root's own file, but a
hand edit or a half-written file must fail clearly, not deep inside a verb."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from roost.errors import UsageError
from roost.host.runner import AppUser, Host
from roost.layout import NAME_RE, Layout, legacy_record_path, list_apps, record_path


@dataclass(frozen=True)
class AppRecord:
    name: str
    uid: int
    gid: int
    home: str
    pod_service: str
    containers: list[str]  # in start order
    subid_start: int = 0
    spec_path: str = ""  # where the spec was applied from
    spec_digest: str = ""
    publish: list[str] = field(default_factory=list)  # every host port: pod.publish and each container's publish
    volumes: list[str] = field(default_factory=list)  # every container's volumes (doctor: SELinux labels)
    images: dict[str, str] = field(default_factory=dict)  # container -> image reference
    # optional in the file (None: the key is absent, and stays absent when written)
    # the front door ([web]): other apps' plans refuse these domains, `status` shows the URL
    domains: list[str] | None = None
    url: str | None = None
    tls: str | None = None
    network: str | None = None  # [network]: the app's podman network, removed by down
    notify: bool | None = None  # [notify]: down stops the system unit that watches its spool

    @property
    def user(self) -> AppUser:
        return AppUser(self.name, self.uid, self.home)

    @property
    def layout(self) -> Layout:
        return Layout(self.name, self.home)

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


_TYPES: dict[str, type | tuple[type, ...]] = {
    "name": str, "uid": int, "gid": int, "home": str, "pod_service": str, "containers": list,
}
_KEYS = frozenset(AppRecord.__dataclass_fields__)


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
    # a key this roost does not know (a newer or older one wrote it) is left out, as it was never used
    return AppRecord(**{k: v for k, v in data.items() if k in _KEYS and v is not None})


def dump_record(record: AppRecord) -> str:
    return json.dumps(record.to_json(), indent=2, sort_keys=True) + "\n"


def read_record(name: str, host: Host) -> AppRecord:
    """The record roost keeps of an applied app (root-owned, see Layout.record_file)."""
    if NAME_RE.match(name):
        for path in (record_path(name), legacy_record_path(name)):
            text = host.read_file(path)
            if text is not None:
                return parse_record(text, path)
    known = ", ".join(list_apps(host)) or "none"
    raise UsageError(f"no roost app named {name!r} on this host (applied apps: {known})",
                     hint="run `roost status` to list apps, or `roost apply SPEC` first")
