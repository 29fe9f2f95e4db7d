"""Runs INSIDE the lab (its python3, stdlib only): times command sequences where they run,
so that the nsenter round trip from the machine is not part of any figure.

    python3 timer.py '{"cmds": [["roost", "--version"]], "repeat": 5, "warmup": 1,
                       "wait_http": "http://127.0.0.1:8388/status", "timeout": 300}'

Prints one JSON object: {"runs": [seconds, ...], "warmup": [...], "failures": [...]}.
A run is every command of `cmds` in order (each must exit 0 unless "check" is false), then,
if `wait_http` is given, polling that URL every 50 ms until it answers 200.
"""

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def one(job: dict) -> tuple[float, str | None]:
    started = time.monotonic()
    for argv in job["cmds"]:
        cp = subprocess.run(argv, capture_output=True, text=True, timeout=job.get("timeout", 600))
        if cp.returncode != 0 and job.get("check", True):
            return time.monotonic() - started, f"{' '.join(argv)} -> exit {cp.returncode}: {(cp.stderr or cp.stdout)[-800:]}"
    url = job.get("wait_http")
    if url:
        deadline = started + job.get("timeout", 600)
        while not http_ok(url):
            if time.monotonic() > deadline:
                return time.monotonic() - started, f"{url} did not answer 200"
            time.sleep(0.05)
    return time.monotonic() - started, None


def main() -> None:
    job = json.loads(sys.argv[1])
    out = {"runs": [], "warmup": [], "failures": []}
    for i in range(job.get("warmup", 0) + job.get("repeat", 1)):
        took, err = one(job)
        (out["warmup"] if i < job.get("warmup", 0) else out["runs"]).append(round(took, 4))
        if err:
            out["failures"].append(err)
            break
    print(json.dumps(out))


if __name__ == "__main__":
    main()
