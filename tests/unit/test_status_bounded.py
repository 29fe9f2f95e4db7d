"""`roost status`: an app whose user stalls podman costs its own line, with the reason (issue 17, item 5)."""

from __future__ import annotations

from roost import status
from roost.errors import RoostError
from roost.record import AppRecord
from tests.unit.fakehost import bare_host

RECORD = AppRecord("wiki", 2000, 2000, "/srv/roost/wiki", "wiki-pod.service", ["app"], images={"app": "example/app:1"},
                   publish=["127.0.0.1:8080:80"], domains=[])


def test_a_stalled_user_gives_its_app_an_error_and_a_problem(monkeypatch):
    monkeypatch.setattr(status, "read_record", lambda name, host: RECORD)
    host = bare_host()
    host.files["/run/user/2000/bus"] = ""
    seen: list[float | None] = []

    def stall(argv, user, stdin):
        raise RoostError(f"timed out after {status.TIMEOUT:.0f}s: podman container inspect  (as wiki)")

    host.on("sh", "-c", status.READ_BOTH, answer=stall)
    real_run = host.run

    def run(argv, **kw):
        seen.append(kw.get("timeout"))
        return real_run(argv, **kw)

    host.run = run  # type: ignore[method-assign]
    data = status.collect("wiki", host)
    assert "timed out" in data["error"] and data["containers"][0]["state"] == "not installed"
    assert any("timed out" in p for p in status.problems([data]))
    assert seen and all(t == status.TIMEOUT for t in seen)  # every command as the user is bounded


def test_status_json_keeps_its_keys_and_their_order(monkeypatch):
    import json

    monkeypatch.setattr(status, "read_record", lambda name, host: RECORD)
    monkeypatch.setattr(status.time, "time", lambda: 1796011978.0)
    host = bare_host()
    host.files["/run/user/2000/bus"] = ""
    host.on("sh", "-c", status.READ_BOTH, answer="Id=wiki-pod.service\nLoadState=loaded\nActiveState=active\n"
            "SubState=running\n\nId=app.service\nLoadState=loaded\nActiveState=active\nSubState=running\n\n"
            f"\n{status.SEPARATOR}\n" + json.dumps([{
        "Config": {"Labels": {"io.roost.app": "wiki", "io.roost.container": "app"}}, "ImageName": "example/app:1",
        "ImageDigest": "sha256:abc", "State": {"Status": "running", "Health": {"Status": "healthy"},
                                                "StartedAt": "2026-11-30T04:11:18Z"}}]))
    data = status.collect("wiki", host)
    assert json.dumps(data["containers"]) == (
        '[{"container": "app", "unit": "app.service", "state": "active/running", "health": "healthy", '
        '"image": "example/app:1", "digest": "sha256:abc", "uptime_s": 100}]')
    assert list(data) == ["app", "user", "uid", "home", "user_manager", "pod", "publish", "containers"]


def test_both_reads_in_one_command_pass_each_name_as_one_argument_unglobbed(tmp_path):
    """READ_BOTH run by a real sh, with systemctl and podman stand-ins that print their arguments: the
    units go to `systemctl --user show`, the containers to `podman container inspect`, none globbed."""
    import subprocess

    for tool in ("systemctl", "podman"):
        stub = tmp_path / tool
        stub.write_text(f'#!/bin/sh\nprintf "{tool}"; printf " [%s]" "$@"; echo\n')
        stub.chmod(0o755)
    (tmp_path / "app.service").write_text("")  # a glob would match files in the working directory
    out = subprocess.run(["sh", "-c", status.READ_BOTH, "sh", "Id,ActiveState", "wiki-pod.service *.service",
                          "wiki-app wiki-d*"], capture_output=True, text=True, cwd=tmp_path,
                         env={"PATH": f"{tmp_path}:/usr/bin:/bin"}, check=True).stdout
    show, sep, inspect = out.partition(f"\n{status.SEPARATOR}\n")
    assert sep and show.strip() == "systemctl [--user] [show] [-p] [Id,ActiveState] [--] [wiki-pod.service] [*.service]"
    assert inspect.strip() == "podman [container] [inspect] [--] [wiki-app] [wiki-d*]"
