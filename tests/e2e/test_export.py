"""roost export kube, end to end: the exported Pod runs under `podman kube play` as a fresh user,
serves and keeps notes, reports its database healthy; `podman kube down` removes it. And the
reverse check: what `podman kube generate` writes for the running pod, compared with ours."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from tests.e2e.conftest import http, put, wait_http

pytestmark = pytest.mark.lab

USER, UID = "kubenotes", 3450  # a UID no other module of the suite uses
HOME = f"/home/{USER}"
PORT = 8391
URL = f"http://127.0.0.1:{PORT}"
SPEC = "/var/tmp/specs/export-notes.toml"
PASSWORD = "pw$(HOME)x'y"  # arrives byte-exact through the Secret: podman does not expand $(VAR)


def as_user(lab, *argv: str, check: bool = True, user: str = USER, uid: int = UID, timeout: float = 600):
    env = [f"XDG_RUNTIME_DIR=/run/user/{uid}", f"DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/{uid}/bus"]
    return lab.exec(["runuser", "-u", user, "--", "env", *env, *argv], check=check, timeout=timeout)


def spec_text(lab, home: str | None = f"{HOME}/notes", port: int = PORT) -> str:
    text = (Path(__file__).resolve().parents[2] / "examples" / "lab-notes.toml").read_text()
    if home:
        text = text.replace("uid = 2100", f'uid = 2100\nhome = "{home}"')
    return (text.replace("127.0.0.1:8388:3000", f"127.0.0.1:{port}:3000")
            .replace("127.0.0.1:5000/roost-lab/postgres:17", lab.postgres_image)
            .replace("127.0.0.1:5000/roost-lab/notes:latest", lab.notes_image))


def secret_from_comment(exported: str) -> str:
    """The Secret the export leaves as a comment, filled in as its comment says (the user's part)."""
    lines, inside = [], False
    for line in exported.splitlines():
        if line == "# apiVersion: v1":
            inside = True
        if inside:
            if not line.startswith("# ") or not line[2:].strip():
                break
            lines.append(line[2:])
    doc = yaml.safe_load("\n".join(lines))
    assert doc["kind"] == "Secret"
    doc["stringData"] = {k: v.replace("${secrets.db_password}", PASSWORD) for k, v in doc["stringData"].items()}
    return yaml.safe_dump(doc)


def differences(ours: dict, theirs: dict, path: str = "") -> list[str]:
    """Every field that differs between two manifests, one line each (lists of named things by name)."""
    out: list[str] = []
    if isinstance(ours, dict) and isinstance(theirs, dict):
        for key in sorted(set(ours) | set(theirs)):
            if key not in theirs:
                out.append(f"{path}.{key}: only in ours: {json.dumps(ours[key])[:100]}")
            elif key not in ours:
                out.append(f"{path}.{key}: only in podman's: {json.dumps(theirs[key])[:100]}")
            else:
                out += differences(ours[key], theirs[key], f"{path}.{key}")
    elif isinstance(ours, list) and isinstance(theirs, list) and all(isinstance(x, dict) and "name" in x for x in ours + theirs):
        a, b = {x["name"]: x for x in ours}, {x["name"]: x for x in theirs}
        for name in sorted(set(a) | set(b)):
            if name not in b:
                out.append(f"{path}[{name}]: only in ours")
            elif name not in a:
                out.append(f"{path}[{name}]: only in podman's")
            else:
                out += differences(a[name], b[name], f"{path}[{name}]")
    elif ours != theirs:
        out.append(f"{path}: ours {json.dumps(ours)[:80]} / podman's {json.dumps(theirs)[:80]}")
    return out


def comparable(pod: dict) -> dict:
    """A Pod with what only names differ made alike: containers without the POD- prefix podman adds,
    volumes named by their host path."""
    pod = json.loads(json.dumps(pod))
    prefix = pod["metadata"]["name"] + "-"
    paths = {v["name"]: v.get("hostPath", {}).get("path", v["name"]) for v in pod["spec"].get("volumes", [])}
    for v in pod["spec"].get("volumes", []):
        v["name"] = paths[v["name"]]
    for c in pod["spec"]["containers"]:
        c["name"] = c["name"].removeprefix(prefix)
        for m in c.get("volumeMounts", []):
            m["name"] = paths.get(m["name"], m["name"])
    return pod


def test_exported_pod_runs_under_podman_kube_play(lab):
    lab.add_user(USER, UID)
    put(lab, SPEC, spec_text(lab))
    lab.exec(["chmod", "0644", SPEC])
    # the export is pure: the app's own user runs it, no root
    r = as_user(lab, "roost", "export", "kube", SPEC, "-o", HOME)
    assert "note:" in r.stderr and "requires" in r.stderr
    exported = lab.exec(["cat", f"{HOME}/notes.podman.yaml"]).stdout
    assert "kind: Pod" in exported and PASSWORD not in exported
    (lab.rootfs / HOME.lstrip("/") / "secret.yaml").write_text(secret_from_comment(exported))
    lab.exec(["chown", f"{USER}:{USER}", f"{HOME}/secret.yaml"])
    try:
        as_user(lab, "podman", "kube", "play", "--network", "pasta", f"{HOME}/secret.yaml")
        started = time.monotonic()
        # images are in the lab registry: a minute is plenty (a gated container waiting on a sibling never returns)
        play = as_user(lab, "podman", "kube", "play", "--network", "pasta", f"{HOME}/notes.podman.yaml", timeout=240)
        print(f"\npodman kube play returned after {time.monotonic() - started:.1f}s:\n{play.stdout}{play.stderr}")
        wait_http(f"{URL}/status", timeout=180)
        assert lab.http("POST", f"{URL}/", {"text": "a note through podman kube play"}).status == 303
        assert "a note through podman kube play" in wait_http(f"{URL}/")

        def health(ctr: str) -> str:
            return as_user(lab, "podman", "inspect", "--format", "{{.State.Health.Status}}", ctr).stdout.strip()

        lab.wait(lambda: health("notes-database") == "healthy", "notes-database healthy", timeout=120)
        lab.wait(lambda: health("notes-app") == "healthy", "notes-app healthy", timeout=120)
        # the hardened settings roost uses arrived: the capability set and no-new-privileges
        caps = json.loads(as_user(lab, "podman", "inspect", "--format", "{{json .EffectiveCaps}}", "notes-app").stdout)
        assert sorted(c.removeprefix("CAP_") for c in caps) == ["CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL",
                                                                "NET_BIND_SERVICE", "SETGID", "SETUID"]
        secopt = as_user(lab, "podman", "inspect", "--format", "{{json .HostConfig.SecurityOpt}}", "notes-app").stdout
        assert "no-new-privileges" in secopt
        env = as_user(lab, "podman", "exec", "notes-database", "printenv", "POSTGRES_PASSWORD").stdout
        assert env == PASSWORD + "\n"
        inspect = as_user(lab, "podman", "inspect", "notes-database").stdout
        # kube play resolves secretKeyRef into plain env (roost's own units use podman secrets of type env)
        print(f"\nsecret value {'VISIBLE' if PASSWORD in inspect else 'not visible'} in podman inspect under kube play")
        labels = json.loads(as_user(lab, "podman", "inspect", "--format", "{{json .Config.Labels}}", "notes-app").stdout)
        assert labels.get("io.containers.autoupdate") == "registry"
        # data lands where the spec says, in the user's home
        assert lab.exec(["test", "-d", f"{HOME}/notes/database/pgdata"], check=False).returncode == 0

        # the reverse check: podman's own YAML for the running pod, compared with ours
        generated = as_user(lab, "podman", "kube", "generate", "notes").stdout
        theirs = next(d for d in yaml.safe_load_all(generated) if d and d["kind"] == "Pod")
        ours = next(d for d in yaml.safe_load_all(exported) if d and d["kind"] == "Pod")
        diff = differences(comparable(ours), comparable(theirs))
        print("\nours vs `podman kube generate` (explained in docs/kubernetes.md):\n  " + "\n  ".join(diff))
        # podman names the containers as it runs them (POD-NAME); the same images, the same published port
        assert {c["name"] for c in theirs["spec"]["containers"]} == {"notes-database", "notes-app"}
        assert {c["image"] for c in theirs["spec"]["containers"]} == {c["image"] for c in ours["spec"]["containers"]}
        published = [p for c in theirs["spec"]["containers"] for p in c.get("ports", []) if p.get("hostPort")]
        assert [(p["hostPort"], p["containerPort"], p.get("hostIP")) for p in published] == [(PORT, 3000, "127.0.0.1")]
        assert all("livenessProbe" in c for c in ours["spec"]["containers"])
    finally:
        down = as_user(lab, "podman", "kube", "down", f"{HOME}/notes.podman.yaml", check=False)
        as_user(lab, "podman", "kube", "down", f"{HOME}/secret.yaml", check=False)
    assert down.returncode == 0, down.stderr
    assert as_user(lab, "podman", "pod", "ps", "-q").stdout.strip() == ""
    assert as_user(lab, "podman", "ps", "-aq").stdout.strip() == ""
    assert http("GET", f"{URL}/")[0] == 0  # the port is closed
    assert as_user(lab, "podman", "secret", "ls", "--noheading").stdout.strip() == ""
    # the data stays in the home, as roost down keeps it
    assert lab.exec(["test", "-d", f"{HOME}/notes/database/pgdata"], check=False).returncode == 0


def test_with_secrets_moves_a_roost_app_to_kube_play(lab):
    """An app roost runs, exported with its secrets, runs under `podman kube play` on the same data."""
    spec, port, url = "/var/tmp/specs/export-roost.toml", 8392, "http://127.0.0.1:8392"
    put(lab, spec, spec_text(lab, home=None, port=port))
    lab.exec(["roost", "apply", spec], timeout=600)
    wait_http(f"{url}/status", timeout=180)
    assert lab.http("POST", f"{url}/", {"text": "kept across the move"}).status == 303
    lab.exec(["install", "-d", "-m", "0700", "/root/export"])
    r = lab.exec(["roost", "export", "kube", "--with-secrets", "-o", "/root/export", spec])
    assert "mode 0600" in r.stderr
    path = "/root/export/notes.podman.yaml"
    assert lab.exec(["stat", "-c", "%a", path]).stdout.strip() == "600"
    exported = lab.exec(["cat", path]).stdout
    secret = lab.exec(["cat", "/srv/roost/notes/.config/roost/secrets/db_password"]).stdout.strip()
    secret_doc = next(d for d in yaml.safe_load_all(exported) if d and d["kind"] == "Secret")
    assert secret_doc["stringData"]["database.POSTGRES_PASSWORD"] == secret
    lab.exec(["roost", "down", "notes"])  # the data stays in the home
    lab.exec(["install", "-o", "notes", "-g", "notes", "-m", "0600", path, "/srv/roost/notes/notes.podman.yaml"])
    try:
        as_user(lab, "podman", "kube", "play", "--network", "pasta", "/srv/roost/notes/notes.podman.yaml",
                user="notes", uid=2100, timeout=240)
        assert "kept across the move" in wait_http(f"{url}/", timeout=180)  # same data, same password
    finally:
        as_user(lab, "podman", "kube", "down", "/srv/roost/notes/notes.podman.yaml", user="notes", uid=2100,
                check=False)
        lab.exec(["roost", "down", "notes", "--purge", "--yes"], check=False)  # the modules after start clean


@pytest.fixture(scope="module", autouse=True)
def _forget_the_kube_user(lab):
    """The plain user the first test makes goes when the module ends: later modules share the lab."""
    yield
    lab.exec(["loginctl", "disable-linger", USER], check=False)
    lab.exec(["loginctl", "terminate-user", USER], check=False)
    lab.exec(["pkill", "-KILL", "-u", USER], check=False)
    lab.exec(["userdel", "-r", USER], check=False)
