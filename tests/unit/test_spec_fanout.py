"""Where a spec key has to go: one table, one row per key of the spec model, one entry per place.

A key added to spec/model.py (or frontdoor/model.py) fails here until its row says, for every place
below, that the place carries it (`H`), reports it where it is lost (`noted(...)`), or why it has no
meaning there (`na(...)`). Entries are checked against the places' text, so a row cannot claim a
place reads a key it never mentions. docs/spec.md is checked by test_spec_docs (every key has its
section); the checklist that goes with this table is in CONTRIBUTING.md ("Adding a spec key")."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from roost.spec.model import Spec
from tests.unit.test_spec_docs import model_paths

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "roost"

# place -> (what it is, the files whose text is checked)
PLACES: dict[str, tuple[str, tuple[str, ...]]] = {
    "apply": ("apply: rendered units and files, the planner (src/roost/render/, plan/, frontdoor/, ...)",
              ("render/*.py", "plan/*.py", "frontdoor/*.py", "apply.py", "layout.py", "backup.py", "notify/*.py",
               "pgmajor.py", "offsite/*.py")),
    "kube": ("roost export kube (src/roost/kube/)", ("kube/*.py",)),
    "compose_import": ("roost import, compose -> draft (src/roost/compose/convert/)", ("compose/convert/*.py",)),
    "compose_write": ("roost import, draft -> spec TOML (src/roost/compose/write.py)", ("compose/write.py",)),
    "docs_kube": ("docs/kubernetes.md, what each part of the spec becomes", ("../../docs/kubernetes.md",)),
    "docs_import": ("docs/import.md, what each compose key becomes", ("../../docs/import.md",)),
}


@dataclass(frozen=True)
class Entry:
    kind: str  # "handled", "noted" or "na"
    why: str = ""
    via: str = ""  # the name the place reads the key by, when not its own (a derived property)

    def __call__(self, via: str) -> Entry:
        return Entry(self.kind, self.why, via)


H = Entry("handled")  # the place carries the key over; H("prop"): it reads it through `prop`


def noted(why: str, via: str = "") -> Entry:
    """The place cannot carry the key and says so where it happens (a note, a report finding)."""
    return Entry("noted", why, via)


def na(why: str) -> Entry:
    """The key means nothing at this place (no loss to report): say why."""
    return Entry("na", why)


NO_COMPOSE = na("compose has no such setting")
NOT_IMPORTED = na("the import never sets it")
HOST_ONLY = na("host-only: nothing a pod or cluster has")

FANOUT: dict[str, dict[str, Entry]] = {
    "app.name": dict(apply=H, kube=H, compose_import=H, compose_write=H, docs_kube=H, docs_import=H),
    "app.uid": dict(apply=H, kube=na("a cluster assigns user IDs; runAsUser comes from --non-root"),
                    compose_import=NO_COMPOSE, compose_write=NOT_IMPORTED, docs_kube=HOST_ONLY, docs_import=NO_COMPOSE),
    "app.gid": dict(apply=H, kube=na("a cluster assigns group IDs"), compose_import=NO_COMPOSE,
                    compose_write=NOT_IMPORTED, docs_kube=HOST_ONLY, docs_import=NO_COMPOSE),
    "app.home": dict(apply=H, kube=H, compose_import=na("volumes are written relative to the home, wherever it is"),
                     compose_write=NOT_IMPORTED, docs_kube=H, docs_import=H),
    "app.allow_host_paths": dict(
        apply=na("a rule of the spec itself (spec.model.cross_check); nothing to render"),
        kube=na("the volumes it allows are exported or noted under containers.<name>.volumes"),
        compose_import=noted("binds become findings that say what to add here by hand; the import never fills it"),
        compose_write=NOT_IMPORTED, docs_kube=na("see volumes outside the home"), docs_import=H),
    "app.health_timeout": dict(apply=H("health_timeout_s"), kube=H, compose_import=NO_COMPOSE,
                               compose_write=NOT_IMPORTED, docs_kube=H, docs_import=NO_COMPOSE),
    "pod.publish": dict(apply=H, kube=H, compose_import=H, compose_write=H, docs_kube=H, docs_import=H),
    "pod.hosts": dict(apply=H, kube=H, compose_import=H, compose_write=H, docs_kube=H, docs_import=H),
    "backup.keep": dict(apply=H, kube=na("roost's backups stay on the host (backup.schedule is noted)"),
                        compose_import=NO_COMPOSE, compose_write=NOT_IMPORTED, docs_kube=na("see backup.schedule"),
                        docs_import=NO_COMPOSE),
    "backup.schedule": dict(apply=H, kube=noted("the timer runs on the host only"), compose_import=NO_COMPOSE,
                            compose_write=NOT_IMPORTED, docs_kube=H, docs_import=NO_COMPOSE),
    "backup.offsite.repository": dict(apply=H, kube=na("offsite copies are made by roost on the host (backup.schedule is noted)"),
        compose_import=NO_COMPOSE, compose_write=NOT_IMPORTED, docs_kube=na("see backup.schedule"),
        docs_import=NO_COMPOSE),
    "backup.offsite.keep.daily": dict(apply=H, kube=na("offsite copies are made by roost on the host (backup.schedule is noted)"),
        compose_import=NO_COMPOSE, compose_write=NOT_IMPORTED, docs_kube=na("see backup.schedule"),
        docs_import=NO_COMPOSE),
    "backup.offsite.keep.weekly": dict(apply=H, kube=na("offsite copies are made by roost on the host (backup.schedule is noted)"),
        compose_import=NO_COMPOSE, compose_write=NOT_IMPORTED, docs_kube=na("see backup.schedule"),
        docs_import=NO_COMPOSE),
    "backup.offsite.keep.monthly": dict(apply=H, kube=na("offsite copies are made by roost on the host (backup.schedule is noted)"),
        compose_import=NO_COMPOSE, compose_write=NOT_IMPORTED, docs_kube=na("see backup.schedule"),
        docs_import=NO_COMPOSE),
    "backup.offsite.upload_limit": dict(apply=H, kube=na("offsite copies are made by roost on the host (backup.schedule is noted)"),
        compose_import=NO_COMPOSE, compose_write=NOT_IMPORTED, docs_kube=na("see backup.schedule"),
        docs_import=NO_COMPOSE),
    **{f"app.limits.{k}": dict(apply=H("service_entries"), kube=noted("a ceiling on the host's user slice; give the namespace a ResourceQuota"),
                               compose_import=na("compose limits are per service"), compose_write=NOT_IMPORTED,
                               docs_kube=H("app.limits"), docs_import=na("compose limits are per service"))
       for k in ("memory", "cpus", "pids")},
    **{f"containers.<name>.limits.{k}": dict(apply=H("service_entries"), kube=H, compose_import=H("limits"), compose_write=H("limits"),
                                             docs_kube=H, docs_import=H)
       for k in ("memory", "cpus")},
    "containers.<name>.limits.pids": dict(apply=H("service_entries"), kube=noted("a pod cannot set its own; the node's podPidsLimit applies"),
                                          compose_import=H("limits"), compose_write=H("limits"), docs_kube=H,
                                          docs_import=H),
    "containers.<name>.user": dict(apply=H, kube=H, compose_import=H, compose_write=H, docs_kube=H, docs_import=H),
    "containers.<name>.tmpfs": dict(apply=H, kube=H, compose_import=H, compose_write=H, docs_kube=H, docs_import=H),
    "containers.<name>.restart": dict(apply=H, kube=noted("a pod has one restart policy (Always)"), compose_import=H,
                                      compose_write=H, docs_kube=H, docs_import=H),
    # [network] (issue 18): the app's own network; a cluster runs the containers in one Pod as before
    "network.internal": dict(apply=H, kube=noted("a pod's network has a route out: a NetworkPolicy stands in"),
                             compose_import=noted("networks.X.internal is reported; set it by hand"),
                             compose_write=NOT_IMPORTED, docs_kube=H, docs_import=H),
    "containers.<name>.pod": dict(apply=H("in_pod"), kube=na("every container is in the one Pod anyway"),
                                  compose_import=na("the import gives each service a namespace of its own"),
                                  compose_write=NOT_IMPORTED, docs_kube=H,
                                  docs_import=na("the import gives each service a namespace of its own")),
    "containers.<name>.share_network_with": dict(apply=H, kube=na("every container shares the one Pod's namespace"),
                                                 compose_import=H("shares"), compose_write=H, docs_kube=H,
                                                 docs_import=H),
    "containers.<name>.publish": dict(apply=H("ports"), kube=H("ports"), compose_import=H("own_publish"),
                                      compose_write=H, docs_kube=H, docs_import=H),
    "containers.<name>.aliases": dict(apply=H, kube=na("names resolve through Services: noted with [network]"),
                                      compose_import=H, compose_write=H, docs_kube=H, docs_import=H),
    "containers.<name>.update": dict(apply=H("start_first"), kube=na("a cluster rolls out by the workload's strategy"),
                                     compose_import=na("deploy.update_config is a swarm setting, dropped with the "
                                                       "other deploy keys"),
                                     compose_write=NOT_IMPORTED, docs_kube=H,
                                     docs_import=na("compose's update_config is swarm's")),
    "notify.urls_file": dict(apply=H, kube=noted("notifications come from roost's units on the host"),
                             compose_import=NO_COMPOSE, compose_write=NOT_IMPORTED, docs_kube=H,
                             docs_import=NO_COMPOSE),
    "secrets.<name>.generate": dict(apply=H, kube=H("secrets"), compose_import=H("secrets"), compose_write=H,
                                    docs_kube=H, docs_import=H),
    "containers.<name>.image": dict(apply=H, kube=H, compose_import=H, compose_write=H, docs_kube=H, docs_import=H),
    "containers.<name>.auto_update": dict(apply=H, kube=H, compose_import=H, compose_write=H, docs_kube=H,
                                          docs_import=H),
    "containers.<name>.requires": dict(apply=H, kube=H, compose_import=H, compose_write=H, docs_kube=H,
                                       docs_import=H),
    "containers.<name>.env": dict(apply=H, kube=H, compose_import=H, compose_write=H, docs_kube=H, docs_import=H),
    "containers.<name>.env_file": dict(apply=H, kube=H("env_files"), compose_import=H, compose_write=H, docs_kube=H,
                                       docs_import=H),
    "containers.<name>.volumes": dict(apply=H, kube=H, compose_import=H, compose_write=H, docs_kube=H,
                                      docs_import=H),
    "containers.<name>.health.cmd": dict(apply=H("command"), kube=H, compose_import=H, compose_write=H("health"),
                                         docs_kube=H, docs_import=H),
    "containers.<name>.health.http": dict(apply=H, kube=H, compose_import=na("compose health checks are commands"),
                                          compose_write=NOT_IMPORTED, docs_kube=H, docs_import=NO_COMPOSE),
    **{f"containers.<name>.health.{k}": dict(apply=H, kube=H, compose_import=H, compose_write=H("health"),
                                             docs_kube=H, docs_import=H)
       for k in ("interval", "timeout", "retries", "start_period")},
    "containers.<name>.command": dict(apply=H, kube=H, compose_import=H, compose_write=H, docs_kube=H,
                                      docs_import=H),
    "containers.<name>.entrypoint": dict(apply=H, kube=H, compose_import=H, compose_write=H, docs_kube=H,
                                         docs_import=H),
    "containers.<name>.postgres": dict(apply=H("is_postgres"), kube=H("is_postgres"),
                                       compose_import=na("detected from the image name, as roost does"),
                                       compose_write=NOT_IMPORTED, docs_kube=H, docs_import=H),
    "containers.<name>.no_new_privileges": dict(
        apply=H, kube=H, compose_import=noted("security_opt no-new-privileges is roost's default: info",
                                              via="no-new-privileges"),
        compose_write=na("the import keeps roost's default (true)"), docs_kube=H, docs_import=H),
    "containers.<name>.cap_add": dict(apply=H("capabilities"), kube=H, compose_import=H, compose_write=H, docs_kube=H,
                                      docs_import=H),
    "containers.<name>.read_only": dict(apply=H, kube=H, compose_import=H, compose_write=H, docs_kube=H,
                                        docs_import=H),
    "web.domains": dict(apply=H, kube=H, compose_import=NO_COMPOSE, compose_write=NOT_IMPORTED, docs_kube=H,
                        docs_import=NO_COMPOSE),
    "web.port": dict(apply=H, kube=H, compose_import=NO_COMPOSE, compose_write=NOT_IMPORTED, docs_kube=H,
                     docs_import=NO_COMPOSE),
    "web.tls": dict(apply=H, kube=H, compose_import=NO_COMPOSE, compose_write=NOT_IMPORTED, docs_kube=H,
                    docs_import=NO_COMPOSE),
    **{f"web.{k}": dict(apply=H, kube=noted("the ingress controller's setting"), compose_import=NO_COMPOSE,
                        compose_write=NOT_IMPORTED, docs_kube=H, docs_import=NO_COMPOSE)
       for k in ("email", "hsts", "headers", "max_body")},
}

KEYS = sorted(p for p, leaf in model_paths(Spec).items() if leaf)


def _text(place: str) -> str:
    return "\n".join(p.read_text() for g in PLACES[place][1] for p in sorted(SRC.glob(g)))


TEXTS = {place: _text(place) for place in PLACES}


def mentions(place: str, name: str) -> bool:
    """Code reads `.name` or names it in quotes; a doc names it in backticks."""
    if place.startswith("docs_"):
        return re.search(rf"`[^`\n]*(?<![\w-]){re.escape(name)}(?![\w-])[^`\n]*`", TEXTS[place]) is not None
    return re.search(rf"\.{re.escape(name)}\b|[\"']{re.escape(name)}[\"']", TEXTS[place]) is not None


def test_every_spec_key_has_a_row():
    missing = [k for k in KEYS if k not in FANOUT]
    assert not missing, ("spec keys without a row in FANOUT (tests/unit/test_spec_fanout.py): " + ", ".join(missing)
                         + "\n  follow CONTRIBUTING.md 'Adding a spec key', then add the row")
    assert not set(FANOUT) - set(KEYS), f"rows for keys the spec no longer has: {sorted(set(FANOUT) - set(KEYS))}"


@pytest.mark.parametrize("key", KEYS)
def test_every_place_is_accounted_for(key):
    row = FANOUT.get(key, {})
    forgotten = [f"{place} ({what})" for place, (what, _) in PLACES.items() if place not in row]
    assert not forgotten, (f"{key}: no entry for " + "; ".join(forgotten)
                           + ": carry it there (H), or say why not: noted('...') / na('...')")
    assert not set(row) - set(PLACES), f"{key}: unknown places {sorted(set(row) - set(PLACES))}"
    for place, entry in row.items():
        assert entry.kind == "handled" or entry.why.strip(), f"{key}: {place}: say why it is not carried over"
        if entry.kind in ("handled", "noted"):
            name = entry.via or key.rsplit(".", 1)[1]
            assert mentions(place, name), (f"{key}: {PLACES[place][0]} is said to "
                                           f"{'carry' if entry.kind == 'handled' else 'report'} it, but never "
                                           f"mentions {name!r}: do it there, or correct the row")


def test_the_check_fails_for_a_place_that_never_mentions_the_key():
    assert mentions("kube", "image") and not mentions("kube", "no_such_key_anywhere")
    assert mentions("docs_kube", "requires") and not mentions("docs_kube", "no_such_key_anywhere")
