"""The URL file: the user's list beside the spec, and root's copy (/var/lib/roost/apps/NAME/notify.urls)."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

import roost.units as units
from roost.layout import APPS_DIR

if TYPE_CHECKING:
    from roost.spec.model import Spec


URLS_FILE = "notify.urls"
URL_KEY = "NOTIFY_URL_"  # the stored file is KEY=VALUE lines, so that plan diffs mask it like an env file


def state_dir(name: str) -> str:
    """Root's own folder of the app (root only): notify.urls, notify-sent.json."""
    return os.path.join(APPS_DIR, name)


def urls_path(name: str) -> str:
    return os.path.join(state_dir(name), URLS_FILE)


def read_notify_urls(spec: Spec, spec_path) -> tuple[str, ...]:
    """The URLs in the file the spec's [notify] names, beside the spec (read by root at apply)."""
    if spec.notify is None:
        return ()
    from roost.spec.beside import read_beside

    path = spec_path.parent / spec.notify.urls_file
    text = read_beside(spec_path, spec.notify.urls_file, "notify.urls_file")  # no links out, FIFOs, huge files
    return tuple(parse_urls_file(text, str(path)))


def notify_watch_active(host, name: str) -> bool:
    return host.run(["systemctl", "is-active", "--quiet", units.notify_path(name)], check=False).ok


def parse_urls_file(text: str, source: str) -> list[str]:
    """The user's file: one URL per line, # comments and blank lines ignored."""
    from roost.errors import UsageError

    urls = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not re.match(r"^[a-z][a-z0-9+.-]*://\S+\Z", line):
            raise UsageError(f"{source}:{number}: not a notification URL (scheme://...)",
                             hint="one Apprise URL per line, e.g. ntfys://TOKEN@ntfy.sh/topic")
        urls.append(line)
    if not urls:
        raise UsageError(f"{source}: no notification URL in it", hint="one Apprise URL per line")
    return urls


def render_stored(urls: list[str]) -> str:
    return "".join(f"{URL_KEY}{i}={u}\n" for i, u in enumerate(urls, 1))


def read_stored(name: str) -> list[str]:
    try:
        with open(urls_path(name)) as fh:
            text = fh.read(65536)
    except FileNotFoundError:
        return []
    return [line.split("=", 1)[1] for line in text.splitlines() if line.startswith(URL_KEY) and "=" in line]
