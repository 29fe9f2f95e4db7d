"""notes: keeps short notes in PostgreSQL. Standard library + psycopg only.

  GET /        every note's text, one per line (text/plain)
  POST /       form field `text` adds a note (303 to /)
  GET /status  200 while the database answers, 503 otherwise
  GET /version the NOTES_VERSION it runs
  GET /whoami  the client address it was given: `peer`, `x-forwarded-for`, `x-forwarded-proto`,
               `x-forwarded-host`, `x-real-ip`, one `name: value` per line
  GET /ws      a WebSocket (RFC 6455) that echoes every text or binary message back

Env: DATABASE_URL (postgres://user:pass@localhost:5432/db), PORT (3000), NOTES_VERSION,
NOTES_BROKEN (non-empty: /status always fails, a release that never gets healthy).
"""

import base64
import hashlib
import os
import signal
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import psycopg

DATABASE_URL = os.environ.get("DATABASE_URL", "")
PORT = int(os.environ.get("PORT", "3000"))
VERSION = os.environ.get("NOTES_VERSION", "")
BROKEN = bool(os.environ.get("NOTES_BROKEN"))
ready = threading.Event()
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3


def connect() -> psycopg.Connection:
    return psycopg.connect(DATABASE_URL, connect_timeout=3, autocommit=True)


def prepare_database() -> None:
    """Create the table once the database answers; retry until it does."""
    while True:
        try:
            with connect() as db:
                db.execute("CREATE TABLE IF NOT EXISTS notes (id serial PRIMARY KEY, text text NOT NULL)")
            ready.set()
            print("notes: database ready", flush=True)
            return
        except psycopg.Error as e:
            print(f"notes: waiting for the database: {str(e).strip()}", file=sys.stderr, flush=True)
            time.sleep(0.5)


class Handler(BaseHTTPRequestHandler):
    def reply(self, code: int, body: str, headers: dict[str, str] | None = None) -> None:
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        if VERSION:
            self.send_header("X-Notes-Version", VERSION)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/status":
            self.status()
        elif self.path == "/version":
            self.reply(200, f"{VERSION}\n")
        elif self.path == "/whoami":
            names = ("x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-real-ip")
            lines = [f"peer: {self.client_address[0]}"] + [f"{n}: {self.headers.get(n, '')}" for n in names]
            self.reply(200, "".join(line + "\n" for line in lines))
        elif self.path == "/ws":
            self.websocket_echo()
        elif self.path == "/":
            if not ready.is_set():
                return self.reply(503, "database not ready\n")
            with connect() as db:
                rows = db.execute("SELECT text FROM notes ORDER BY id").fetchall()
            self.reply(200, "".join(f"{text}\n" for (text,) in rows))
        else:
            self.reply(404, "not found\n")

    def websocket_echo(self) -> None:
        key = self.headers.get("Sec-WebSocket-Key", "")
        if self.headers.get("Upgrade", "").lower() != "websocket" or not key:
            return self.reply(400, "websocket upgrade expected\n")
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.protocol_version = "HTTP/1.1"  # an upgrade is an HTTP/1.1 exchange
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        while (frame := self.read_frame()) is not None:
            opcode, payload = frame
            if opcode == 0x8:  # close: answer it and stop
                self.write_frame(0x8, payload[:2])
                return
            if opcode == 0x9:  # ping
                self.write_frame(0xA, payload)
            elif opcode in (0x1, 0x2):
                self.write_frame(opcode, payload)

    def read_frame(self) -> tuple[int, bytes] | None:
        head = self.rfile.read(2)
        if len(head) < 2:
            return None
        opcode, length = head[0] & 0x0F, head[1] & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self.rfile.read(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self.rfile.read(8))
        mask = self.rfile.read(4) if head[1] & 0x80 else b"\0\0\0\0"
        data = self.rfile.read(length)
        return opcode, bytes(b ^ mask[i % 4] for i, b in enumerate(data))

    def write_frame(self, opcode: int, payload: bytes) -> None:
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, n)
        elif n < 1 << 16:
            head = struct.pack("!BBH", 0x80 | opcode, 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
        self.wfile.write(head + payload)
        self.wfile.flush()

    def status(self) -> None:
        if BROKEN:
            return self.reply(500, f"broken release {VERSION}\n")
        if not ready.is_set():
            return self.reply(503, "database not ready\n")
        try:
            with connect() as db:
                db.execute("SELECT 1")
        except psycopg.Error as e:
            return self.reply(503, f"database unavailable: {str(e).strip()}\n")
        self.reply(200, f"ok {VERSION}\n".replace(" \n", "\n"))

    def do_POST(self) -> None:
        if self.path != "/":
            return self.reply(404, "not found\n")
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode())
        text = (form.get("text") or [""])[0].strip()
        if not text or "\n" in text:
            return self.reply(400, "form field `text` (one line) is required\n")
        if not ready.is_set():
            return self.reply(503, "database not ready\n")
        with connect() as db:
            db.execute("INSERT INTO notes (text) VALUES (%s)", (text,))
        self.reply(303, "added\n", {"Location": "/"})

    def log_message(self, format: str, *args: object) -> None:
        print(f"notes: {self.address_string()} {format % args}", flush=True)


if __name__ == "__main__":
    # As PID 1 in its container, SIGTERM would be ignored without a handler.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    threading.Thread(target=prepare_database, daemon=True).start()
    server = ThreadingHTTPServer(("", PORT), Handler)
    print(f"notes {VERSION}: listening on :{PORT}", flush=True)
    server.serve_forever()
