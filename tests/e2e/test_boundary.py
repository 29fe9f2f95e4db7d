"""Issue 9: the privilege boundary, tried as an attacker on the real lab host.

Each case does the attacker's step as the app user (or inside its container, or as another local user), runs the
roost verb as root, then checks that (a) nothing outside the home changed: a digest of /etc, /root, /usr/local and
/var/lib (tests/e2e/conftest.py: host_digest) before and after, where only what roost legitimately keeps for the app
may differ; (b) the verb refused with a located error or did the safe thing; (c) the app still answers.
Hostile specs must be refused with exit 2 and create nothing (no user, group, directory or ID range).
Backups, restore and `db upgrade` are covered by their own adversarial suite.

At the end: `boundary: paths tried: N, held: M` (a failing test counts as a path not held).
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pytest
from tests.e2e.conftest import (
    app_argv,
    count_failed_test,
    digest_changes,
    host_digest,
    http,
    notes_spec,
    print_paths,
    put,
    wait_http,
)

pytestmark = pytest.mark.lab

APP, UID, PORT = "bound", 3300, 8395
BASE = "/srv/boundary"  # the app's home is one level down, so "a parent of another app's home" is a real case
HOME = f"{BASE}/{APP}"
SPEC = f"/var/tmp/specs/{APP}.toml"
URL = f"http://127.0.0.1:{PORT}"
SHARED = "/srv/bxshared"  # a host path the admin shares with the app (app.allow_host_paths), owned by the app user
MARKER, MARK = "/root/boundary-marker", "boundary-root-only-5c1e9a"  # a root-only file: must never reach the app
TOKEN = "bx-plain-env-value-77d1"  # an inline env value (the spec is the app's: 0600 in its 0750 home)
ENV_FILE, FILE_TOKEN = "/var/tmp/specs/bound-app.env", "bx-env-file-value-3f2c"  # env_file values: never shown
NOTE = "a note kept across the boundary cases"
STATE = f"/var/lib/roost/apps/{APP}"  # root-owned truth of the app
# What roost legitimately writes for the app outside its home, on any verb: its root-owned state. Nothing else.
OWN = (f"{STATE}/**",)
# What the lab's own systemd may touch while a case runs (timer stamps, the clock file): not roost's doing.
NOISE = ("/var/lib/systemd/timers/**", "/var/lib/systemd/timesync/clock", "/var/lib/systemd/random-seed")

RESULTS: list[tuple[str, bool]] = []
_spec = {"title": 0, "api_key": False}
FIRST_APPLY: list[str] = []  # the output of the app's first apply (env files shown as created)


# --- running things ------------------------------------------------------------------------------------------------

def run(lab, argv: Sequence[str], *, user: str | None = None, uid: int = UID, input: str | None = None,
        check: bool = False, timeout: float = 300, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """argv in the lab as root, or as an app user (`user`); output decoded leniently (bytes an attacker chose)."""
    inner = app_argv(user, uid, argv) if user else list(argv)
    full = lab.machine.argv(inner, env={"HOME": "/root", **(env or {})})
    cp = subprocess.run(full, input=input, capture_output=True, encoding="utf-8", errors="replace",
                        timeout=timeout, check=False)
    if check and cp.returncode != 0:
        pytest.fail(f"{' '.join(argv)}{f' as {user}' if user else ''} -> {cp.returncode}\n{cp.stdout}{cp.stderr}",
                    pytrace=False)
    return cp


def as_app(lab, *argv: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return run(lab, argv, user=APP, check=check, input=input)


def sh_app(lab, script: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """A little shell script as the app user, in its home (the attacker's side)."""
    return as_app(lab, "sh", "-c", f'cd "{HOME}" && {script}', check=check)


def roost(lab, *args: str, timeout: float = 300, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run(lab, ["roost", *args], timeout=timeout, env=env)


def spec_text(title: int = 0, api_key: bool = False, token: str | None = TOKEN, env_file: bool = True) -> str:
    env = f'PORT = "3000", NOTES_TITLE = "bx {title}"' + (f', BX_TOKEN = "{token}"' if token else "")
    if api_key:
        env += ', API_KEY = "${secrets.api_key}"'
    text = (notes_spec(APP, UID, PORT, app=f'home = "{HOME}"\nallow_host_paths = ["{SHARED}"]')
            .replace('PORT = "3000"', env)
            .replace('requires = ["database"]\n',
                     'requires = ["database"]\n' + ('env_file = "bound-app.env"\n' if env_file else ""))
            .replace('volumes = ["uploads:/srv/uploads:Z"]',
                     f'volumes = ["uploads:/srv/uploads:Z", "{SHARED}/data:/srv/shared"]'))
    if api_key:
        text = text.replace("db_password = { generate = 32 }", "db_password = { generate = 32 }\napi_key = { generate = 24 }")
    return text


def apply_changed(lab, **kw: object) -> subprocess.CompletedProcess[str]:
    """Apply the app's spec with a changed env value, so apply rewrites files in the home and restarts the app."""
    _spec["title"] += 1
    _spec.update(kw)
    put(lab, SPEC, spec_text(_spec["title"], _spec["api_key"]))
    return roost(lab, "apply", SPEC)


def mounts(lab, container: str = "app") -> str:
    return as_app(lab, "podman", "inspect", "--format", "{{range .Mounts}}{{.Source}}>{{.Destination}} {{end}}",
                  f"{APP}-{container}").stdout


def podman_secret_values(lab) -> str:
    names = as_app(lab, "podman", "secret", "ls", "--format", "{{.Name}}").stdout.split()
    return "".join(as_app(lab, "podman", "secret", "inspect", "--showsecret", "--format", "{{.SecretData}}", n,
                          check=False).stdout for n in names)


# --- bookkeeping ---------------------------------------------------------------------------------------------------

def no_traceback(cp: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in cp.stdout + cp.stderr, f"a traceback, not an error:\n{cp.stderr[-2000:]}"


def refused_or_safe(cp: subprocess.CompletedProcess[str], *where: str) -> None:
    """The verb either did the safe thing (exit 0) or refused with an error that names where the problem is."""
    no_traceback(cp)
    if cp.returncode != 0:
        text = cp.stdout + cp.stderr
        assert cp.returncode in (1, 2), f"exit {cp.returncode}: {text[-1500:]}"
        assert any(w in text for w in where), f"the error does not say where ({where}):\n{text[-1500:]}"


@contextmanager
def held(lab, path: str, *, allowed: Sequence[str] = OWN, digest: bool = True, app_up: bool = True) -> Iterator[None]:
    """One attacker path: the body runs the verb and its checks; then nothing outside the home may have changed
    (except `allowed`) and the app must still answer. Recorded as held only if all of that passed."""
    before = host_digest(lab) if digest else None
    ok = False
    try:
        yield
        if before is not None:
            changes = digest_changes(before, host_digest(lab), (*allowed, *NOISE))
            assert not changes, "changed outside the home:\n  " + "\n  ".join(changes[:40])
        if app_up:
            assert NOTE in wait_http(f"{URL}/", timeout=90)
        ok = True
    finally:
        RESULTS.append((path, ok))


@pytest.fixture(scope="module", autouse=True)
def summary() -> Iterator[None]:
    yield
    print_paths("boundary", RESULTS)


@pytest.fixture(autouse=True)
def failed_test_counts(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that fails before or outside its `held` block still counts as a path tried and not held."""
    yield from count_failed_test(request, RESULTS)


# --- the app the attacker lives in ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bound(lab):
    put(lab, MARKER, MARK + "\n")
    run(lab, ["chmod", "0600", MARKER], check=True)
    run(lab, ["mkdir", "-p", f"{SHARED}/data"], check=True)
    run(lab, ["chown", "-R", f"{UID}:{UID}", SHARED], check=True)  # the admin hands the share to the app's UID
    run(lab, ["useradd", "--create-home", "--shell", "/bin/bash", "mallory"])  # another local user
    put(lab, ENV_FILE, f"BX_FILE_TOKEN={FILE_TOKEN}\n")
    put(lab, SPEC, spec_text())
    cp = roost(lab, "apply", SPEC)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    FIRST_APPLY.append(cp.stdout + cp.stderr)
    wait_http(f"{URL}/status")
    http("POST", f"{URL}/", {"text": NOTE})
    assert NOTE in wait_http(f"{URL}/")
    yield lab
    roost(lab, "down", APP, "--purge", "--yes")
    run(lab, ["userdel", "-r", "mallory"])
    run(lab, ["rm", "-rf", SHARED, BASE, MARKER])


# --- hostile specs: exit 2, nothing created ------------------------------------------------------------------------

NOTES_IMAGE = "127.0.0.1:5000/roost-lab/notes:latest"


def mini(name: str, *, home: str | None = None, app_extra: str = "", containers: dict[str, str] | None = None) -> str:
    text = f'[app]\nname = "{name}"\n' + (f'home = "{home}"\n' if home else "") + app_extra
    for cname, extra in (containers or {"web": ""}).items():
        text += f'\n[containers.{cname}]\nimage = "{NOTES_IMAGE}"\n{extra}'
    return text


SYSTEM_HOMES = ["/", "/etc", "/usr", "/var", "/home", "/root", "/boot", "/srv", "/srv/roost", "/var/lib", "/opt",
                "/usr/local", "/etc/hx", "/usr/local/hx", "/boot/hx", "/root/hx", "/proc/hx", "/sys/hx", "/dev/hx",
                "/run/hx", "/var/lib/roost/hx", "/srv/hx:data"]
SYSTEM_GROUPS = ["shadow", "disk", "adm", "systemd-journal", "kvm", "docker"]
UNIT_NAMES = ["hx-pod", "dbus", "podman-auto-update", "roost-backup", "roost-restart"]


def refused(lab, path: str, name: str, text: str, *keys: str, new_home: str | None = None) -> None:
    """The spec is refused with exit 2 and an error naming one of `keys`; nothing is created."""
    spec = f"/var/tmp/specs/hostile-{name}.toml"
    put(lab, spec, text)
    try:
        _refused(lab, path, name, spec, keys, new_home)
    finally:
        if run(lab, ["test", "-e", f"/var/lib/roost/apps/{name}/record.json"]).returncode == 0:
            roost(lab, "down", name, "--purge", "--yes")  # it was applied: take it away again, so no case
            # after this one inherits its user or range


def _refused(lab, path: str, name: str, spec: str, keys: Sequence[str], new_home: str | None) -> None:
    with held(lab, path, allowed=(), app_up=False):
        passwd_before = run(lab, ["getent", "passwd", name]).stdout
        group_before = run(lab, ["getent", "group", name]).stdout
        cp = roost(lab, "apply", spec)
        no_traceback(cp)
        assert cp.returncode == 2, f"exit {cp.returncode}, not 2:\n{cp.stdout[-1500:]}{cp.stderr[-1500:]}"
        assert any(k in cp.stderr for k in keys), f"the error names none of {keys}:\n{cp.stderr[-1500:]}"
        assert run(lab, ["getent", "passwd", name]).stdout == passwd_before, "a user was created"
        assert run(lab, ["getent", "group", name]).stdout == group_before, "a group was created or changed"
        subids = run(lab, ["cat", "/etc/subuid", "/etc/subgid"]).stdout
        assert not [line for line in subids.splitlines() if line.startswith(f"{name}:")], "a range was added"
        if new_home:
            assert run(lab, ["test", "-e", new_home]).returncode == 1, f"{new_home} was created"


@pytest.mark.parametrize("home", SYSTEM_HOMES)
def test_hostile_home_system_directory(lab, home):
    exists = run(lab, ["test", "-e", home]).returncode == 0
    refused(lab, f"spec: app.home = {home}", "hx", mini("hx", home=home), "home", new_home=None if exists else home)


@pytest.mark.parametrize("group", SYSTEM_GROUPS)
def test_hostile_name_of_a_system_group(lab, group):
    if run(lab, ["getent", "group", group]).returncode != 0:
        run(lab, ["groupadd", "--system", group], check=True)  # e.g. docker: a group a real host has
    try:
        refused(lab, f"spec: app.name = {group} (existing group)", group, mini(group), "app.name", f"group {group}",
                new_home=f"/srv/roost/{group}")
    finally:
        if group == "docker":
            run(lab, ["groupdel", "docker"])


def test_hostile_name_of_a_group_roost_did_not_create(lab):
    run(lab, ["groupadd", "--gid", "4100", "bxgroup"], check=True)
    try:
        refused(lab, "spec: app.name = existing group with GID >= 2000", "bxgroup", mini("bxgroup"), "app.name",
                "group bxgroup",
                new_home="/srv/roost/bxgroup")
    finally:
        run(lab, ["groupdel", "bxgroup"])


@pytest.mark.parametrize("cname", UNIT_NAMES)
def test_hostile_container_name_equal_to_a_unit(lab, cname):
    refused(lab, f"spec: container named {cname}", "hx", mini("hx", containers={cname: ""}), cname,
            new_home="/srv/roost/hx")


def test_hostile_host_path_through_a_link(lab):
    run(lab, ["mkdir", "-p", "/opt/hx-host"], check=True)
    run(lab, ["ln", "-sfn", "/etc", "/opt/hx-host/data"], check=True)
    try:
        text = mini("hx", app_extra='allow_host_paths = ["/opt/hx-host"]\n',
                    containers={"web": 'volumes = ["/opt/hx-host/data:/data:Z"]\n'})
        refused(lab, "spec: volume host path /opt/hx-host/data -> /etc", "hx", text, "/opt/hx-host/data",
                new_home="/srv/roost/hx")
    finally:
        run(lab, ["rm", "-rf", "/opt/hx-host"])


def test_hostile_allowed_host_path_is_a_link(lab):
    run(lab, ["ln", "-sfn", "/etc", "/opt/hx-alias"], check=True)
    try:
        text = mini("hx", app_extra='allow_host_paths = ["/opt/hx-alias"]\n',
                    containers={"web": 'volumes = ["/opt/hx-alias/ssl:/data"]\n'})
        refused(lab, "spec: allow_host_paths entry /opt/hx-alias -> /etc", "hx", text, "/opt/hx-alias",
                new_home="/srv/roost/hx")
    finally:
        run(lab, ["rm", "-f", "/opt/hx-alias"])


def test_hostile_home_through_a_link(lab):
    run(lab, ["ln", "-sfn", "/etc", "/srv/hx-link"], check=True)
    try:
        refused(lab, "spec: app.home through a link (/srv/hx-link -> /etc)", "hx", mini("hx", home="/srv/hx-link/hx"),
                "home")
        assert run(lab, ["test", "-e", "/etc/hx"]).returncode == 1
    finally:
        run(lab, ["rm", "-f", "/srv/hx-link"])


def test_hostile_home_owned_by_someone_else(lab):
    run(lab, ["mkdir", "-p", "/srv/hx-taken"], check=True)
    run(lab, ["touch", "/srv/hx-taken/keep"], check=True)
    run(lab, ["chown", "-R", "nobody:nogroup", "/srv/hx-taken"], check=True)
    try:
        refused(lab, "spec: app.home = an existing directory of another user", "hx", mini("hx", home="/srv/hx-taken"),
                "home")
        assert run(lab, ["stat", "-c", "%U", "/srv/hx-taken"]).stdout.strip() == "nobody"
    finally:
        run(lab, ["rm", "-rf", "/srv/hx-taken"])


def test_hostile_home_prepared_by_another_local_user(bound):
    lab = bound
    # an admin points app.home into a user's folder; that user made it first, with a link inside
    run(lab, ["mkdir", "/home/mallory/hx"], user="mallory", uid=0, check=True)
    run(lab, ["ln", "-s", "/etc", "/home/mallory/hx/.config"], user="mallory", uid=0, check=True)
    try:
        refused(lab, "spec: app.home prepared by another local user (mallory, with a link inside)", "hx",
                mini("hx", home="/home/mallory/hx"), "home")
        assert run(lab, ["stat", "-c", "%U", "/home/mallory/hx"]).stdout.strip() == "mallory"
    finally:
        run(lab, ["rm", "-rf", "/home/mallory/hx"])


@pytest.mark.parametrize("where", ["same", "inside", "around"])
def test_hostile_home_of_another_app(bound, where):
    home = {"same": HOME, "inside": f"{HOME}/inner", "around": BASE}[where]
    refused(bound, f"spec: app.home {where} another app's home ({home})", "hx", mini("hx", home=home), "home",
            new_home=f"{HOME}/inner" if where == "inside" else None)
    assert run(bound, ["stat", "-c", "%U %a", HOME]).stdout.strip() == f"{APP} 750"


# --- the app user attacks through its home -------------------------------------------------------------------------

def test_doctor_fix_with_a_newline_in_a_file_name(bound):
    lab = bound
    for d in ("env", ".config/roost/secrets"):
        as_app(lab, "touch", f"{HOME}/{d}/x\netc")
        as_app(lab, "chmod", "0644", f"{HOME}/{d}/x\netc")
    try:
        with held(lab, "doctor --fix: file named 'x\\netc' in ~/env and the secrets dir"):
            cp = roost(lab, "doctor", APP, "--fix", "--yes")
            no_traceback(cp)
            assert run(lab, ["stat", "-c", "%U:%G %a", "/etc"]).stdout.strip() == "root:root 755"
    finally:
        for d in ("env", ".config/roost/secrets"):
            as_app(lab, "rm", "-f", f"{HOME}/{d}/x\netc", check=False)


def test_doctor_fix_with_the_env_dir_linked_to_etc(bound):
    lab = bound
    sh_app(lab, "mv env env.bx && ln -s /etc env && chmod 0644 env.bx/app.env")
    try:
        with held(lab, "doctor --fix: ~/env -> /etc"):
            cp = roost(lab, "doctor", APP, "--fix", "--yes")
            no_traceback(cp)
    finally:
        sh_app(lab, "rm -f env && mv env.bx env && chmod 0600 env/*", check=False)


def test_history_linked_to_a_root_only_file(bound):
    lab = bound
    sh_app(lab, f"(mv history.jsonl history.jsonl.bx || true) && ln -s {MARKER} history.jsonl")
    try:
        with held(lab, "history: ~/history.jsonl -> a root-only file (rollback appends, history reads)"):
            outs = [roost(lab, "rollback", APP, "--to", "1"), roost(lab, "history", APP)]
            for cp in outs:
                refused_or_safe(cp, "history")
                assert MARK not in cp.stdout + cp.stderr, "root copied a root-only file into its output"
            leaked = as_app(lab, "grep", "-rsl", MARK, HOME, check=False)  # exit 2: some volume files unreadable
            assert not leaked.stdout.strip(), f"the root-only content is readable by the app in: {leaked.stdout[:300]}"
    finally:
        sh_app(lab, "rm -f history.jsonl && (mv history.jsonl.bx history.jsonl || true)", check=False)


def test_secret_file_linked_to_a_root_only_file(bound):
    lab = bound
    sh_app(lab, f"cd .config/roost/secrets && mv db_password db_password.bx && ln -s {MARKER} db_password")
    try:
        with held(lab, "secrets: ~/.config/roost/secrets/db_password -> a root-only file, then apply"):
            cp = apply_changed(lab)
            refused_or_safe(cp, "db_password")
            assert MARK not in cp.stdout + cp.stderr
            assert MARK not in podman_secret_values(lab), "the root-only file became a podman secret"
    finally:
        sh_app(lab, "cd .config/roost/secrets && rm -f db_password && mv db_password.bx db_password", check=False)


def test_new_secret_file_planted_as_a_link_into_etc(bound):
    lab = bound
    sh_app(lab, "ln -s /etc/bx-planted-secret .config/roost/secrets/api_key")
    try:
        with held(lab, "secrets: a new secret's file planted as a link into /etc, then apply"):
            cp = apply_changed(lab, api_key=True)
            refused_or_safe(cp, "api_key")
            assert run(lab, ["test", "-e", "/etc/bx-planted-secret"]).returncode == 1
    finally:
        sh_app(lab, "rm -f .config/roost/secrets/api_key", check=False)
        roost(lab, "apply", SPEC)  # the secret can now be made


def test_env_dir_linked_to_etc_then_apply(bound):
    lab = bound
    sh_app(lab, "mv env env.bx && ln -s /etc env")
    try:
        with held(lab, "apply: ~/env -> /etc"):
            refused_or_safe(apply_changed(lab), "env")
            assert run(lab, ["test", "-e", "/etc/app.env"]).returncode == 1
    finally:
        sh_app(lab, "rm -f env && mv env.bx env", check=False)


def test_unit_dirs_linked_to_system_units_then_apply(bound):
    lab = bound
    sh_app(lab, "mv .config/containers/systemd .config/containers/systemd.bx && "
                "ln -s /etc/systemd/system .config/containers/systemd && "
                "mv .config/systemd/user .config/systemd/user.bx && ln -s /etc/systemd/system .config/systemd/user")
    try:
        with held(lab, "apply: Quadlet and user unit dirs -> /etc/systemd/system"):
            refused_or_safe(apply_changed(lab), "systemd")
    finally:
        sh_app(lab, "rm -f .config/containers/systemd .config/systemd/user && "
                    "mv .config/containers/systemd.bx .config/containers/systemd && "
                    "mv .config/systemd/user.bx .config/systemd/user", check=False)


def test_home_files_linked_to_system_files_then_apply(bound):
    lab = bound
    sh_app(lab, "rm -f .bashrc && ln -s /etc/bash.bashrc .bashrc && "
                "mv .config/roost/spec.toml .config/roost/spec.toml.bx && ln -s /etc/hostname .config/roost/spec.toml")
    try:
        with held(lab, "apply: ~/.bashrc -> /etc/bash.bashrc, ~/.config/roost/spec.toml -> /etc/hostname"):
            refused_or_safe(apply_changed(lab), ".bashrc", "spec.toml")
    finally:
        sh_app(lab, "rm -f .bashrc .config/roost/spec.toml && mv .config/roost/spec.toml.bx .config/roost/spec.toml",
               check=False)
        roost(lab, "apply", SPEC)


def test_tampered_spec_copy_is_not_trusted(bound):
    lab = bound
    evil = (spec_text(_spec["title"], _spec["api_key"])
            .replace(f'allow_host_paths = ["{SHARED}"]', f'allow_host_paths = ["{SHARED}", "/etc"]')
            .replace('"uploads:/srv/uploads:Z"', '"uploads:/srv/uploads:Z", "/etc:/hostetc"')
            .replace('PGDATA = "/var/lib/postgresql/data/pgdata"', 'PGDATA = "/var/lib/postgresql/data/../../../../etc"'))
    sh_app(lab, "cp .config/roost/spec.toml .config/roost/spec.toml.bx")
    as_app(lab, "sh", "-c", 'cat > "$1"', "sh", f"{HOME}/.config/roost/spec.toml", input=evil)
    try:
        with held(lab, "update/rollback/doctor with a tampered ~/.config/roost/spec.toml (allow /etc, mount it)"):
            for args in (["update", APP], ["rollback", APP, "--to", "1"], ["doctor", APP]):
                no_traceback(roost(lab, *args))
            assert "/hostetc" not in mounts(lab), "the tampered copy decided a mount"
            units = as_app(lab, "cat", f"{HOME}/.config/containers/systemd/app.container").stdout
            assert "/hostetc" not in units
    finally:
        sh_app(lab, "mv .config/roost/spec.toml.bx .config/roost/spec.toml", check=False)


def test_home_files_that_never_end_or_block(bound):
    lab = bound
    sh_app(lab, "mv .config/roost/spec.toml .config/roost/spec.toml.bx && ln -s /dev/zero .config/roost/spec.toml && "
                "(mv history.jsonl history.jsonl.bx || true) && mkfifo history.jsonl && "
                "mv env/app.env env/app.env.bx && mkfifo env/app.env")
    try:
        with held(lab, "verbs with ~/.config/roost/spec.toml -> /dev/zero, FIFOs as history and env file"):
            for args in (["status"], ["history", APP], ["update", APP, "--dry-run"], ["plan", SPEC], ["doctor", APP]):
                try:
                    cp = roost(lab, *args, timeout=90)
                except subprocess.TimeoutExpired:
                    pytest.fail(f"roost {' '.join(args)} hung on a FIFO or /dev/zero", pytrace=False)
                no_traceback(cp)
    finally:
        sh_app(lab, "rm -f .config/roost/spec.toml history.jsonl env/app.env && "
                    "mv .config/roost/spec.toml.bx .config/roost/spec.toml && mv env/app.env.bx env/app.env && "
                    "(mv history.jsonl.bx history.jsonl || true)", check=False)


def test_env_file_linked_to_a_root_only_file_then_plan(bound):
    lab = bound
    sh_app(lab, f"mv env/app.env env/app.env.bx && ln -s {MARKER} env/app.env")
    try:
        with held(lab, "plan: ~/env/app.env -> a root-only file (diff must not show it)"):
            put(lab, SPEC, spec_text(_spec["title"] + 100, _spec["api_key"]))
            cp = roost(lab, "plan", SPEC)
            refused_or_safe(cp, "app.env")
            assert MARK not in cp.stdout + cp.stderr
    finally:
        put(lab, SPEC, spec_text(_spec["title"], _spec["api_key"]))
        sh_app(lab, "rm -f env/app.env && mv env/app.env.bx env/app.env", check=False)


def test_first_apply_masks_env_values(bound):
    with held(bound, "apply: env_file values masked in what the first apply shows", digest=False):
        assert "app.env" in FIRST_APPLY[0], "the first apply does not show the env file: the check proves nothing"
        where = [line for line in FIRST_APPLY[0].splitlines() if FILE_TOKEN in line]
        assert not where, f"the first apply printed an env_file value: {where}"


def test_plan_masks_env_values(bound):
    lab = bound
    with held(lab, "plan: env_file values masked when changed and when the env_file is removed"):
        new_value = "bx-env-file-new-value-8e1"
        put(lab, ENV_FILE, f"BX_FILE_TOKEN={new_value}\n")
        for text in (spec_text(_spec["title"], _spec["api_key"]), spec_text(_spec["title"], _spec["api_key"],
                                                                            env_file=False)):
            put(lab, SPEC, text)
            cp = roost(lab, "plan", SPEC)
            assert cp.returncode == 0, cp.stderr
            assert "no changes" not in cp.stdout, "the plan shows no change: the check would prove nothing"
            shown = [line for line in cp.stdout.splitlines() if FILE_TOKEN in line or new_value in line]
            assert not shown, f"the plan printed env_file values: {shown}"
    put(lab, ENV_FILE, f"BX_FILE_TOKEN={FILE_TOKEN}\n")
    put(lab, SPEC, spec_text(_spec["title"], _spec["api_key"]))


def test_lock_links_in_world_writable_run_lock(bound):
    lab = bound
    for lock in (f"/run/lock/roost-{APP}.lock", "/run/lock/roost-hx2.lock", "/run/lock/roost.lock"):
        run(lab, ["ln", "-s", f"/etc/bx-lock-{lock.rsplit('/', 1)[1]}", lock], user=APP)
    try:
        with held(lab, "locks: links planted in /run/lock; /run/roost is root's"):
            cp = roost(lab, "apply", SPEC)
            refused_or_safe(cp, "lock")
            assert run(lab, ["stat", "-c", "%U %a", "/run/roost"]).stdout.strip() == "root 755"
            assert run(lab, ["touch", "/run/roost/bx"], user=APP).returncode != 0
            writable = run(lab, ["find", "/run/roost", "-perm", "-o+w"]).stdout.strip()
            assert not writable, f"world-writable in /run/roost: {writable}"
    finally:
        run(lab, ["find", "/run/lock", "-maxdepth", "1", "-type", "l", "-name", "roost*", "-delete"])


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_pg_version_planted_by_the_container(bound, kind):
    lab = bound
    plant = "mkfifo PG_VERSION" if kind == "fifo" else "ln -s /dev/zero PG_VERSION"
    # as the container's postgres user: a subordinate UID that owns the data directory
    as_app(lab, "podman", "exec", "-u", "postgres", f"{APP}-database", "sh", "-c",
           f'cd "$PGDATA" && mv PG_VERSION PG_VERSION.bx && {plant}')
    try:
        with held(lab, f"plan/apply: PG_VERSION in the database volume is a {kind} (set by the container)"):
            for verb in (lambda: roost(lab, "plan", SPEC, timeout=90), lambda: apply_changed(lab)):
                try:
                    cp = verb()
                except subprocess.TimeoutExpired:
                    pytest.fail(f"roost hung on PG_VERSION as a {kind}", pytrace=False)
                refused_or_safe(cp, "PG_VERSION")
    finally:
        as_app(lab, "podman", "exec", "-u", "postgres", f"{APP}-database", "sh", "-c",
               'cd "$PGDATA" && rm -f PG_VERSION && mv PG_VERSION.bx PG_VERSION', check=False)


def test_volume_dir_swapped_for_a_link_after_apply(bound):
    lab = bound
    sh_app(lab, "mv uploads uploads.bx && ln -s /etc uploads")
    try:
        with held(lab, "apply: the uploads volume swapped for a link to /etc after deploy"):
            refused_or_safe(apply_changed(lab), "uploads")
            assert "/etc>" not in mounts(lab), "/etc is mounted into the container"
    finally:
        sh_app(lab, "rm -f uploads && mv uploads.bx uploads", check=False)


def test_shared_host_path_swapped_for_a_link(bound):
    lab = bound
    run(lab, ["sh", "-c", f"mv {SHARED}/data {SHARED}/data.bx && ln -s /etc {SHARED}/data"], user=APP, check=True)
    try:
        with held(lab, f"apply: allowed host path {SHARED}/data swapped for a link to /etc by the app user"):
            cp = apply_changed(lab)
            refused_or_safe(cp, f"{SHARED}/data")
            assert cp.returncode != 0, "the link was accepted as a volume"
            assert "/etc>" not in mounts(lab), "/etc is mounted into the container"
    finally:
        run(lab, ["sh", "-c", f"rm -f {SHARED}/data && mv {SHARED}/data.bx {SHARED}/data"], user=APP)
        roost(lab, "apply", SPEC)


def test_logs_with_escape_codes_and_bytes_that_are_not_utf8(bound):
    lab = bound
    as_app(lab, "podman", "exec", f"{APP}-app", "sh", "-c",
           r"printf 'bx-log \377\376 caf\351 \033]0;bx-title\007 \033[2J [bold red]bx-markup[/]\n' > /proc/1/fd/1")
    time.sleep(1)
    with held(lab, "logs: container output with escape codes, Rich markup and LATIN1 bytes"):
        full = lab.machine.argv(["roost", "logs", APP, "app", "-n", "200"], env={"HOME": "/root"})
        cp = subprocess.run(full, capture_output=True, timeout=120, check=False)
        assert cp.returncode == 0 and b"Traceback" not in cp.stderr, cp.stderr[-1500:]
        assert b"bx-log" in cp.stdout or b"blob data" in cp.stdout, "the line did not come through at all"
        assert b"\x1b]0;bx-title" not in cp.stdout and b"\x1b[2J" not in cp.stdout, "escape codes reached the terminal"


def test_shell_gets_its_own_pty(bound):
    lab = bound
    # root's terminal is the pty of `script`; the app's shell must get a new one (no TIOCSTI into root's terminal)
    cmd = f"readlink /proc/self/fd/0 > /run/bx-outer-tty; exec roost shell {APP}"
    cp = run(lab, ["script", "-qec", cmd, "/dev/null"], input="readlink /proc/self/fd/0 > ~/bx-inner-tty\nexit\n",
             timeout=60)
    with held(lab, "shell: `roost shell` runs the app's shell on a new pty", digest=False):
        outer = run(lab, ["cat", "/run/bx-outer-tty"]).stdout.strip()
        inner = as_app(lab, "cat", f"{HOME}/bx-inner-tty", check=False).stdout.strip()
        assert outer.startswith("/dev/pts/"), f"no outer pty: {outer!r} ({cp.stdout[-300:]})"
        assert inner.startswith("/dev/"), f"the shell did not run: {cp.stdout[-500:]}{cp.stderr[-500:]}"
        assert inner != outer, f"the app's shell reads root's terminal {outer}"
    as_app(lab, "rm", "-f", f"{HOME}/bx-inner-tty", check=False)


def history_rows(out: str) -> list[tuple[int, str]]:
    rows = []
    for line in out.splitlines():
        m = re.match(r"^\W*?(\d+)\s*[│┃|]", line)
        if m:
            rows.append((int(m.group(1)), line))
    return rows


def test_history_numbers_whole_history_and_escapes(bound):
    lab = bound
    hostile_who = "[red]bx-who[/red]\x1b]0;bx-title\x07"
    sh_app(lab, r"""printf '{"action": "[bold]bx-fake\033[2J", "result": "ok"}\n' >> history.jsonl""", check=False)
    with held(lab, "history: numbered by the whole history (> 20 entries) = rollback --to N"):
        roost(lab, "rollback", APP, "--to", "1", env={"SUDO_USER": hostile_who})
        for _ in range(25):
            if int(run(lab, ["sh", "-c", f"wc -l < {STATE}/history.jsonl"]).stdout.strip() or 0) > 20:
                break
            assert roost(lab, "rollback", APP, "--to", "1").returncode == 0
        else:
            pytest.fail(f"{STATE}/history.jsonl does not grow with each rollback", pytrace=False)
        assert apply_changed(lab).returncode == 0
        total = int(run(lab, ["sh", "-c", f"wc -l < {STATE}/history.jsonl"]).stdout.strip())
        out = roost(lab, "history", APP).stdout
        rows = history_rows(out)
        assert rows, f"no numbered rows in:\n{out}"
        last_apply = [n for n, line in rows if "apply" in line][-1]
        assert last_apply == total, f"the last apply is #{last_apply} in `roost history`, entry {total} in the file"
        back = roost(lab, "rollback", APP, "--to", str(last_apply))
        assert back.returncode == 0, f"rollback --to {last_apply} (as shown): {back.stdout[-500:]}{back.stderr[-500:]}"
    with held(lab, "history: app-owned and hostile text shown without markup or control characters", digest=False):
        out = roost(lab, "history", APP).stdout
        assert "bx-fake" not in out, "an entry from the app-owned copy was shown"
        assert "\x1b" not in out and "\x07" not in out, "control characters reached the terminal"
        assert "[red]bx-who" in out, f"markup was interpreted (or the entry is missing):\n{out[-1500:]}"


def test_another_local_user_cannot_reach_roost_state(bound):
    lab = bound
    with held(lab, "another local user: cannot read the app's home, write roost's state or /run/roost"):
        for argv in (["ls", HOME], ["cat", f"{HOME}/.config/roost/secrets/db_password"], ["touch", "/run/roost/bx"],
                     ["touch", f"{STATE}/bx"], ["sh", "-c", f"echo x >> {STATE}/history.jsonl"]):
            cp = run(lab, argv, user="mallory", uid=0)
            assert cp.returncode != 0, f"mallory could: {' '.join(argv)}"
        for argv in (["touch", f"{STATE}/bx"], ["touch", "/run/roost/bx"],
                     ["sh", "-c", f"echo x >> {STATE}/history.jsonl"], ["sh", "-c", f"echo x >> {STATE}/spec.toml"]):
            assert run(lab, argv, user=APP).returncode != 0, f"the app user could: {' '.join(argv)}"


def test_another_local_user_cannot_read_the_applied_spec(bound):
    lab = bound
    # the home copy of the spec is the app's (0750 home); root's copy must not be readable by everyone instead
    with held(lab, "another local user: cannot read the applied spec (env values) in roost's state", digest=False):
        cp = run(lab, ["cat", f"{STATE}/spec.toml"], user="mallory", uid=0)
        assert TOKEN not in cp.stdout, f"mallory reads {STATE}/spec.toml, env values included"


def test_another_local_user_cannot_block_applies(bound):
    lab = bound
    # flock(2) needs no write access: a lock file anyone can open read-only, anyone can hold
    holder = run(lab, ["sh", "-c", "ls /run/roost/*.lock"]).stdout.split()
    assert holder, "no lock files in /run/roost"
    pidfile = "/run/bx-holder.pid"
    procs = [subprocess.Popen(lab.machine.argv(app_argv("mallory", 0, [
        "sh", "-c", f'echo $$ >> {pidfile}; exec flock -o "$0" sleep 60', lock]), env={"HOME": "/root"}),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for lock in holder]
    time.sleep(2)
    try:
        with held(lab, "another local user flock()s the lock files in /run/roost: apply and down go on"):
            try:
                cp = roost(lab, "apply", SPEC, timeout=40)
            except subprocess.TimeoutExpired:
                pytest.fail(f"roost apply waits on locks another local user holds: {holder}", pytrace=False)
            no_traceback(cp)
            assert cp.returncode == 0, cp.stdout[-800:] + cp.stderr[-800:]
    finally:
        run(lab, ["sh", "-c", f"kill $(cat {pidfile}); rm -f {pidfile}"])
        for p in procs:
            p.wait(timeout=30)


def test_two_new_apps_applied_at_once_get_different_ids(bound):
    lab = bound
    names = ("bxpa", "bxpb")
    for n in names:
        put(lab, f"/var/tmp/specs/{n}.toml",
            f'[app]\nname = "{n}"\n\n[secrets]\npw = {{ generate = 16 }}\n\n[containers.db]\nimage = "{lab.postgres_image}"\n'
            'env = { POSTGRES_PASSWORD = "${secrets.pw}" }\nhealth = { cmd = "pg_isready -h 127.0.0.1", interval = "5s" }\n')
    try:
        with held(lab, "concurrency: two new apps applied in parallel get different UIDs and ID ranges", digest=False):
            procs = [subprocess.Popen(lab.machine.argv(["roost", "apply", "-q", f"/var/tmp/specs/{n}.toml"],
                                                       env={"HOME": "/root"}),
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
                     for n in names]
            outs = [p.communicate(timeout=400)[0] for p in procs]
            assert all(p.returncode == 0 for p in procs), outs
            uids = [run(lab, ["id", "-u", n]).stdout.strip() for n in names]
            assert uids[0] != uids[1], uids
            for f in ("/etc/subuid", "/etc/subgid"):
                ranges = {}
                for line in run(lab, ["cat", f]).stdout.splitlines():
                    owner, start, count = line.split(":")
                    ranges[owner] = (int(start), int(count))
                a, b = ranges[names[0]], ranges[names[1]]
                assert a[0] + a[1] <= b[0] or b[0] + b[1] <= a[0], f"{f}: {a} and {b} overlap"
    finally:
        for n in names:
            roost(lab, "down", n, "--purge", "--yes")


# --- last: purge with links planted everywhere ---------------------------------------------------------------------

ACCOUNT_FILES = (*(f"/etc/{f}{s}" for f in ("passwd", "group", "shadow", "gshadow", "subuid", "subgid")
                   for s in ("", "-")), "/etc/.pwd.lock")


def test_purge_with_links_planted_in_the_home(bound):
    lab = bound
    sh_app(lab, f"ln -s /etc etc-link && ln -s {MARKER} marker-link && mkdir -p deep/er && ln -s / deep/er/root && "
                "touch \"$(printf 'x\\netc')\"")
    allowed = (*OWN, *ACCOUNT_FILES, "/etc@mtime", f"/var/lib/systemd/linger/{APP}", "/var/lib/systemd/linger@mtime",
               "/var/lib/roost/apps@mtime", "/var/lib/roost/purged.json", "/var/lib/roost@mtime")  # the tombstone
    with held(lab, "down --purge: links to /etc, /, a root-only file and a newline name in the home", allowed=allowed,
              app_up=False):
        cp = roost(lab, "down", APP, "--purge", "--yes")
        assert cp.returncode == 0, cp.stdout + cp.stderr
        left = run(lab, ["find", HOME, "-maxdepth", "3", "-printf", "%M %u %p\n"]).stdout
        assert run(lab, ["test", "-e", HOME]).returncode == 1, f"the home is still there:\n{left[:1500]}\n{cp.stdout[-1500:]}"
        assert run(lab, ["cat", MARKER]).stdout.strip() == MARK
        assert run(lab, ["getent", "passwd", APP]).returncode == 2
        assert run(lab, ["test", "-e", STATE]).returncode == 1, "roost's state of the app is still there"
