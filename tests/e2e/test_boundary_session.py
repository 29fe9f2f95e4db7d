"""Issue 17 (items 1, 5, 6, 8, 9 and the spool): commands run as the app user, tried as an attacker on the lab.

The attacker is the app's user: it writes its own units, containers.conf, `~/roost/__main__.py`, escape codes into
files roost shows, holds its own app lock, leaves junk in its notify spool. Root runs the routine verb, from an
interactive root shell on a pseudo-terminal where the attack needs one (dev.tty.legacy_tiocsti is the kernel's). Each
case checks: no root-owned file appeared, nothing outside the home changed (tests/e2e/conftest.py: host_digest), the
verb ended in bounded time, the app still answers. Then a fresh app, applied once and nothing else, goes through its
nightly path as its own user: pre-update backup, update, a broken image rolled back, all in `roost history`.

At the end: `boundary-session: paths tried: N, held: M` (a failing test counts as a path not held).
"""

from __future__ import annotations

import json
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
    notes_spec,
    print_paths,
    put,
    wait_http,
)

from roost.lab import images

pytestmark = pytest.mark.lab

APP, UID, PORT = "sess", 3610, 8411
OTHER, OTHER_UID, OTHER_PORT = "sessb", 3620, 8412
HOME, OTHER_HOME = f"/srv/roost/{APP}", f"/srv/roost/{OTHER}"
SPEC, OTHER_SPEC = f"/var/tmp/specs/{APP}.toml", f"/var/tmp/specs/{OTHER}.toml"
URL, OTHER_URL = f"http://127.0.0.1:{PORT}", f"http://127.0.0.1:{OTHER_PORT}"
X = f"{HOME}/.x"  # the attacker's workshop
PWNED = "/var/tmp/pwned-by-sess"  # what the keystrokes pushed into root's shell would create
EVIL = "\x1b]0;PWNED-TITLE\x07\x1b[2J\x1b[31m[bold red]markup[/]"
OWN = (f"/var/lib/roost/apps/{APP}/**", f"/var/lib/roost/apps/{OTHER}/**", "/var/lib/roost/spool/**")
NOISE = ("/var/lib/systemd/timers/**", "/var/lib/systemd/timesync/clock", "/var/lib/systemd/random-seed")
BOUND_S = 60  # a routine verb must end within this, whatever the app user does

RESULTS: list[tuple[str, bool]] = []

# Run by the attacker's programs: records where it ran and tries to push keystrokes into the terminal it can reach.
STI = r"""
import fcntl, json, os, sys, termios
rec = {"argv0": sys.argv[1] if len(sys.argv) > 1 else "", "file": __file__, "uid": os.getuid(), "sid": os.getsid(0), "cwd": os.getcwd(),
       "cgroup": open("/proc/self/cgroup").read().strip()}
rec["tty_nr"] = int(open("/proc/self/stat").read().rsplit(")", 1)[1].split()[4])
for inside, outside, count in (map(int, ln.split()) for ln in open("/proc/self/uid_map")):
    if inside <= rec["uid"] < inside + count:  # rootless podman runs its helpers in the user's namespace, as its 0
        rec["host_uid"] = outside + rec["uid"] - inside
try:
    fd = os.open("/dev/tty", os.O_RDWR)
    for ch in "touch PWNED; id >> PWNED\n":
        fcntl.ioctl(fd, termios.TIOCSTI, ch.encode())
    rec["tty"] = "pushed"
except OSError as e:
    rec["tty"] = "refused: " + (e.strerror or str(e))
with open("RAN", "a") as fh:
    fh.write(json.dumps(rec) + "\n")
""".replace("PWNED", PWNED).replace("RAN", f"{X}/ran.jsonl")

