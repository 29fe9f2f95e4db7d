"""What actions need while they run: the host, where the app lives, who it runs as."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from roost.host.runner import AppUser, Host
from roost.layout import Layout
from roost.render.desired import Identity


@dataclass
class Context:
    host: Host
    layout: Layout
    identity: Identity
    user: AppUser
    ui: Any  # a rich Console (status spinners), or None in tests
    health_timeout: float
    secrets: dict[str, str] = field(default_factory=dict)
    secret_digests: dict[str, str] = field(default_factory=dict)
    seeds: dict[str, str] = field(default_factory=dict)  # values a secret takes instead of a random one (recover)

    def save_secret_digests(self) -> None:
        self.host.write_file(self.layout.secret_digests_file, json.dumps(self.secret_digests, sort_keys=True) + "\n",
                             mode=0o600, uid=0, gid=0)
