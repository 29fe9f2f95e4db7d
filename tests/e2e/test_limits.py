"""Limits, user, tmpfs and restart on a real host: the rendered units load (Quadlet accepts them, no Memory= key
that Podman 5.4 would skip), systemd shows every limit, the app's ceiling sits on its user's slice in a root-owned
drop-in, doctor says whether this host enforces container limits, and purge removes the ceiling."""

from __future__ import annotations

import pytest
from tests.e2e.conftest import as_app, put, roost, wait_http

pytestmark = pytest.mark.lab

UID = 2310
SPEC = f"""
[app]
name = "lim"
uid = {UID}
limits = {{ memory = "1g", pids = 4096 }}

[pod]
publish = ["127.0.0.1:8395:3000"]

[containers.web]
image = "127.0.0.1:5000/roost-lab/notes:latest"
command = ["python3", "-m", "http.server", "3000", "--directory", "/tmp"]
health = {{ http = "http://127.0.0.1:3000/" }}
user = "1000:1000"
tmpfs = ["/scratch:size=16m"]
restart = "on-failure"
limits = {{ memory = "256m", cpus = 0.5, pids = 128 }}
"""
DROPIN = f"/etc/systemd/system/user-{UID}.slice.d/50-roost-limits.conf"


def show(lab, unit: str, *props: str, user: bool) -> dict[str, str]:
    argv = ["systemctl", *(["--user"] if user else []), "show", unit, *(f"-p{p}" for p in props)]
    out = as_app(lab, *argv, uid=UID, name="lim").stdout if user else lab.exec(argv).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def test_limits_load_show_and_go_with_the_app(lab):
    put(lab, "/var/tmp/specs/lim.toml", SPEC)
    try:
        roost(lab, "apply", "/var/tmp/specs/lim.toml", check=False)  # the units are checked whatever apply says
        gen = as_app(lab, "/usr/libexec/podman/quadlet", "-dryrun", "-user", uid=UID, name="lim")
        assert "---web.service---" in gen.stdout and "unsupported" not in gen.stderr
        web = show(lab, "web.service", "MemoryMax", "CPUQuotaPerSecUSec", "TasksMax", "Restart", user=True)
        assert web == {"MemoryMax": str(256 * 1024 ** 2), "CPUQuotaPerSecUSec": "500ms", "TasksMax": "128",
                       "Restart": "on-failure"}
        ceiling = show(lab, f"user-{UID}.slice", "MemoryMax", "TasksMax", user=False)
        assert ceiling == {"MemoryMax": str(1024 ** 3), "TasksMax": "4096"}
        st = lab.exec(["stat", "-c", "%U %a", DROPIN]).stdout.split()
        assert st == ["root", "644"]
        status = as_app(lab, "systemctl", "--user", "status", "--no-pager", "-n", "20", "web.service",
                        uid=UID, name="lim", check=False).stdout
        print(status)
        wait_http("http://127.0.0.1:8395/")
        assert as_app(lab, "podman", "exec", "lim-web", "id", "-u", uid=UID, name="lim").stdout.strip() == "1000"
        mounts = as_app(lab, "podman", "exec", "lim-web", "cat", "/proc/mounts", uid=UID, name="lim").stdout
        assert any(line.split()[1:3] == ["/scratch", "tmpfs"] for line in mounts.splitlines())
        doctor = roost(lab, "doctor", "lim", check=False).stdout
        line = next(x for x in doctor.splitlines() if "limits lim" in x)
        assert "enforced" in line  # "enforced: ..." or "NOT enforced on this host for web: ..."
        print(f"doctor on the lab: {line.strip()}")
    finally:
        roost(lab, "down", "lim", "--purge", "--yes", check=False)
    assert lab.exec(["test", "-e", DROPIN], check=False).returncode != 0
