"""An applied app, for the verbs that work on one after `apply`: update, backup, restore...

Everything comes from what apply recorded in root's own folder (/var/lib/roost/apps/NAME):
the record and the applied spec. Both are readable by the app user, so its own timers can
run roost too, but only root writes them: the copy in the app's home is never read here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from roost import history
from roost.errors import RoostError
from roost.host.facts import RunningImage, running_images
from roost.host.parse import SHOW_PROPS, parse_systemctl_show
from roost.host.runner import AppUser, Host, Result
from roost.layout import Layout, next_container
from roost.record import AppRecord, read_record
from roost.spec.load import parse_spec
from roost.spec.model import Spec, upstream


@dataclass
class App:
    record: AppRecord
    spec: Spec
    host: Host  # the seam: a Runner on a real host, a FakeHost in unit tests
    spec_text: str = ""  # the applied spec as written (roost reapply applies it again)

    @property
    def user(self) -> AppUser:
        return self.record.user

    @property
    def layout(self) -> Layout:
        return self.record.layout

    @classmethod
    def load(cls, name: str, host: Host) -> App:
        record = read_record(name, host)
        layout = record.layout
        text = host.read_file(layout.applied_spec)
        if text is None:
            raise RoostError(f"{layout.applied_spec} is missing (roost < 0.2 kept the applied spec in the app's home, "
                             "where the app's user could change it)",
                             hint=f"run `roost apply {record.spec_path or 'SPEC'}` for this app again")
        spec = parse_spec(text, layout.applied_spec)
        return cls(record, spec, host, text)

    # -- commands as the app user -------------------------------------------------------
    def podman(self, *args: str, mutates: bool = False, check: bool = True, stdin: str | None = None,
               timeout: float | None = None) -> Result:
        return self.host.run(["podman", *args], user=self.user, mutates=mutates, check=check, stdin=stdin,
                             timeout=timeout)

    def systemctl(self, *args: str, mutates: bool = False, check: bool = True, timeout: float | None = None) -> Result:
        if args and args[0] in ("stop", "restart"):
            own, standby = self.behind_door()
            if own & set(args) or standby & set(args):
                from roost.frontdoor.guard import close  # the port is free soon: the site answers 503 first

                close(self.host, self.spec.name, own=bool(own & set(args)), standby=bool(standby & set(args)))
        return self.host.run(["systemctl", "--user", *args], user=self.user, mutates=mutates, check=check,
                             timeout=timeout)

    def behind_door(self) -> tuple[set[str], set[str]]:
        """The units whose stop frees the port the site dials: (the own release's: the pod, or the
        container that publishes the site's port; the standby release's of a start-first update)."""
        own = {self.layout.pod_service}
        up = upstream(self.spec) if self.spec.web is not None else None
        publisher = self.spec.publisher(up) if up is not None else None
        if publisher is None:
            return own, set()
        return own | {self.service(publisher)}, {self.service(next_container(publisher))}

    # -- names --------------------------------------------------------------------------
    def service(self, container: str) -> str:
        return self.layout.container_service(container)

    def container_name(self, container: str) -> str:
        return f"{self.spec.name}-{container}"

    @property
    def services(self) -> list[str]:
        return [self.service(c) for c in self.spec.start_order()]

    # -- state --------------------------------------------------------------------------
    def running_images(self) -> dict[str, RunningImage]:
        """container -> the image it runs now."""
        return running_images(self.host, self.user, self.spec.name, self.spec.images)

    def local_image_id(self, ref: str) -> str | None:
        r = self.podman("image", "inspect", "--format", "{{.Id}}", ref, check=False)
        return r.stdout.strip() or None if r.ok else None

    def unit_states(self) -> dict:
        show = self.systemctl("show", "-p", ",".join(SHOW_PROPS), "--", self.layout.pod_service, *self.services,
                              check=False)
        return parse_systemctl_show(show.stdout)

    def healthy(self) -> tuple[bool, str]:
        """Every container's unit active and, where it has a health check, podman says healthy."""
        states = self.unit_states()
        for name in self.spec.start_order():
            st = states.get(self.service(name))
            if st is None or st.active != "active":
                return False, f"{self.service(name)} is {st.active if st else 'missing'}"
            if self.spec.containers[name].health:
                r = self.podman("healthcheck", "run", self.container_name(name), check=False)
                if not r.ok:
                    return False, f"{name} is unhealthy"
        return True, "every container is running and healthy"

    def restart(self, services: list[str], timeout: float) -> Result:
        self.systemctl("reset-failed", *services, mutates=True, check=False)
        return self.systemctl("restart", *services, mutates=True, check=False, timeout=timeout + 30)

    def record_history(self, action: history.Action, result: history.Outcome, **fields: Any) -> None:
        history.record(self.host, self.layout, self.record.uid, self.record.gid, action, result, **fields)

    def history(self) -> list[dict]:
        return history.read(self.host, self.layout)
