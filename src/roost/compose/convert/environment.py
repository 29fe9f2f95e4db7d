"""Environment and secrets: environment, env_file, and the credentials that become generated secrets."""

from __future__ import annotations

import posixpath
import re
from typing import Any

import roost.compose.secrets as sec
from roost.compose.convert.base import ConverterBase
from roost.compose.convert.draft import ContainerDraft, SpecDraft
from roost.compose.interpolate import parse_dotenv
from roost.compose.load import YMap, YSeq
from roost.errors import UsageError
from roost.spec.model import ENV_KEY_RE, check_text


class EnvironmentMixin(ConverterBase):
    """environment and env_file per service, then the credentials that become generated secrets."""

    def _env(self, svc: str, cname: str, body: YMap, c: ContainerDraft) -> None:
        where = f"services.{svc}.environment"
        env = body.get("environment")
        pairs: list[tuple[str, Any, int]] = []
        if isinstance(env, YMap):
            pairs = [(k, v, env.at(k)) for k, v in env.items.items()]
        elif isinstance(env, YSeq):
            for i, item in enumerate(env.items):
                text = "" if item is None else str(item)
                key, sep, value = text.partition("=")
                pairs.append((key, value if sep else None, env.at(i)))
        elif env is not None:
            self.add("dropped", body.at("environment"), where, "not a list or a mapping: ignored")
        for key, value, line in pairs:
            key = key.strip()
            if not ENV_KEY_RE.match(key):
                self.add("dropped", line, where, f"variable {key!r} dropped: not a valid name",
                         "roost passes names of letters, digits and '_': if the app reads this one (Spring's "
                         "dotted names), use its underscore form (SPRING_DATASOURCE_URL) or a config file")
                continue
            if value is None:  # `- KEY` / `KEY:`: compose passes the value of its own environment, if set
                if key in self.opts.env:
                    value = self.opts.env[key]
                    if key in self.opts.shell:
                        self.from_shell.append((key, line))
                else:
                    self.no_value.setdefault((line, key), []).append(svc)
                    continue
            if isinstance(value, bool):
                value = "true" if value else "false"
            value = str(value)
            try:
                check_text(value)
            except ValueError as e:
                self.add("dropped", line, f"{where}.{key}", f"{key} dropped: its value {e}",
                         "put it in a file in the app's home and mount it")
                continue
            if "${secrets." in value:  # would name a roost secret the spec does not declare
                self.add("dropped", line, f"{where}.{key}", f"{key} dropped: its value mentions ${{secrets.…}}",
                         "declare the secret in [secrets] and write the value in the spec")
                continue
            c.env[key] = value
            self.env_lines[(cname, key)] = line
        ef = body.get("env_file")
        files: list[tuple[str, bool, int]] = []
        if isinstance(ef, str):
            files.append((ef, True, body.at("env_file")))
        elif isinstance(ef, YSeq):
            for i, item in enumerate(ef.items):
                if isinstance(item, str):
                    files.append((item, True, ef.at(i)))
                elif isinstance(item, YMap) and isinstance(item.get("path"), str):
                    files.append((item.get("path"), item.get("required", True) is not False, ef.at(i)))
        for path, _, line in files:
            content = self.opts.read_env_file(path) if self.opts.read_env_file else None
            if content is None:
                self.unread_env_files.append((path, line))
                continue
            self._env_file_meaning(svc, path, content)
            for value in parse_dotenv(content, self.opts.env).values():
                self.env_file_values.add(value)
                self.env_file_values.update(m.group("pw") for m in sec.URL_PASSWORD_RE.finditer(value))
        for n, (path, required, line) in enumerate(files):
            if n > 0:
                self.add("dropped", line, f"services.{svc}.env_file",
                         f"{path}: a container reads one env file in roost",
                         f"merge {path} into {files[0][0]}")
                continue
            norm = posixpath.normpath(posixpath.join(self.opts.env_file_prefix, path))
            if path.startswith("/") or norm.startswith(".."):
                self.add("dropped", line, f"services.{svc}.env_file",
                         f"{path}: an env file must sit in the spec's folder", "copy it there and set env_file")
                continue
            c.env_file = norm
            c.notes["env_file"] = "read when you plan: it must exist beside the spec"
            self.add("review", line, f"services.{svc}.env_file",
                     f"env_file = {norm!r} (relative to the spec's folder)"
                     + ("" if required else "; compose's `required: false` is not modelled: the file must exist"),
                     "keep the file beside the spec")

    def _env_file_meaning(self, svc: str, path: str, content: str) -> None:
        """A finding on each line of an env file that roost (podman's --env-file: KEY=VALUE taken
        literally) reads otherwise than compose (quotes removed, ${VAR} interpolated, `export`)."""
        from roost.render.envfile import parse_env

        for number, raw in enumerate(content.splitlines(), start=1):
            if not raw.strip() or raw.lstrip().startswith("#"):
                continue
            try:
                compose = parse_dotenv(raw, self.opts.env)
            except UsageError:
                compose = {}
            try:
                ours: dict[str, str] | None = parse_env(raw)
            except ValueError:
                ours = None
            if ours == compose:
                continue
            key = next(iter(compose), raw.split("=")[0].strip())
            did = (f"{key}: roost refuses this line (plan and check stop)" if ours is None
                   else f"{key}: roost passes the value as written, compose reads it otherwise "
                        "(quotes, ${VAR} or a comment)")
            self.add("approximated", number, f"services.{svc}.env_file", did,
                     "write KEY=VALUE with the value exactly as the app should see it (no quotes, no export, "
                     "no ${VAR})", file=path)

    def _secrets(self, draft: SpecDraft) -> None:
        envs = {n: dict(c.env) for n, c in draft.containers.items()}
        plan = sec.find_secrets(envs, self.env_lines, self.env_file_values - {""})
        for n, c in draft.containers.items():
            c.env = plan.env[n]
        for f in plan.found:
            draft.secrets[f.name] = f.length
            where = ", ".join(p.describe() for p in f.places)
            why = {"placeholder": "a placeholder of the app's own secret",
                   "repeated literal": "a password the file repeats"}[f.reason]
            if len(f.places) == 1:
                todo = ("check that whatever uses it gets it from the spec: a client that relies on a built-in "
                        f"default would no longer match (the value is in ~/.config/roost/secrets/{f.name})")
            else:
                todo = (f"nothing to do: roost generates it on the first apply; to log in with it, read "
                        f"~/.config/roost/secrets/{f.name} in the app's home")
            self.add("approximated", f.places[0].line, f"secrets.{f.name}",
                     f"{why} -> generated secret ${{secrets.{f.name}}} ({f.length} letters and digits) in {where}", todo)
        # a health check or command that spells out a replaced value must use the variable instead
        for c in draft.containers.values():
            for name, value in plan.values.items():
                if not value:
                    continue
                token = re.compile(rf"(?<![\w.-]){re.escape(value)}(?![\w.-])")
                after_flag = re.compile(rf"(?P<pre>(?:^|\s)(?:-a|-p|--pass(?:word)?[ =]|PGPASSWORD=|MYSQL_PWD=)\s*)"
                                        rf"{re.escape(value)}(?![\w.-])")
                ref = f"${{secrets.{name}}}"
                var = next((k for k, v in c.env.items() if v == ref), None)
                if c.health and "cmd" in c.health and after_flag.search(c.health["cmd"]):
                    if var:
                        c.health["cmd"] = after_flag.sub(rf'\g<pre>"${var}"', c.health["cmd"])
                        self.add("approximated", c.lines["healthcheck"], f"services.{c.service}.healthcheck",
                                 f"the test reads the password from ${var} instead of spelling it out")
                    else:
                        self.add("review", c.lines["healthcheck"], f"services.{c.service}.healthcheck",
                                 f"the test spells out the value now generated as secrets.{name}",
                                 "make the test read it from an environment variable")
                if c.entrypoint and any(after_flag.search(a) or token.fullmatch(a) for a in c.entrypoint):
                    self.add("review", c.lines["entrypoint"], f"services.{c.service}.entrypoint",
                             f"the entrypoint spells out the value now generated as secrets.{name}",
                             "make it read the value from an environment variable")
                if c.command and any(after_flag.search(a) or token.fullmatch(a) for a in c.command):
                    self.add("review", c.lines["command"], f"services.{c.service}.command",
                             f"the command spells out the value now generated as secrets.{name}",
                             "make the command read it from an environment variable")
        for p in plan.held:
            self.add("review", p.line, f"services.{draft.containers[p.container].service}.environment.{p.key}",
                     "a credential left as written: an env file holds the same value, and an env file cannot "
                     "refer to a generated secret",
                     "keep the spec as private as that env file; if the value is a placeholder, change it in both")
        if plan.found and self.unread_env_files:
            paths = sorted({p for p, _ in self.unread_env_files})
            self.add("review", self.unread_env_files[0][1], "(env files)",
                     f"generated secrets replace values in this file only; not read: {', '.join(paths)}",
                     "if those env files repeat a replaced password, put it in the spec's env instead")
        for p in plan.clear:
            self.add("review", p.line, f"services.{draft.containers[p.container].service}.environment.{p.key}",
                     "a literal credential is written in the spec in clear",
                     "replace it with a generated secret: [secrets] NAME = { generate = 32 } and ${secrets.NAME}")
        for p in plan.weak:
            self.add("review", p.line, f"services.{draft.containers[p.container].service}.environment.{p.key}",
                     "a default password, written once, is kept: whatever connects to this service may rely on the "
                     "image's default (a DATABASE_URL built into the app)",
                     "change it here and wherever the app connects with it, or make both a generated secret")
        for p in plan.external:
            self.add("review", p.line, f"services.{draft.containers[p.container].service}.environment.{p.key}",
                     "placeholder for a credential of an outside service", "fill in the real value")
