"""Notifications through Apprise when something goes wrong with an app.

The URLs are secrets: `roost apply` copies them from the file the spec names into
/var/lib/roost/apps/NAME/notify.urls (root, 0600). Root sends directly (`roost update`).
The app's user cannot read them, so its units (a container's OnFailure=, the nightly update's
ExecStopPost=, a scheduled backup) hand a small JSON event to root through a spool directory
of its own, /var/lib/roost/spool/NAME; the system unit roost-notify@NAME.path starts
roost-notify@NAME.service (root), which reads the events as untrusted input: without
following links, regular files only, bounded in size and number, strictly validated, and
the text escaped. Root writes the message itself from a fixed template.

One concern a module: `urls` (the user's URL file and root's copy), `events` (the kinds, an event
validated, the message), `sending` (root sends, throttled; `emit` sends or spools), `user_spool` (the
app's user hands an event over), `root_spool` (root reads the spool and flushes it), `nightly` (what the
nightly update amounts to). Everything is importable from `roost.notify`; a test that moves the spool
patches `roost.notify.user_spool.SPOOL_ROOT`, the one every function reads.
"""

from __future__ import annotations

from roost.notify.events import MAX_DETAIL, ROOT_KINDS, USER_KINDS, Event, clean, message, parse_event
from roost.notify.nightly import history_lines, lock_problem, nightly_outcome, since
from roost.notify.root_spool import EVENT_NAME, MAX_EVENT_BYTES, MAX_EVENTS, TMP_GRACE_S, flush, read_spool
from roost.notify.sending import SENT_FILE, THROTTLE_S, emit, emit_for_update, send
from roost.notify.urls import (
    URL_KEY,
    URLS_FILE,
    notify_watch_active,
    parse_urls_file,
    read_notify_urls,
    read_stored,
    render_stored,
    state_dir,
    urls_path,
)
from roost.notify.user_spool import SPOOL_ROOT, spool, spool_dir

__all__ = ["EVENT_NAME", "MAX_DETAIL", "MAX_EVENTS", "MAX_EVENT_BYTES", "ROOT_KINDS", "SENT_FILE", "SPOOL_ROOT",
           "THROTTLE_S", "TMP_GRACE_S", "URLS_FILE", "URL_KEY", "USER_KINDS", "Event", "clean", "emit",
           "emit_for_update", "flush", "history_lines", "lock_problem", "message", "nightly_outcome",
           "notify_watch_active", "parse_event", "parse_urls_file", "read_notify_urls", "read_spool", "read_stored",
           "render_stored", "send", "since", "spool", "spool_dir", "state_dir", "urls_path"]