# Root's interactive shell on a pty: runs one command line, waits for it, then gives whatever keystrokes were pushed
# into the terminal meanwhile the chance to run, and exits. Prints the session id of the shell and the transcript.
ROOT_SHELL = r"""
import fcntl, os, pty, select, struct, sys, termios, time
line = sys.argv[1]
pid, fd = pty.fork()
if pid == 0:
    os.environ.update(HOME="/root", PS1="root# ", TERM="xterm", COLUMNS="300", HISTFILE="")  # no history file
    os.execvp("bash", ["bash", "--norc", "--noprofile", "-i"])
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 60, 300, 0, 0))  # wide: table cells are not wrapped
out = b""
def pump(until, timeout):
    global out
    end = time.monotonic() + timeout
    while time.monotonic() < end and until not in out:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                out += os.read(fd, 65536)
            except OSError:
                return
started = time.monotonic()
os.write(fd, b"echo SID=$(ps -o sid= -p $$ | tr -d ' '); " + line.encode() + b"; echo VERB-ENDED-$((40+2))\n")
pump(b"VERB-ENDED-42", float(sys.argv[2]))  # not in the echo of the typed line
elapsed = time.monotonic() - started
pump(b"never", 2.0)  # pushed keystrokes, if any, run now
os.write(fd, b"exit\n")
pump(b"never", 2.0)
sys.stdout.write(f"ELAPSED={elapsed:.2f}\n")
sys.stdout.write(out.decode(errors="replace"))
"""


# --- running things ------------------------------------------------------------------------------------------------

def run(lab, argv: Sequence[str], *, user: str | None = None, uid: int = UID, check: bool = False,
        timeout: float = 300) -> subprocess.CompletedProcess[str]:
    inner = app_argv(user, uid, argv) if user else list(argv)
    full = lab.machine.argv(inner, env={"HOME": "/root"})
    cp = subprocess.run(full, capture_output=True, encoding="utf-8", errors="replace", timeout=timeout, check=False)
    if check and cp.returncode != 0:
        pytest.fail(f"{' '.join(argv)}{f' as {user}' if user else ''} -> {cp.returncode}\n{cp.stdout}{cp.stderr}",
                    pytrace=False)
    return cp


