"""Where everything of one app lives. One folder (the app's home) holds the deployment."""

from __future__ import annotations

import json
import os
import posixpath
from dataclasses import dataclass

from roost.errors import UsageError

REGISTRY_DIR = "/etc/roost/apps"
STATE_ROOT = "/var/lib/roost/apps"  # root-only state of each app (what root decides from)  # one JSON record per applied app: how `status`/`logs` find them
SUBID_COUNT = 65536


def read_record(name: str) -> dict:
    """The record roost keeps of an applied app (/etc/roost/apps/NAME.json)."""
    try:
        with open(posixpath.join(REGISTRY_DIR, f"{name}.json")) as fh:
            return json.load(fh)
    except FileNotFoundError:
        known = ", ".join(list_apps()) or "none"
        raise UsageError(f"no roost app named {name!r} on this host (applied apps: {known})",
                         hint="run `roost status` to list apps, or `roost apply SPEC` first") from None


def list_apps() -> list[str]:
    try:
        return sorted(f[:-5] for f in os.listdir(REGISTRY_DIR) if f.endswith(".json"))
    except FileNotFoundError:
        return []


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

    @property
    def spec_copy(self) -> str:
        """The applied spec, kept with the deployment (for backups, rollback and timers)."""
        return self._h(".config", "roost", "spec.toml")

    @property
    def state_dir(self) -> str:
        return self._h(".local", "state", "roost")

    @property
    def pending_file(self) -> str:
        return posixpath.join(self.state_dir, "pending.json")

    @property
    def lock_file(self) -> str:
        return f"/run/lock/roost-{self.name}.lock"

    @property
    def history_file(self) -> str:
        return self._h("history.jsonl")

    @property
    def backups_dir(self) -> str:
        return self._h("backups")

    @property
    def bashrc(self) -> str:
        return self._h(".bashrc")

    @property
    def root_state_dir(self) -> str:
        """Root-owned, root-only: never inside the app's home."""
        return posixpath.join(STATE_ROOT, self.name)

    @property
    def db_upgrade_marker(self) -> str:
        """The step a `roost db upgrade` reached, so an interrupted one is finished or undone."""
        return posixpath.join(self.root_state_dir, "db-upgrade.json")

    @property
    def registry_file(self) -> str:
        return posixpath.join(REGISTRY_DIR, f"{self.name}.json")

    @property
    def pod_service(self) -> str:
        return f"{self.name}-pod.service"

    @staticmethod
    def container_service(container: str) -> str:
        return f"{container}.service"

    @staticmethod
    def podman_secret(container: str, var: str) -> str:
        return f"roost-{container}-{var}"
