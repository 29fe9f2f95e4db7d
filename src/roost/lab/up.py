"""`roost lab up` and friends: bring a machine to "running, roost installed, images in the
registry", reusing every cache; the CLI and the e2e fixture both call these."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from roost.errors import RoostError
from roost.lab import config, images, rootfs, wheels
from roost.lab.machine import Machine, all_machines
from roost.lab.proc import run
from roost.output import console


class Phases:
    """Shows which phases run (a Rich status line) and prints each one's time when done.
    Phases may run concurrently, from threads."""

    def __init__(self, quiet: bool = False) -> None:
        self.times: dict[str, float] = {}
        self.started = time.monotonic()
        self._active: list[str] = []
        self._lock = threading.Lock()
        self._status = None if quiet else console.status("")
        self.quiet = quiet

    def __enter__(self) -> Phases:
        if self._status:
            self._status.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._status:
            self._status.stop()

    @contextmanager
    def phase(self, name: str, doing: str) -> Iterator[list[str]]:
        """Time a phase; the body may append a note (e.g. "cached") to the yielded list."""
        notes: list[str] = []
        start = time.monotonic()
        with self._lock:
            self._active.append(doing)
            self._refresh()
        try:
            yield notes
        finally:
            took = time.monotonic() - start
            with self._lock:
                self._active.remove(doing)
                self.times[name] = self.times.get(name, 0.0) + took
                self._refresh()
        if not self.quiet:
            note = f"  [dim]{', '.join(notes)}[/]" if notes else ""
            console.print(f"[green]✓[/] {name:<9} {took:6.1f}s{note}")

    def _refresh(self) -> None:
        if self._status:
            self._status.update(" · ".join(self._active) + " …" if self._active else "")


def preflight() -> None:
    if os.geteuid() != 0:
        raise RoostError("roost lab needs root (it boots a container with systemd-nspawn)", "run it with sudo")
    missing = [t for t in ("systemd-nspawn", "debootstrap", "nsenter") if shutil.which(t) is None]
    if missing:
        raise RoostError(f"missing on this machine: {', '.join(missing)}",
                         "apt-get install -y systemd-container debootstrap util-linux")  # fmt: skip


def check_mirror(mirror_url: str) -> None:
    url = f"{mirror_url}/dists/{config.SUITE}/Release"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=15):
            return
    except (urllib.error.URLError, OSError) as e:
        raise RoostError(f"cannot reach the Debian mirror {mirror_url} ({e})",
                         "the lab is built with debootstrap; set ROOST_LAB_MIRROR to a reachable mirror") from e  # fmt: skip


def check_alone(machine: Machine) -> None:
    """Labs share the machine's network (registry on :5000, app ports): one at a time."""
    others = [m.name for m in all_machines() if m.name != machine.name and m.running]
    if others:
        raise RoostError(f"lab {others[0]} is running; labs share this machine's network, so only one runs at a time",
                         f"`roost lab stop {others[0]}` (keeps its disk) or use it: --name {others[0]}")  # fmt: skip
    host, port = config.REGISTRY.rsplit(":", 1)
    with socket.socket() as s:
        if s.connect_ex((host, int(port))) == 0:
            raise RoostError(f"{config.REGISTRY} is in use on this machine; the lab's registry needs it",
                             f"stop whatever listens there (`ss -ltnp 'sport = {port}'`), or set "
                             "ROOST_LAB_REGISTRY=127.0.0.1:PORT (the test images are then named after it)")  # fmt: skip


def run_jobs_in_parallel(*jobs: Callable[[], object]) -> None:
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = [pool.submit(j) for j in jobs]
    for f in futures:
        f.result()  # re-raises the first failure


def up(name: str, *, quiet: bool = False) -> Machine:
    """Build (once), boot and provision the lab NAME; a no-op beyond a roost reinstall when
    it is already running."""
    preflight()
    machine = Machine(name)
    mirror_url = rootfs.mirror()
    if not machine.running:
        check_alone(machine)
    with Phases(quiet) as ph:
        built: dict[str, wheels.Wheels] = {}

        def make_wheels() -> None:
            with ph.phase("wheels", "building wheels"):
                built["w"] = wheels.build(machine.dir / "wheels")

        if not machine.running:
            if not machine.exists:
                _create(machine, mirror_url, ph, make_wheels)
            else:
                make_wheels()
            with ph.phase("boot", "booting") as notes:
                notes.append(boot(machine))
        else:
            make_wheels()
            with ph.phase("boot", "checking") as notes:
                notes.append(f"already {machine.wait_running()}")
        with ph.phase("install", "installing roost") as notes:
            notes.append("installed" if wheels.install(machine, built["w"]) else "unchanged")
        with ph.phase("images", "test images") as notes:
            notes.append("built and pushed" if images.ensure_images(machine, mirror_url) else "present")
    if not quiet:
        took = time.monotonic() - ph.started
        console.print(f"lab [bold]{name}[/] is up after {took:.0f}s. Try: roost lab shell {name}")
    return machine


def _create(machine: Machine, mirror_url: str, ph: Phases, make_wheels: Callable[[], None]) -> None:
    """A new machine: cached rootfs (built if needed, the image base alongside), then a copy."""
    key = images.images_key(mirror_url)
    need_rootfs = not rootfs.lab_cached(mirror_url)
    need_base = not images.registry_cached(key) and not rootfs.base_cached(mirror_url)
    if need_rootfs or need_base:
        check_mirror(mirror_url)

    def lab_rootfs() -> None:
        with ph.phase("rootfs", "debootstrap of the lab") as notes:
            notes.append("built" if rootfs.ensure_lab_rootfs(mirror_url) else "cached")

    def image_base() -> None:
        with ph.phase("base", "debootstrap of the image base") as notes:
            notes.append("built" if rootfs.ensure_base_tar(mirror_url) else "cached")

    run_jobs_in_parallel(lab_rootfs, make_wheels, *([image_base] if need_base else []))
    with ph.phase("copy", "copying the rootfs") as notes:
        machine.dir.mkdir(parents=True, exist_ok=True)
        tmp = machine.dir / "rootfs.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        # ext4 has no reflinks; a plain cp -a of ~600 MB takes ~2 s here (measured against tar|tar).
        run(["cp", "-a", "--reflink=auto", str(rootfs.LAB_ROOTFS), str(tmp)], what="copying the lab rootfs")
        tmp.rename(machine.rootfs)
        if images.seed_registry(machine, key):
            notes.append("with cached images")


def boot(machine: Machine) -> str:
    """Boot a stopped machine and wait until systemd is up: 'running' or 'degraded'."""
    check_alone(machine)
    rootfs.personalize(machine.rootfs, machine.name)
    machine.boot()
    return machine.wait_running()


def reboot(machine: Machine) -> str:
    machine.poweroff()
    return boot(machine)


def down(machine: Machine) -> None:
    machine.poweroff()
    if machine.dir.exists():
        shutil.rmtree(machine.dir)


def copy_into(machine: Machine, src: Path, dest: str) -> None:
    """Copy a directory from the machine into the lab (replacing what was there)."""
    target = machine.rootfs / dest.lstrip("/")
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(src, target, symlinks=True, ignore=shutil.ignore_patterns(".git", "__pycache__", ".venv"))