def sh_app(lab, script: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(lab, ["sh", "-c", f'cd "{HOME}" && {script}'], user=APP, check=check)


def roost(lab, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return run(lab, ["roost", *args], timeout=timeout)


def root_shell(lab, line: str, timeout: float = BOUND_S) -> tuple[float, str, str]:
    """(seconds the verb took, the root shell's session id, the transcript) of `line` typed into bash -i on a pty."""
    cp = run(lab, ["python3", "-c", ROOT_SHELL, line, str(timeout)], timeout=timeout + 30, check=True)
    first, _, rest = cp.stdout.partition("\n")
    sid = next((w.split("=", 1)[1].strip() for w in rest.split() if w.startswith("SID=") and w[4:].strip().isdigit()),
               "")
    assert "VERB-ENDED-42" in rest, f"{line!r} did not end within {timeout}s:\n{rest[-3000:]}"
    return float(first.split("=", 1)[1]), sid, rest


def ran(lab) -> list[dict]:
    cp = run(lab, ["cat", f"{X}/ran.jsonl"])
    return [json.loads(line) for line in cp.stdout.splitlines() if line.startswith("{")]


def root_owned_in_home(lab) -> list[str]:
    """Files owned by root that appeared in the home (the user's side must never gain one)."""
    cp = run(lab, ["find", HOME, "-xdev", "-user", "root", "-newer", f"{X}/start"])
    return [p for p in cp.stdout.splitlines() if p]


def spec_text(name: str, uid: int, port: int, tag: str, tail: str = "") -> str:
    return notes_spec(name, uid, port, notes_tag=tag, app='health_timeout = "30s"', tail=tail)


def version() -> str:
    wait_http(f"{URL}/status")
    return wait_http(f"{URL}/version").strip()


# --- bookkeeping ---------------------------------------------------------------------------------------------------

@contextmanager
def held(lab, path: str, *, allowed: Sequence[str] = OWN, digest: bool = True) -> Iterator[None]:
    """One attacker path: the body runs the verb and its checks; then nothing outside the home may have changed,
    no root-owned file may have appeared in it, nothing ran in root's terminal, and both apps still answer."""
    before = host_digest(lab) if digest else None
    sh_app(lab, "mkdir -p .x && touch .x/start")
    ok = False
    try:
        yield
        if before is not None:
            changes = digest_changes(before, host_digest(lab), (*allowed, *NOISE))
            assert not changes, "changed outside the home:\n  " + "\n  ".join(changes[:40])
        assert root_owned_in_home(lab) == [], "a root-owned file appeared in the home"
        assert run(lab, ["test", "-e", PWNED]).returncode != 0, "keystrokes pushed into root's shell ran"
        wait_http(f"{URL}/status", timeout=90)
        wait_http(f"{OTHER_URL}/status", timeout=90)
        ok = True
    finally:
        RESULTS.append((path, ok))


@pytest.fixture(scope="module", autouse=True)
def summary() -> Iterator[None]:
    yield
    print_paths("boundary-session", RESULTS)


@pytest.fixture(autouse=True)
def failed_test_counts(request: pytest.FixtureRequest) -> Iterator[None]:
    yield from count_failed_test(request, RESULTS)


# --- the apps ------------------------------------------------------------------------------------------------------

def publish(lab, version: str, *, broken: bool = False) -> None:
    """notes VERSION under the app's own tag: re-tagged when the registry has it (and it is not to be broken)."""
    m = lab.machine
    if not broken and version in images.registry_tags("roost-lab/notes"):
        images.ensure_builder(m)  # a lab seeded from the registry cache has no builder user yet
        images.podman(m, "pull", "--quiet", images.notes_ref(version), what=f"pulling notes {version}")
        images.podman(m, "tag", images.notes_ref(version), images.notes_ref(APP), what="tagging")
        images.podman(m, "push", "--quiet", images.notes_ref(APP), what="pushing")
    else:
        images.build_notes(m, version, broken=broken, tags=(APP,))


@pytest.fixture(scope="module")
def apps(lab):
    publish(lab, "1")
    put(lab, "/var/tmp/specs/sess.notify", "json://127.0.0.1:9/nobody-listens\n")
    run(lab, ["chmod", "0600", "/var/tmp/specs/sess.notify"], check=True)
    put(lab, SPEC, spec_text(APP, UID, PORT, APP, tail='\n[notify]\nurls_file = "sess.notify"\n'))
    put(lab, OTHER_SPEC, spec_text(OTHER, OTHER_UID, OTHER_PORT, "latest"))
    for spec in (SPEC, OTHER_SPEC):
        cp = roost(lab, "apply", spec)
        assert cp.returncode == 0, cp.stdout + cp.stderr
    wait_http(f"{URL}/status")
    wait_http(f"{OTHER_URL}/status")
    yield lab
    for name in (APP, OTHER):
        roost(lab, "down", name, "--purge", "--yes")
    run(lab, ["rm", "-f", PWNED])


# --- item 8 and 9: the nightly path of a fresh app -----------------------------------------------------------------

def test_nightly_path_works_from_the_first_apply_and_shows_in_history(apps):
    lab = apps
    st = run(lab, ["stat", "-c", "%U %G %a", f"/run/roost/{APP}.lock"], check=True).stdout.split()
    assert st == ["root", APP, "640"], f"the app's lock after its first apply: {st}"
    assert version() == "1"
    with held(lab, "nightly: the app user's podman-auto-update.service after one apply (backup, update, rollback)",
              digest=False):
        publish(lab, "2")
        run(lab, ["systemctl", "--user", "start", "podman-auto-update.service"], user=APP, timeout=400)
        lab.wait(lambda: version() == "2", "version 2 after the nightly update", timeout=120)
        publish(lab, "66", broken=True)
        run(lab, ["systemctl", "--user", "start", "podman-auto-update.service"], user=APP, timeout=400)
        assert version() == "2", "the broken image was not rolled back"
        rows = json.loads(roost(lab, "history", APP, "--json", "-n", "50").stdout)
        night = [(r["action"], r["result"], r.get("reason")) for r in rows if r.get("reported_by")]
        assert night.count(("backup", "ok", "pre-auto-update")) == 2, night
        why = [(r["action"], r["result"], r.get("error")) for r in rows if r.get("reported_by") and r.get("error")]
        assert ("auto-update", "updated", None) in night and ("auto-update", "rolled-back", None) in night, (night, why)
        assert all(r["n"] is None for r in rows if r.get("reported_by")), "a report was numbered: rollback could use it"
        table = roost(lab, "history", APP, "-n", "50").stdout
        assert "its own report" in table and "rolled-back" in table, table
        print(f"\nnight in history: {night}")


# --- item 1: no app-controlled code in root's session --------------------------------------------------------------

def test_doctor_with_an_app_written_unit_and_containers_conf_from_root_shell(apps):
    """The issue's reproduction: an app-written unit whose roost command is the attacker's program, a
    `~/roost/__main__.py` for `python3 -m roost` with cwd = home, and a containers.conf whose conmon and OCI runtime
    are wrappers (podman runs them for `podman info`, which doctor asks as the app user). Root runs `roost doctor`
    in an interactive shell on a pty. The unit's program and the module never run; the wrappers run, but in a new
    session without a terminal, cwd /, in the user's own slice, so TIOCSTI has no terminal to push into."""
    lab = apps
    tiocsti = run(lab, ["sysctl", "-n", "dev.tty.legacy_tiocsti"]).stdout.strip()
    put(lab, "/var/tmp/sti.py", STI)
    sh_app(lab, "mkdir -p .x roost .config/systemd/user .config/containers && cp /var/tmp/sti.py .x/sti.py"
                " && cp /var/tmp/sti.py roost/__main__.py && touch roost/__init__.py"
                f" && printf '#!/bin/sh\\npython3 {X}/sti.py unit\\n' > .x/evil && chmod +x .x/evil"
                f" && printf '#!/bin/sh\\npython3 {X}/sti.py crun\\nexec /usr/bin/crun \"$@\"\\n' > .x/crun"
                f" && printf '#!/bin/sh\\npython3 {X}/sti.py conmon\\nexec /usr/bin/conmon \"$@\"\\n' > .x/conmon"
                " && chmod +x .x/crun .x/conmon"
                f" && printf '[engine]\\nconmon_path = [\"{X}/conmon\"]\\n[engine.runtimes]\\ncrun = [\"{X}/crun\"]\\n'"
                " > .config/containers/containers.conf"
                f" && printf '[Service]\\nType=oneshot\\nExecStart={X}/evil -m roost backup {APP}\\n'"
                " > .config/systemd/user/roost-backup.service && systemctl --user daemon-reload")
    try:
        with held(lab, "doctor: app-written unit + ~/roost/__main__.py + containers.conf wrappers, root shell on a pty"):
            elapsed, root_sid, out = root_shell(lab, f"roost doctor {APP}")
            assert elapsed < BOUND_S
            assert f"{X}/evil" in out and "not the roost of this host" in out, out[-3000:]
            records = ran(lab)
            others = [r for r in records if r["argv0"] not in ("crun", "conmon")]
            assert others == [], f"the unit's program or ~/roost/__main__.py ran: {others}"
            wrapped = [r for r in records if r["argv0"] in ("crun", "conmon")]
            assert wrapped, "podman info ran no wrapper: the case tried nothing"
            for r in wrapped:
                assert r["host_uid"] == UID and r["tty_nr"] == 0 and r["tty"].startswith("refused"), r
                # cwd: roost starts podman in /; podman itself runs conmon in a container's bundle directory
                # (a health check's `podman exec` from the app's own timer lands here too)
                bundle = r["cwd"].startswith(f"{HOME}/.local/share/containers/storage/overlay-containers/")
                assert str(r["sid"]) != root_sid and (r["cwd"] == "/" or bundle), r
                assert f"/user-{UID}.slice/" in r["cgroup"], r  # its scope, or the one rootless podman moves to
            print(f"\nlegacy_tiocsti={tiocsti}; the wrappers ran as {wrapped[0]}")
    finally:
        sh_app(lab, "rm -rf roost .config/containers/containers.conf .config/systemd/user/roost-backup.service"
                    " && systemctl --user daemon-reload")


def test_roost_python_module_in_the_home_is_never_imported(apps):
    """`~/roost/__main__.py`: the verbs that run roost's own code as the app user must not import it."""
    lab = apps
    sh_app(lab, "mkdir -p .x roost && cp /var/tmp/sti.py .x/sti.py && cp /var/tmp/sti.py roost/__main__.py"
                " && touch roost/__init__.py && : > .x/ran.jsonl")
    try:
        with held(lab, "status/doctor/backup/plan with ~/roost/__main__.py in the home"):
            for verb in (["status", APP], ["doctor", APP], ["backup", APP], ["plan", SPEC]):
                elapsed, _, _ = root_shell(lab, "roost " + " ".join(verb))
                assert elapsed < BOUND_S, verb
            assert ran(lab) == [], ran(lab)
    finally:
        sh_app(lab, "rm -rf roost")


# --- item 6: escape codes from the app user reach root's terminal only escaped ------------------------------------

def test_escape_codes_in_plan_doctor_and_status(apps):
    lab = apps
    unit = f"{HOME}/.config/containers/systemd/app.container"
    good = run(lab, ["cat", unit], user=APP, check=True).stdout
    hostile = good + f"# {EVIL}\n"
    subprocess.run(lab.machine.argv(app_argv(APP, UID, ["sh", "-c", f"cat > {unit}"]), env={"HOME": "/root"}),
                   input=hostile, text=True, check=True)
    quadlet = f"{HOME}/.config/containers/systemd/zz-evil.container"
    subprocess.run(lab.machine.argv(app_argv(APP, UID, ["sh", "-c", f"cat > {quadlet}"]), env={"HOME": "/root"}),
                   input=f"[Container]\nImage=x\n{EVIL}Key=1\n", text=True, check=True)
    try:
        with held(lab, "escape codes and Rich markup in a home unit (plan diff), the generator's warnings (doctor), "
                       "status"):
            for line in (f"roost plan {SPEC}", f"roost doctor {APP}", "roost status"):
                elapsed, _, out = root_shell(lab, line)
                assert elapsed < BOUND_S, line
                assert "\x1b]0;PWNED-TITLE" not in out and "\x1b[2J" not in out, f"{line}: {out[-2000:]!r}"
                if line.startswith("roost plan"):
                    assert "PWNED-TITLE" in out and "[bold red]markup[/]" in out, out[-2000:]  # shown, escaped
    finally:
        run(lab, ["rm", "-f", quadlet], user=APP)
        roost(lab, "apply", SPEC)  # the unit as roost renders it again


# --- item 5: one app's user holds its own lock ---------------------------------------------------------------------

def test_a_held_app_lock_costs_only_its_own_app(apps):
    lab = apps
    holder = subprocess.Popen(lab.machine.argv(app_argv(APP, UID, [
        "sh", "-c", f"echo $$ > {X}/holder.pid && exec flock -o /run/roost/{APP}.lock sleep 300"]), env={"HOME": "/root"}),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    waiting = None
    try:
        with held(lab, "the app user holds its own lock: apply of another app and status stay bounded"):
            lab.wait(lambda: run(lab, ["test", "-s", f"{X}/holder.pid"]).returncode == 0, "the holder", timeout=20)
            time.sleep(1)
            waiting = subprocess.Popen(lab.machine.argv(["roost", "apply", SPEC], env={"HOME": "/root"}),
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            time.sleep(3)  # it now waits for the app's lock
            started = time.monotonic()
            cp = roost(lab, "apply", OTHER_SPEC, timeout=BOUND_S)
            other_s = time.monotonic() - started
            assert cp.returncode == 0 and other_s < BOUND_S, cp.stdout + cp.stderr
            started = time.monotonic()
            st = roost(lab, "status", "--json", timeout=BOUND_S)
            status_s = time.monotonic() - started
            assert {a["app"] for a in json.loads(st.stdout)} >= {APP, OTHER} and status_s < 15, (status_s, st.stderr)
            assert waiting.poll() is None, "apply of the locked app did not wait for its lock"
            sh_app(lab, 'kill "$(cat .x/holder.pid)"')
            holder.wait(timeout=30)
            out, _ = waiting.communicate(timeout=120)
            assert waiting.returncode == 0 and "waiting for" in out, out
            print(f"\nwhile {APP}'s lock was held: apply {OTHER} {other_s:.1f}s, status {status_s:.1f}s")
    finally:
        sh_app(lab, 'kill "$(cat .x/holder.pid)" 2>/dev/null; rm -f .x/holder.pid', check=False)
        for p in (holder, waiting):
            if p is not None and p.poll() is None:
                p.kill()


# --- the notify spool ----------------------------------------------------------------------------------------------

def test_stuck_spool_entries_do_not_silence_later_alerts(apps):
    lab = apps
    spool = f"/var/lib/roost/spool/{APP}"
    event = json.dumps({"kind": "backup-failed", "detail": "from the spool test"})
    with held(lab, "notify spool: a stuck .tmp- file and directories (named like events or not)"):
        run(lab, ["sh", "-c", f"cd {spool} && : > .tmp-stuck && touch -d '-1 hour' .tmp-stuck && mkdir -p "
                              "event-1-1.json/deep junk && ln -s /etc event-1-1.json/deep/etc"], user=APP, check=True)
        run(lab, ["sh", "-c", f"printf '%s' '{event}' > {spool}/event-2-1.json"], user=APP, check=True)
        lab.wait(lambda: run(lab, ["ls", "-A", spool]).stdout.strip() == "", "an empty spool", timeout=30)
        assert run(lab, ["systemctl", "is-failed", f"roost-notify@{APP}.path"]).stdout.strip() != "failed"
        run(lab, ["sh", "-c", f"printf '%s' '{event}' > {spool}/event-3-1.json"], user=APP, check=True)
        lab.wait(lambda: run(lab, ["ls", "-A", spool]).stdout.strip() == "", "the next event taken", timeout=30)
        assert run(lab, ["test", "-d", "/etc/systemd"]).returncode == 0


# --- what it costs ---------------------------------------------------------------------------------------------------

COST = r"""
import os, pwd, subprocess, sys, time
from roost.host.runner import AppUser, Runner
u = pwd.getpwnam(sys.argv[1])
user, r = AppUser(u.pw_name, u.pw_uid, u.pw_dir), Runner(audit_log=None)
env = ["env", "-i", *(f"{k}={v}" for k, v in user.env().items())]
def per_call(fn, n=15):
    fn()
    t = time.monotonic()
    for _ in range(n):
        fn()
    return (time.monotonic() - t) / n * 1000
cmd = ["systemctl", "--user", "show", "-p", "ActiveState", "--", "default.target"]
old = per_call(lambda: subprocess.run(["runuser", "-u", user.name, "--", *env, *cmd], capture_output=True, check=True))
new = per_call(lambda: r.run(cmd, user=user))
print(f"{old:.1f} {new:.1f}")
"""


def test_what_a_command_as_the_app_user_costs(apps):
    """Per command as the app user: runuser in root's session (before) against the scope in the user's slice (now),
    and `roost status` of the two apps."""
    lab = apps
    python = run(lab, ["sh", "-c", 'head -1 "$(command -v roost)"'], check=True).stdout.strip().removeprefix("#!")
    old, new = map(float, run(lab, [python, "-c", COST, APP], check=True).stdout.split())
    started = time.monotonic()
    for _ in range(5):
        roost(lab, "status", "--json")
    status_ms = (time.monotonic() - started) / 5 * 1000
    print(f"\nper command as the app user: runuser {old:.0f} ms, scope in the user's slice {new:.0f} ms; "
          f"`roost status` of 2 apps: {status_ms:.0f} ms")
    assert new < old + 150, (old, new)
