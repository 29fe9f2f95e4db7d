"""Health, start and restart: healthcheck, command and entrypoint, deploy, depends_on."""

from __future__ import annotations

import re
import shlex
from typing import Any

import roost.compose.runtime as runtime
from roost.compose.convert.base import ConverterBase, bad_text
from roost.compose.convert.draft import ContainerDraft, SpecDraft
from roost.compose.convert.tables import DEPLOY_KEYS
from roost.compose.load import YMap, YSeq
from roost.spec.model import check_text

# tools health tests often call that many images do not ship
MAYBE_MISSING = frozenset({"curl", "wget", "nc", "netcat", "ncat"})


def _duration(value: Any) -> float | None:
    """Compose durations (`1m30s`, `500ms`, `10s`, or a number of seconds) -> seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str):
        return None
    parts = re.findall(r"([0-9]+(?:\.[0-9]+)?)(ms|us|µs|ns|h|m|s)", value.strip())
    if not parts or "".join(a + b for a, b in parts) != value.strip():
        return None
    scale = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
    return sum(float(a) * scale[b] for a, b in parts)


def _spec_duration(seconds: float) -> str:
    ms = max(0, round(seconds * 1000))
    if ms % 3_600_000 == 0 and ms:
        return f"{ms // 3_600_000}h"
    if ms % 60_000 == 0 and ms:
        return f"{ms // 60_000}m"
    if ms % 1000 == 0:
        return f"{ms // 1000}s"
    return f"{ms}ms"


class LifecycleMixin(ConverterBase):
    """healthcheck, command and entrypoint, deploy per service, then depends_on across them."""

    def _health(self, svc: str, body: YMap, c: ContainerDraft) -> None:
        where = f"services.{svc}.healthcheck"
        hc = body.get("healthcheck")
        if hc is None:
            return
        if not isinstance(hc, YMap):
            self.add("dropped", body.at("healthcheck"), where, "not a mapping: ignored")
            return
        if runtime.boolean(hc.get("disable")):
            self.add("info", hc.at("disable"), where, "disabled: the container has no health check")
            return
        test = hc.get("test")
        cmd: str | None = None
        if isinstance(test, str):
            cmd = test
        elif isinstance(test, YSeq) and test.items:
            head = str(test.items[0])
            args = [str(a).rstrip("\n") for a in test.items[1:]]  # YAML's `|` ends a block with a newline
            if head == "NONE":
                self.add("info", hc.at("test"), where, "NONE: the image's health check is turned off")
                return
            if head == "CMD-SHELL" and args:
                cmd = " ".join(args)
            elif head == "CMD" and args:
                cmd = shlex.join(args)
            else:
                self.add("dropped", hc.at("test"), f"{where}.test", "test must start with CMD, CMD-SHELL or NONE")
                return
        elif "test" not in hc.items:
            self.add("approximated", hc.line, where,
                     "no `test`: the image's own health check still runs in podman, but roost does not know it, so "
                     "neither `requires` nor apply waits for it", "add a test command to make roost wait until healthy")
            return
        if cmd is None:
            return
        cmd = cmd.strip()
        if "\n" in cmd or "\r" in cmd:  # a script: joining its lines would change what it means
            self.add("dropped", hc.at("test"), f"{where}.test",
                     "a multi-line test cannot be written on one unit line: the container has no health check",
                     "put the script in a file (in the image or a mounted volume) and make the test run it")
            return
        if len(cmd) >= 2 and cmd[0] == cmd[-1] == '"':
            cmd = f"{cmd} "[:-1].strip('"')  # Quadlet would drop the quotes anyway
        try:
            check_text(cmd)
        except ValueError as e:
            self.add("dropped", hc.at("test"), f"{where}.test", f"the test {e}")
            return
        if cmd.endswith("\\") or not cmd:
            self.add("dropped", hc.at("test"), f"{where}.test", "the test cannot be written on one line")
            return
        # compose's defaults where the file says nothing (roost's own are shorter)
        health: dict[str, Any] = {"cmd": cmd, "interval": "30s", "timeout": "30s", "retries": 3, "start_period": "0s"}
        for key in ("interval", "timeout", "start_period"):
            if key in hc.items:
                seconds = _duration(hc.get(key))
                if seconds is None:
                    self.add("dropped", hc.at(key), f"{where}.{key}", f"{hc.get(key)!r} is not a duration")
                    continue
                seconds = min(seconds, 7 * 24 * 3600)
                if seconds <= 0 and key != "start_period":
                    continue  # 0 is compose's "default"
                health[key] = _spec_duration(seconds)
        if "retries" in hc.items:
            r = hc.get("retries")
            if isinstance(r, int) and not isinstance(r, bool):
                health["retries"] = max(1, min(100, r))
                if health["retries"] != r:
                    self.add("approximated", hc.at("retries"), f"{where}.retries", f"{r} -> {health['retries']}")
        if "start_interval" in hc.items:
            self.add("info", hc.at("start_interval"), f"{where}.start_interval",
                     "dropped: roost checks every second while the container starts")
        c.health = health
        self._health_tools(svc, hc, cmd)

    def _health_tools(self, svc: str, hc: YMap, cmd: str) -> None:
        """A test that runs a download or network tool: whether the image has it cannot be seen from the file (slim
        and distroless images often do not, and then the container never gets healthy)."""
        try:
            words = shlex.split(cmd)
        except ValueError:
            words = cmd.split()
        tools = sorted({w.rsplit("/", 1)[-1] for w in words} & MAYBE_MISSING)
        if tools:
            name = tools[0]
            self.add("review", hc.at("test"), f"services.{svc}.healthcheck.test",
                     f"the test runs {', '.join(f'`{t}`' for t in tools)} inside the container: whether the image has "
                     "it cannot be seen from the compose file (slim and distroless images often do not)",
                     f"if the container never gets healthy, check: roost run APP {svc} sh -c 'command -v {name}'; "
                     "else test with a tool the image has (the app's own binary, or a bash /dev/tcp probe)")

    def _command(self, svc: str, body: YMap, c: ContainerDraft) -> bool:
        """Command and entrypoint; False when one of them cannot be carried over while the other
        is there: an entrypoint without its command (or the reverse) runs something else."""
        where = f"services.{svc}"
        command = self._args(body, "command", where)
        entrypoint = self._args(body, "entrypoint", where)
        lost = [k for k, v in (("command", command), ("entrypoint", entrypoint)) if v is False]
        kept = [k for k, v in (("command", command), ("entrypoint", entrypoint)) if v not in (None, False)]
        if lost and kept:
            self.add("dropped", body.at(lost[0]), where,
                     f"service not imported: its {lost[0]} cannot be carried over, and its {kept[0]} alone would run "
                     "something else",
                     f"put the {lost[0]} in a script (in the image or a mounted file) and import again")
            return False
        if isinstance(command, list):
            c.command = command
        if isinstance(entrypoint, list):
            c.entrypoint = entrypoint
        return True

    def _args(self, body: YMap, key: str, where: str) -> list[str] | bool | None:
        """The arguments of `command` or `entrypoint`; None when absent, False when they cannot be
        written into a unit file (reported)."""
        value = body.get(key)
        if value is None:
            return None
        args: list[str] | None = None
        if isinstance(value, str):
            try:
                args = shlex.split(value)
            except ValueError:
                self.add("dropped", body.at(key), f"{where}.{key}", "cannot be split into arguments")
                return False
        elif isinstance(value, YSeq):
            # a folded (>) or literal (|) item ends with the newline YAML adds: not part of the argument
            args = ["" if a is None else str(a).rstrip("\n") for a in value.items]
        if args is None or (key == "command" and not args) or any(not a or bad_text(a) for a in args):
            self.add("dropped", body.at(key), f"{where}.{key}",
                     f"the {key} has an empty or multi-line argument, which cannot be passed through a unit file",
                     "wrap it in a script inside the image or a mounted file")
            return False
        return args

    def _deploy(self, svc: str, body: YMap) -> None:
        deploy = body.get("deploy")
        if not isinstance(deploy, YMap):
            return
        where = f"services.{svc}.deploy"
        for key in deploy.items:
            if key not in DEPLOY_KEYS:
                self.add("dropped", deploy.at(key), f"{where}.{key}", f"`{key}` is not modelled (a swarm setting)")
        replicas = deploy.get("replicas")
        if replicas is not None and replicas != 1:
            self.add("approximated", deploy.at("replicas"), f"{where}.replicas",
                     f"{replicas} replicas -> one container", "run more workers inside it if the image allows")
        resources = deploy.get("resources")
        if isinstance(resources, YMap):
            for key in resources.items:
                if key != "limits":
                    self.add("dropped", resources.at(key), f"{where}.resources.{key}",
                             f"`{key}` is not modelled (roost sets limits, not reservations or devices)")

    def _requires(self, services: YMap, names: dict[str, str], draft: SpecDraft) -> None:
        for svc, body in services.items.items():
            cname = names.get(svc)
            if cname not in draft.containers or not isinstance(body, YMap):
                continue
            deps = body.get("depends_on")
            where = f"services.{svc}.depends_on"
            entries: list[tuple[str, str, int]] = []
            if isinstance(deps, YSeq):
                entries = [(str(d), "service_started", deps.at(i)) for i, d in enumerate(deps.items)]
            elif isinstance(deps, YMap):
                for dep, spec in deps.items.items():
                    cond = spec.get("condition", "service_started") if isinstance(spec, YMap) else "service_started"
                    entries.append((dep, str(cond), deps.at(dep)))
                    if isinstance(spec, YMap) and spec.get("required") is False:
                        self.add("approximated", deps.at(dep), where, f"{dep}: required: false -> required")
            c = draft.containers[cname]
            for dep, cond, line in entries:
                target = names.get(dep)
                if target not in draft.containers:
                    self.add("dropped", line, where, f"{dep} is not imported: dependency dropped")
                    continue
                if target == cname or target in c.requires:
                    continue
                c.requires.append(target)
                has_health = draft.containers[target].health is not None
                if cond == "service_healthy" and not has_health:
                    self.add("approximated", line, where,
                             f"{dep}: service_healthy, but {dep} has no health check roost knows: waits until started",
                             f"add a health check to {target}")
                elif cond == "service_completed_successfully":
                    self.add("approximated", line, where,
                             f"{dep}: service_completed_successfully -> requires (roost restarts every container, "
                             "so a one-shot task runs again and again)",
                             f"run {target}'s task by hand (roost shell) or fold it into the app's start")
                elif cond == "service_started" and has_health:
                    self.add("info", line, where,
                             f"{dep}: service_started -> requires, which also waits until {target} is healthy")
        # a cycle would make the spec invalid: break it where it closes
        from roost.spec.model import _find_cycle

        while True:
            cycle = _find_cycle({n: tuple(c.requires) for n, c in draft.containers.items()})
            if not cycle:
                break
            a, b = cycle[-2], cycle[-1]
            draft.containers[a].requires.remove(b)
            self.add("dropped", draft.containers[a].line, f"services.{draft.containers[a].service}.depends_on",
                     f"{a} -> {b} dropped: the dependencies form a cycle")
