"""Where everything of one app lives.

One folder, the app's home, holds the deployment: units, env files, secrets, volumes, and
copies of the applied spec and history for the app's user to read. What root decides from
lives where only root writes (/var/lib/roost/apps/NAME): the record, the applied spec,
the history that `rollback` trusts, the pending restarts. See docs/security.md.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import roost.units as units

if TYPE_CHECKING:
    from roost.host.runner import Host

NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}\Z")  # as spec.model's: no import of pydantic here

ROOST_STATE_DIR = "/var/lib/roost"  # root's own: apps/, spool/, recover/, recovered/, purged.json
APPS_DIR = "/var/lib/roost/apps"  # one root-owned folder per applied app: how every verb finds them
LEGACY_REGISTRY_DIR = "/etc/roost/apps"  # before 0.2: NAME.json records (moved on the next apply)
LOCK_DIR = "/run/roost"  # root's own: no O_CREAT in a world-writable directory
CONVERGED_CACHE = "/var/cache/roost/converged"  # root's own: what converged runs read (roost/converged.py)
GLOBAL_LOCK = "/run/roost/apply.lock"  # serialises applies: UID and subordinate range allocation
SUBID_COUNT = 65536
TOMBSTONE_FILE = "/var/lib/roost/purged.json"  # UIDs, GIDs and ranges of purged apps (see tombstone.py)


def next_container(container: str) -> str:
    """The new release of a start-first container while an update checks it (NAME-next.service)."""
    return f"{container}-next"


def record_path(name: str) -> str:
    """Where the record of app NAME lives: its presence is what makes NAME an applied app."""
    return posixpath.join(APPS_DIR, name, "record.json")


def legacy_record_path(name: str) -> str:
    return posixpath.join(LEGACY_REGISTRY_DIR, f"{name}.json")


def list_apps(host: Host) -> list[str]:
    names = {n for n, _ in host.list_dir(APPS_DIR) or []
             if (st := host.stat(record_path(n))) is not None and st.is_file}
    names |= {f[:-5] for f, _ in host.list_dir(LEGACY_REGISTRY_DIR) or [] if f.endswith(".json")}
    return sorted(n for n in names if NAME_RE.match(n))


@dataclass(frozen=True)
class Layout:
    name: str
    home: str

    def _h(self, *parts: str) -> str:
        return posixpath.join(self.home, *parts)

    @property
    def unit_dir(self) -> str:
        return self._h(".config", "containers", "systemd")

    @property
    def pod_file(self) -> str:
        return posixpath.join(self.unit_dir, f"{self.name}.pod")

    def container_file(self, container: str) -> str:
        return posixpath.join(self.unit_dir, f"{container}.container")

    @property
    def env_dir(self) -> str:
        return self._h("env")

    def env_file(self, container: str) -> str:
        return posixpath.join(self.env_dir, f"{container}.env")

    @property
    def secrets_dir(self) -> str:
        return self._h(".config", "roost", "secrets")

    def secret_file(self, name: str) -> str:
        return posixpath.join(self.secrets_dir, name)

    @property
    def user_unit_dir(self) -> str:
        return self._h(".config", "systemd", "user")

    def user_unit(self, name: str) -> str:
        return posixpath.join(self.user_unit_dir, name)

    # -- root's own (0755 dir; record, spec and history readable by the app's timers) ----------
    @property
    def root_dir(self) -> str:
        return posixpath.join(APPS_DIR, self.name)

    @property
    def record_file(self) -> str:
        return record_path(self.name)

    @property
    def applied_spec(self) -> str:
        """The applied spec: what update, backup, restore and db upgrade work from."""
        return posixpath.join(self.root_dir, "spec.toml")

    @property
    def history_file(self) -> str:
        """The history root writes and `rollback` trusts."""
        return posixpath.join(self.root_dir, "history.jsonl")

    @property
    def pending_file(self) -> str:
        return posixpath.join(self.root_dir, "pending.json")

    @property
    def secret_digests_file(self) -> str:
        return posixpath.join(self.root_dir, "secret-digests.json")

    @property
    def legacy_record(self) -> str:
        return legacy_record_path(self.name)

    @property
    def lock_file(self) -> str:
        return posixpath.join(LOCK_DIR, f"{self.name}.lock")

    # -- copies in the home, for the app's user to read; no root decision reads them ------------
    @property
    def spec_copy(self) -> str:
        return self._h(".config", "roost", "spec.toml")

    @property
    def history_copy(self) -> str:
        return self._h("history.jsonl")

    @property
    def state_dir(self) -> str:
        return self._h(".local", "state", "roost")

    @property
    def door_request(self) -> str:
        """Where the app's own nightly update asks the front door for its standby release (frontdoor/ask.py)."""
        return self._h(".local", "state", "roost", "door-request")

    @property
    def backups_dir(self) -> str:
        return self._h("backups")

    @property
    def bashrc(self) -> str:
        return self._h(".bashrc")

    @property
    def db_upgrade_marker(self) -> str:
        """The step a `roost db upgrade` reached, so an interrupted one is finished or undone."""
        return posixpath.join(self.root_dir, "db-upgrade.json")

    @property
    def pod_service(self) -> str:
        return units.pod(self.name)

    @staticmethod
    def container_service(container: str) -> str:
        return units.container(container)

    @staticmethod
    def podman_secret(container: str, var: str) -> str:
        return f"roost-{container}-{var}"
