"""Unauthenticated resource exhaustion against a running ``reporta serve`` (SQLite, one web process with
processing inside): what big headers, half-open connections and slow-loris clients cost it, and whether
``/healthz`` keeps answering. Nothing here is signed: anyone on the internet can do it.

1. **big headers**: ``--clients`` clients at once each send a request whose header grows to ``--header-mb``
   MB (64 KiB per write, as fast as the server reads); reported: how many bytes the server took before hanging up,
   the web process's resident memory before and at its peak, and ``/healthz`` latency meanwhile;
2. **half-open**: ``--half-open`` connections that send nothing; reported: how long until the server closed them
   all, and what ``/healthz`` answered meanwhile (503 past ``REPORTA_SERVER_MAX_CONNECTIONS`` is the cap working);
3. **slow loris**: ``--clients`` clients sending a header one byte every 0.5 s; reported: when they were cut off.

    .venv/bin/python benchmarks/exhaustion_bench.py
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Probe:
    """``/healthz`` every 0.1 s in a thread: worst latency and the statuses seen."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/healthz"
        self.worst = 0.0
        self.statuses: dict[int, int] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            t = time.monotonic()
            try:
                status = httpx.get(self.url, timeout=30).status_code
            except httpx.HTTPError:
                status = 0
            self.worst = max(self.worst, time.monotonic() - t)
            self.statuses[status] = self.statuses.get(status, 0) + 1
            self.stop.wait(0.1)

    def __enter__(self) -> Probe:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(35)


def big_header(port: int, mb: int, accepted: list[int]) -> None:
    sent = 0
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
            chunk = b"a" * 65536
            for _ in range(mb * 16):
                s.sendall(chunk)
                sent += len(chunk)
    except OSError:
        pass
    accepted.append(sent)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--header-mb", type=int, default=16)
    ap.add_argument("--half-open", type=int, default=2000)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="reporta-exhaust-"))
    port = 20000 + random.randint(0, 999)
    env = dict(os.environ, REPORTA_DATABASE_URL=f"sqlite:///{work / 'r.db'}", REPORTA_VAR_DIR=str(work),
               REPORTA_SCHEDULER_ENABLED="false", REPORTA_LOG_LEVEL="WARNING", PYTHONPATH=str(ROOT))
    server = subprocess.Popen([sys.executable, "-m", "reporta.cli", "serve", "--port", str(port), "--processors",
                               "0"], env=env, cwd=str(ROOT), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 90
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline or server.poll() is not None:
                raise SystemExit("reporta serve did not start")
            time.sleep(0.3)
        time.sleep(1)
        before = rss_mb(server.pid)
        peak = before
        accepted: list[int] = []
        with Probe(port) as probe:
            threads = [threading.Thread(target=big_header, args=(port, args.header_mb, accepted))
                       for _ in range(args.clients)]
            for t in threads:
                t.start()
            while any(t.is_alive() for t in threads):
                peak = max(peak, rss_mb(server.pid))
                time.sleep(0.05)
        print(f"big headers: {args.clients} clients × {args.header_mb} MB: the server took at most "
              f"{max(accepted) / 1024:.0f} KiB from one before hanging up; web process {before:.0f} → peak "
              f"{peak:.0f} MB; /healthz worst {probe.worst * 1000:.0f} ms, answers {probe.statuses}")

        socks: list[socket.socket] = []
        with Probe(port) as probe:
            opened = time.monotonic()
            for _ in range(args.half_open):
                try:
                    socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
                except OSError:
                    break
            for s in socks:
                s.setblocking(False)
            open_left = len(socks)
            while open_left and time.monotonic() - opened < 120:
                open_left = 0
                for s in socks:
                    try:
                        if s.recv(1) != b"":
                            open_left += 1
                    except BlockingIOError:
                        open_left += 1
                    except OSError:
                        pass
                time.sleep(0.2)
            held = time.monotonic() - opened
        for s in socks:
            s.close()
        print(f"half-open: {len(socks)} connections opened, all closed by the server after {held:.1f} s "
              f"({open_left} still open); /healthz meanwhile {probe.statuses}, worst {probe.worst * 1000:.0f} ms")

        loris = []
        started = time.monotonic()
        for _ in range(args.clients):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            loris.append(s)
        cut: list[float] = []
        payload = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
        for i in range(len(payload)):
            alive = []
            for s in loris:
                try:
                    s.sendall(payload[i:i + 1])
                    alive.append(s)
                except OSError:
                    cut.append(time.monotonic() - started)
            loris = alive
            if not loris:
                break
            time.sleep(0.5)
        for s in loris:
            s.close()
        print(f"slow loris: {args.clients} clients at 1 byte / 0.5 s: {len(cut)} cut off, the last after "
              f"{max(cut) if cut else float('nan'):.1f} s")
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
