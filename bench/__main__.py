"""roost benchmarks on a real lab host: `sudo .venv/bin/python -m bench [--runs 5] [--only cold,update] [--down]`.

Boots (or reuses) the lab `bench` through roost.lab.up.up(), runs every measurement there with
a reference measured in the same run, prints a Rich table with the machine's description and
writes bench/results/latest.json. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import ClassVar

from rich.console import Console
from rich.table import Table

from roost.lab import images
from roost.lab import up as lab_up
from roost.lab.machine import Machine

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "latest.json"
IN_LAB = "/var/tmp/bench"  # on the lab's disk (not a tmpfs), so files can be dropped in from here
TINY_REF = f"{images.config.REGISTRY}/bench/tiny:1"
EXAMPLE = (ROOT / "examples" / "lab-notes.toml").read_text()
ALL = ("startup", "converged", "many", "profile", "update", "cold", "compose")
ROOST = "/usr/local/bin/roost"
PY = "/opt/roost/venv/bin/python"

console = Console(width=None if sys.stdout.isatty() else 160)


# ---------------------------------------------------------------------------------------------- helpers
def stats(runs: list[float]) -> dict:
    if not runs:
        return {"runs": [], "median": None, "min": None, "max": None}
    return {"runs": [round(r, 4) for r in runs], "median": round(statistics.median(runs), 4),
            "min": round(min(runs), 4), "max": round(max(runs), 4)}


def notes_spec(name: str, uid: int, port: int, tag: str = "latest") -> str:
    return (EXAMPLE.replace('name = "notes"', f'name = "{name}"\nhealth_timeout = "120s"')
            .replace("uid = 2100", f"uid = {uid}")
            .replace("127.0.0.1:8388:3000", f"127.0.0.1:{port}:3000")
            .replace("roost-lab/notes:latest", f"roost-lab/notes:{tag}"))


def tiny_spec(i: int) -> str:
    return f"""[app]
name = "tiny{i:02d}"
uid = {3000 + i}

[pod]
publish = ["127.0.0.1:{9100 + i}:3000"]

