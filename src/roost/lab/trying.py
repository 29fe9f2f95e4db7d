"""`roost lab try` of a compose file: import it inside the lab (the report is shown), apply the
spec, wait until the app answers. Pure helpers here; the CLI (cli/lab.py) runs them in order."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import tomlkit

# The lab shares this machine's network, where a rootless pod may not publish below this port
# (net.ipv4.ip_unprivileged_port_start); the lab must not change this machine's sysctls.
UNPRIVILEGED_FROM = 1024
LOW_PORT_OFFSET = 8000  # 80 -> 8080, 443 -> 8443
FIRST_RUN = "first-run"  # beside a compose file: the app README's once-only steps (run after a first apply)


def is_compose(name: str) -> bool:
    return name.endswith((".yml", ".yaml"))


def lift_low_ports(spec_text: str) -> tuple[str, list[str]]:
    """The spec with every published host port below 1024 (the pod's, and each container's on an
    app network) moved to port+8000, and what moved (for the output: the lab only; on a server
    `roost doctor` says how to allow low ports)."""
    doc = tomlkit.parse(spec_text)
    tables = [doc.get("pod"), *(doc.get("containers") or {}).values()]
    moved: list[str] = []
    for table in tables:
        if isinstance(table, dict) and "publish" in table:
            table["publish"] = [_lift(str(entry), moved) for entry in table["publish"]]
    return (tomlkit.dumps(doc) if moved else spec_text), moved


def _lift(entry: str, moved: list[str]) -> str:
    port_part, _, proto = entry.partition("/")
    parts = port_part.rsplit(":", 2)
    host_i = len(parts) - 2 if len(parts) >= 2 else None
    if host_i is None or not parts[host_i].isdigit() or int(parts[host_i]) >= UNPRIVILEGED_FROM:
        return entry
    old = parts[host_i]
    parts[host_i] = str(int(old) + LOW_PORT_OFFSET)
    moved.append(f"host port {old} published as {parts[host_i]}")
    return ":".join(parts) + (f"/{proto}" if proto else "")


def wait_answers(url: str, timeout: float = 180) -> int:
    """Poll url until the app answers with anything but a server error; returns the status (0: never)."""
    deadline = time.monotonic() + timeout
    status = 0
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return int(r.status)
        except urllib.error.HTTPError as e:
            status = e.code
            if e.code < 500:
                return status
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(1)
    return status