[containers.web]
image = "{TINY_REF}"
health = {{ cmd = "true", interval = "30s" }}
"""


def http_get(url: str, timeout: float = 2) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, ""
    except OSError as e:
        return 0, str(e)


def wait_http(url: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if http_get(url)[0] == 200:
            return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer 200 within {timeout:.0f}s")


class Probe:
    """A client loop from this machine (as tests/e2e/test_safe_updates.py): failed requests,
    the longest gap between two answers, and how many separate outages there were."""

    def __init__(self, url: str, interval: float = 0.05) -> None:
        self.url, self.interval = url, interval
        self.ok = self.failed = self.outages = 0
        self.longest_gap = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        last_ok, failing = time.monotonic(), False
        while not self._stop.is_set():
            code, _ = http_get(self.url, timeout=2)
            now = time.monotonic()
            if code == 200:
                self.ok += 1
                self.longest_gap = max(self.longest_gap, now - last_ok)
                last_ok, failing = now, False
            else:
                self.failed += 1
                if not failing:
                    self.outages += 1
                failing = True
            time.sleep(self.interval)

    def __enter__(self) -> Probe:
        self._thread.start()
        time.sleep(0.3)
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(1.0)  # a tail: an outage right after the command returned counts too
        self._stop.set()
        self._thread.join()


class Bench:
    def __init__(self, machine: Machine, runs: int, warmup: int) -> None:
        self.m, self.runs, self.warmup = machine, runs, warmup
        self.results: dict[str, dict] = {}
        self.notes: list[str] = []
        self.profile: dict[str, object] = {}

    # -- lab access
    def sh(self, argv: list[str], *, check: bool = True, timeout: float = 900, user: str | None = None,
           uid: int | None = None) -> subprocess.CompletedProcess[str]:
        if user is not None:
            argv = ["runuser", "-u", user, "--", "env", f"XDG_RUNTIME_DIR=/run/user/{uid}",
                    f"DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/{uid}/bus", *argv]
        cp = subprocess.run(self.m.argv(argv), capture_output=True, text=True, timeout=timeout, check=False)
        if check and cp.returncode != 0:
            raise RuntimeError(f"in lab: {' '.join(argv)} -> exit {cp.returncode}\n{cp.stdout[-2000:]}\n{cp.stderr[-2000:]}")
        return cp

    def put(self, path: str, text: str) -> None:
        target = self.m.rootfs / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def timer(self, cmds: list[list[str]], *, repeat: int | None = None, warmup: int | None = None,
              wait_http: str | None = None, timeout: float = 600, check: bool = True) -> list[float]:
        job = {"cmds": cmds, "repeat": self.runs if repeat is None else repeat,
               "warmup": self.warmup if warmup is None else warmup, "timeout": timeout, "check": check}
        if wait_http:
            job["wait_http"] = wait_http
        cp = self.sh(["python3", f"{IN_LAB}/timer.py", json.dumps(job)], timeout=timeout * (job["repeat"] + job["warmup"]) + 60)
        out = json.loads(cp.stdout)
        if out["failures"]:
            raise RuntimeError("timed command failed: " + out["failures"][0])
        return out["runs"]

    def record(self, key: str, title: str, roost: list[float], ref: list[float] | None, ref_name: str,
               target: str, met: bool | None, **extra: object) -> None:
        r, f = stats(roost), stats(ref or [])
        ratio = round(r["median"] / f["median"], 2) if ref and f["median"] else None
        self.results[key] = {"title": title, "roost": r, "reference": f, "reference_name": ref_name,
                             "ratio": ratio, "target": target, "met": met, **extra}
        console.print(f"[green]✓[/] {title}: roost {fmt(r)}  ref {fmt(f)}" + (f"  ratio {ratio}" if ratio else ""))

    # -- setup
    def setup(self) -> None:
        lab = self.m.rootfs / IN_LAB.lstrip("/")
        lab.mkdir(parents=True, exist_ok=True)
        for f in ("timer.py", "manual.sh", "manual_down.sh", "reads.sh"):
            shutil.copy2(HERE / "lab" / f, lab / f)
        # the compose tool (and pyinstrument for profiles), from wheels made on this machine
        wheels = HERE / "cache" / "wheels"
        if not wheels.is_dir() or not any(wheels.glob("podman_compose-*.whl")):
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "-d", str(wheels),
                            "--python-version", "3.13", "--only-binary=:all:", "--platform", "manylinux2014_x86_64",
                            "podman-compose", "pyinstrument"], check=True)  # fmt: skip
        shutil.rmtree(lab / "wheels", ignore_errors=True)
        shutil.copytree(wheels, lab / "wheels")
        if not (self.m.rootfs / "opt/bench-compose/bin/podman-compose").exists():
            self.sh(["python3", "-m", "venv", "/opt/bench-compose"])
            self.sh(["/opt/bench-compose/bin/pip", "install", "--quiet", "--no-index", "--find-links",
                     f"{IN_LAB}/wheels", "podman-compose"])
        self.sh(["/opt/roost/venv/bin/pip", "install", "--quiet", "--no-index", "--find-links", f"{IN_LAB}/wheels",
                 "pyinstrument"], check=False)
        self.postgres = images.postgres_ref(next(t for t in images.registry_tags("roost-lab/postgres") if t.isdigit()))
        self.notes_img = images.notes_ref("latest")
        if "1" not in images.registry_tags("bench/tiny"):
            self.build_tiny()

    def build_tiny(self) -> None:
        """A ~2 MB image from Debian's busybox-static, built rootless in the lab and pushed."""
        cache = HERE / "cache"
        debs = sorted(cache.glob("busybox-static_*.deb"))
        if not debs:
            subprocess.run(["apt-get", "download", "busybox-static"], cwd=cache, check=True, capture_output=True)
            debs = sorted(cache.glob("busybox-static_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(cache / "bb")], check=True)
        build = self.m.rootfs / images.BUILD_DIR.lstrip("/") / "tiny"
        shutil.rmtree(build, ignore_errors=True)
        build.mkdir(parents=True)
        shutil.copy2(HERE / "lab" / "tiny" / "Containerfile", build / "Containerfile")
        shutil.copy2(cache / "bb" / "bin" / "busybox", build / "busybox")
        os.chmod(build, 0o755)
        images.ensure_builder(self.m)
        images.podman(self.m, "build", "--quiet", "-t", TINY_REF, f"{images.BUILD_DIR}/tiny", what="building tiny")
        images.podman(self.m, "push", "--quiet", TINY_REF, what="pushing tiny")

    def describe_machine(self) -> dict:
        mem = next(int(l.split()[1]) for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal"))
        cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                    if l.startswith("model name")), platform.processor())
        git = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True)
        return {
            "cores": os.cpu_count(), "cpu": cpu, "memory_gib": round(mem / 1024 / 1024, 1),
            "kernel": platform.release(), "machine_os": _os_release(Path("/etc/os-release")),
            "lab_os": _os_release(self.m.rootfs / "etc/os-release"),
            "lab_podman": self.sh(["podman", "--version"]).stdout.strip(),
            "lab_systemd": self.sh(["systemctl", "--version"]).stdout.splitlines()[0],
            "lab_python": self.sh(["python3", "--version"]).stdout.strip(),
            "roost": self.sh([ROOST, "--version"]).stdout.strip(),
            "commit": git.stdout.strip(),
            "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }

    # -- 3b. start-up
    def startup(self) -> None:
        n = max(self.runs, 10)
        roost = self.timer([[ROOST, "--version"]], repeat=n, warmup=2)
        ref = self.timer([[PY, "-c", "pass"]], repeat=n, warmup=2)
        pod = self.timer([["podman", "--version"]], repeat=n, warmup=2)
        self.record("startup", "roost --version start-up", roost, ref, "python -c pass (same venv)",
                    "< 0.15 s", statistics.median(roost) < 0.15, podman_version_s=stats(pod))

    # -- 1. cold deploy
    COLD: ClassVar[dict[str, tuple[str, int, int]]] = {"roost": ("bcold", 2600, 8395), "quadlet": ("mquad", 2700, 8396), "doc": ("mdoc", 2750, 8397),
            "compose": ("mcomp", 2800, 8394)}

    def teardown(self, side: str) -> None:
        name, uid, _ = self.COLD[side]
        if side == "roost":
            self.sh([ROOST, "down", name, "--purge", "--yes"], check=False, timeout=300)
        self.sh(["bash", f"{IN_LAB}/manual_down.sh", name, str(uid)], check=False, timeout=300)

    def cold_once(self, side: str) -> float:
        name, uid, port = self.COLD[side]
        self.teardown(side)
        url = f"http://127.0.0.1:{port}/status"
        if side == "roost":
            cmd = [ROOST, "apply", "--quiet", f"{IN_LAB}/specs/{name}.toml"]
        else:
            cmd = ["bash", f"{IN_LAB}/manual.sh", side, name, str(uid), str(port), self.postgres, self.notes_img]
        return self.timer([cmd], repeat=1, warmup=0, wait_http=url, timeout=400)[0]

    def cold(self) -> None:
        name, uid, port = self.COLD["roost"]
        self.put(f"{IN_LAB}/specs/{name}.toml", notes_spec(name, uid, port))
        sides = ("roost", "quadlet", "doc")
        times: dict[str, list[float]] = {s: [] for s in sides}
        for i in range(self.warmup + self.runs):
            for s in sides:
                t = self.cold_once(s)
                console.print(f"  cold {s} #{i}: {t:.1f}s", style="dim")
                if i >= self.warmup:
                    times[s].append(t)
        for s in sides:
            self.teardown(s)
        r, q = times["roost"], times["quadlet"]
        ratio = statistics.median(r) / statistics.median(q)
        self.record("cold", "cold deploy to healthy (notes: user, pod, postgres + app)", r, q,
                    "by hand: useradd/subids/linger, env files, Quadlet files by script, systemctl start",
                    "<= 1.15x manual", ratio <= 1.15,
                    doc_flavour=stats(times["doc"]),
                    doc_flavour_name="by hand as the source document: pod create, podman run x2, generate systemd --new, enable --now",
                    ratio_vs_doc=round(statistics.median(r) / statistics.median(times["doc"]), 2))

    # -- 5. podman-compose
    def compose(self) -> None:
        probe = self.sh(["/opt/bench-compose/bin/podman-compose", "--version"], check=False)
        if probe.returncode != 0:
            self.results["compose"] = {"title": "podman-compose up", "skipped": probe.stderr[-500:]}
            return
        version = probe.stdout.strip().splitlines()[-1] if probe.stdout.strip() else "?"
        runs: list[float] = []
        error = None
        for i in range(self.warmup + self.runs):
            try:
                t = self.cold_once("compose")
            except RuntimeError as e:
                error = str(e)[-1500:]
                break
            console.print(f"  compose #{i}: {t:.1f}s", style="dim")
            if i >= self.warmup:
                runs.append(t)
        self.teardown("compose")
        ref = self.results.get("cold", {}).get("roost", {}).get("runs") or None
        self.record("compose", "podman-compose up -d to healthy (same containers, rootless)", runs, ref,
                    "roost apply (cold deploy above)", "reference only", None, compose_version=version,
                    error=error, supervised_by_systemd=False)

    # -- 2. converged re-apply, 1 app
    def converged(self) -> None:
        name, uid, port = "bnotes", 2500, 8398
        spec = f"{IN_LAB}/specs/{name}.toml"
        self.put(spec, notes_spec(name, uid, port))
        self.sh([ROOST, "apply", "--quiet", spec], timeout=600)
        wait_http(f"http://127.0.0.1:{port}/status")
        out = self.sh([ROOST, "apply", spec]).stdout
        if "no changes" not in out:
            self.notes.append(f"second apply of {name} was not converged: {out[-300:]}")
        plan = self.timer([[ROOST, "plan", spec]])
        apply = self.timer([[ROOST, "apply", spec]])
        reads = self.timer([["bash", f"{IN_LAB}/reads.sh", "facts", f"{name}:{uid}"]])
        self.record("plan1", "converged `roost plan`, 1 app", plan, reads,
                    "the same host reads as one bash script (floor)", "< 0.5 s", statistics.median(plan) < 0.5)
        # issue 22: within 1.5x the floor measured in the same run
        self.record("apply1", "converged `roost apply` (no changes), 1 app", apply, reads,
                    "the same host reads as one bash script (floor)", "<= 1.5x floor",
                    statistics.median(apply) <= 1.5 * statistics.median(reads))

    # -- 2b/3. 20 apps: converged apply, plan, status
    def many(self) -> None:
        specs = []
        started = time.monotonic()
        for i in range(1, 21):
            spec = f"{IN_LAB}/specs/tiny{i:02d}.toml"
            self.put(spec, tiny_spec(i))
            specs.append(spec)
            self.sh([ROOST, "apply", "--quiet", spec], timeout=600)
        deploy = time.monotonic() - started
        pairs = [f"tiny{i:02d}:{3000 + i}" for i in range(1, 21)]
        apply = self.timer([[ROOST, "apply", *specs]])  # one run converging all 20 specs
        separate = self.timer([[ROOST, "apply", s] for s in specs])
        plan = self.timer([[ROOST, "plan", s] for s in specs])
        reads = self.timer([["bash", f"{IN_LAB}/reads.sh", "facts", *pairs]])
        self.record("apply20", "converged `roost apply` of 20 specs in one run", apply, reads,
                    "the same host reads for 20 apps as one bash script", "< 2 s", statistics.median(apply) < 2,
                    separate_runs=stats(separate), plan=stats(plan), first_deploy_20_apps_s=round(deploy, 1))
        status = self.timer([[ROOST, "status"]])
        status_json = self.timer([[ROOST, "status", "--json"]])
        sreads = self.timer([["bash", f"{IN_LAB}/reads.sh", "status", *pairs, "bnotes:2500"]])
        # what podman alone costs: one `podman container inspect` per app, 8 at a time, nothing else
        podman_only = self.timer([["bash", f"{IN_LAB}/reads.sh", "podman", *pairs, "bnotes:2500"]])
        self.record("status20", "`roost status`, 21 apps (20 tiny + notes)", status, sreads,
                    "systemctl show + podman ps + podman images per app, as one bash script", "<= 0.6 s",
                    statistics.median(status) <= 0.6, json=stats(status_json), podman_only=stats(podman_only))
        if "apply1" in self.results:
            one = self.timer([[ROOST, "apply", f"{IN_LAB}/specs/bnotes.toml"]])
            self.results["apply1"]["with_21_apps_on_host"] = stats(one)

    # -- 4. update downtime
    def update(self) -> None:
        name, uid, port = "bupd", 2450, 8399
        url = f"http://127.0.0.1:{port}"
        spec = f"{IN_LAB}/specs/{name}.toml"
        tags = images.registry_tags("roost-lab/notes")
        if "bench" not in tags or "b2" not in tags:
            images.build_notes(self.m, "b1", tags=("bench",))
            images.build_notes(self.m, "b2")
        self.publish("b1")
        self.put(spec, notes_spec(name, uid, port, tag="bench"))
        self.sh([ROOST, "apply", "--quiet", spec], timeout=600)
        wait_http(f"{url}/status")
        sides: dict[str, list[dict]] = {"roost update": [], "podman auto-update": []}
        version = "b1"
        for i in range(self.warmup + self.runs):
            for side in sides:
                version = "b2" if version == "b1" else "b1"
                self.publish(version)
                started = time.monotonic()
                with Probe(f"{url}/") as probe:
                    if side == "roost update":
                        cp = self.sh([ROOST, "update", name, "--json"], check=False, timeout=600)
                    else:
                        cp = self.sh(["systemctl", "--user", "start", "podman-auto-update.service"], user=name,
                                     uid=uid, check=False, timeout=600)
                took = time.monotonic() - started
                wait_http(f"{url}/status")
                got = http_get(f"{url}/version")[1].strip()
                row = {"failed": probe.failed, "ok": probe.ok, "outages": probe.outages,
                       "gap_ms": round(probe.longest_gap * 1000), "seconds": round(took, 2),
                       "updated": got == version, "exit": cp.returncode}
                console.print(f"  {side} #{i}: {row}", style="dim")
                if i >= self.warmup:
                    sides[side].append(row)
        r, a = sides["roost update"], sides["podman auto-update"]
        met = all(x["outages"] <= 1 and x["gap_ms"] < 2000 and x["updated"] for x in r)
        self.record("update", "update downtime: longest gap between answers (s)",
                    [x["gap_ms"] / 1000 for x in r], [x["gap_ms"] / 1000 for x in a],
                    "podman auto-update (systemctl --user start podman-auto-update.service)",
                    "one gap < 2 s, no failures outside it", met,
                    roost_runs=r, auto_update_runs=a,
                    roost_command_s=stats([x["seconds"] for x in r]), auto_update_command_s=stats([x["seconds"] for x in a]))

    def publish(self, version: str) -> None:
        """Point notes:bench at an already built version (as labbuild, blobs already pushed: fast)."""
        src, dst = images.notes_ref(version), images.notes_ref("bench")
        images.podman(self.m, "tag", src, dst, what="tag")
        images.podman(self.m, "push", "--quiet", dst, what=f"pushing {dst}")

    # -- profiles: where roost's own time goes
    def profile_runs(self) -> None:
        spec = f"{IN_LAB}/specs/bnotes.toml"
        for key, argv in (("apply1", ["apply", spec]), ("status", ["status"])):
            cp = self.sh([ROOST, "-vv", *argv], check=False, timeout=300)
            t = [float(x) for x in re.findall(r"exit -?\d+ after ([0-9.]+)s", cp.stderr)]
            wall = self.timer([[ROOST, *argv]], repeat=1, warmup=0)[0]
            self.profile[key] = {"commands": len(t), "seconds_in_commands": round(sum(t), 3), "wall_s": round(wall, 3),
                                 "slowest": sorted(t, reverse=True)[:5]}
            self.sh([PY, "-m", "pyinstrument", "--show-all", "-o", f"{IN_LAB}/profile-{key}.txt", "-m", "roost", *argv],
                    check=False, timeout=300)
            src = self.m.rootfs / IN_LAB.lstrip("/") / f"profile-{key}.txt"
            if src.exists():
                shutil.copy2(src, HERE / "results" / f"profile-{key}.txt")
        imp = self.sh([PY, "-X", "importtime", "-m", "roost", "--version"], check=False)
        total = [l for l in imp.stderr.splitlines() if l.rstrip().endswith("| roost.cli")]
        self.profile["version_import_us"] = total[-1].split("|")[1].strip() if total else None


def _os_release(path: Path) -> str:
    try:
        return next(l.split("=", 1)[1].strip('"') for l in path.read_text().splitlines() if l.startswith("PRETTY_NAME="))
    except (OSError, StopIteration):
        return "?"


def fmt(s: dict) -> str:
    if not s or s.get("median") is None:
        return "-"
    return f"{s['median']:.3f} s [{s['min']:.3f}–{s['max']:.3f}]"


def show(data: dict) -> None:
    m = data["machine"]
    console.print(f"[bold]machine[/]: {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB, kernel {m['kernel']}, "
                  f"{m['machine_os']}; lab: {m['lab_os']}, {m['lab_podman']}, {m['lab_systemd']}; {m['roost']} @ {m['commit']}")
    table = Table(title=f"roost benchmarks (median \\[min–max] of {data['runs']} runs after {data['warmup']} warm-up)",
                  title_justify="left")
    for col in ("measurement", "roost", "reference", "ratio", "target", "met"):
        table.add_column(col, overflow="fold")
    for r in data["results"].values():
        if "skipped" in r:
            table.add_row(r["title"], "skipped", r["skipped"][:80], "", "", "")
            continue
        met = {True: "[green]yes[/]", False: "[red]no[/]", None: "-"}[r["met"]]
        table.add_row(r["title"], fmt(r["roost"]), f"{fmt(r['reference'])}\n[dim]{r['reference_name']}[/]",
                      str(r["ratio"] or "-"), r["target"], met)
    console.print(table)


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--name", default="bench", help="lab name (default bench)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--only", default=",".join(ALL), help=f"comma-separated subset of {','.join(ALL)}")
    ap.add_argument("--down", action="store_true", help="power off and remove the lab afterwards")
    ap.add_argument("--show", action="store_true", help="only print bench/results/latest.json as a table")
    args = ap.parse_args()
    if args.show:
        show(json.loads(RESULTS.read_text()))
        return
    only = [x for x in args.only.split(",") if x]
    unknown = set(only) - set(ALL)
    if unknown:
        ap.error(f"unknown measurement(s) {', '.join(sorted(unknown))}")
    machine = lab_up.up(args.name)
    b = Bench(machine, args.runs, args.warmup)
    b.setup()
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    try:
        for step in ALL:
            if step in only:
                console.rule(step)
                {"startup": b.startup, "cold": b.cold, "compose": b.compose, "converged": b.converged,
                 "many": b.many, "update": b.update, "profile": b.profile_runs}[step]()
    finally:
        # merge: a partial run (--only) keeps the other figures of the previous run
        data = {"machine": b.describe_machine(), "runs": args.runs, "warmup": args.warmup,
                "results": {**previous.get("results", {}), **b.results},
                "profile": {**previous.get("profile", {}), **b.profile},
                "notes": b.notes}
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        show(data)
        console.print(f"written: {RESULTS.relative_to(ROOT)}")
        if args.down:
            lab_up.down(machine)


if __name__ == "__main__":
    main()
