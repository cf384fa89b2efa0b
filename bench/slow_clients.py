"""Slow clients against candidate servers: does ``GET /api/health`` still answer quickly?

For each candidate server (4 workers, production settings, a migrated SQLite database in a
temporary folder, loopback only) this opens N connections that trickle a request one byte at
a time (a byte per connection every ``--interval`` seconds), and meanwhile asks
``/api/health`` from another client every 0.25 s on a fresh connection (timeout 2 s). It
reports the health latency's median and maximum and how many health requests failed, for
N = 8 and N = 64, then (with ``--throughput``) a rough req/s for ``GET /api/sweets`` with
wrk, 16 connections for 10 s.

    .venv/bin/python bench/slow_clients.py [--servers granian,gunicorn-sync] [--throughput]

Every run is bounded in time: each phase lasts ``--seconds`` and then every socket is closed.
The candidates' extra packages (gevent, waitress) must be installed to measure them
(``pip install gevent waitress``); the shop's own server comes with ``pip install .``.
"""
import argparse
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
WORKERS = 4
REQUEST = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: trickle\r\n\r\n"

CANDIDATES = {
    "gunicorn-sync": ["-m", "gunicorn", "--workers", "{workers}", "--worker-class", "sync",
                      "--bind", "127.0.0.1:{port}", "wsgi:app"],
    "gunicorn-gthread": ["-m", "gunicorn", "--workers", "{workers}", "--worker-class", "gthread",
                         "--threads", "8", "--bind", "127.0.0.1:{port}", "wsgi:app"],
    "gunicorn-gevent": ["-m", "gunicorn", "--workers", "{workers}", "--worker-class", "gevent",
                        "--bind", "127.0.0.1:{port}", "wsgi:app"],
    "waitress": ["-m", "waitress", "--threads", "8", "--listen", "127.0.0.1:{port}", "wsgi:app"],
    "granian": ["-m", "granian", "--interface", "wsgi", "--workers", "{workers}",
                "--blocking-threads", "1", "--host", "127.0.0.1", "--port", "{port}", "wsgi:app"],
    # The shop's own configuration (sweetshop/serve.py, what make serve runs): granian as above.
    "sweetshop.serve": ["-m", "sweetshop.serve"],
}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def environment(directory):
    return dict(os.environ, SWEETSHOP_CONFIG="production", SECRET_KEY=secrets.token_hex(32),
                DATABASE_URL=f"sqlite:///{directory}/slow.sqlite", SWEETSHOP_LOG_LEVEL="WARNING",
                PYTHONPATH=str(ROOT))


class Server:
    def __init__(self, name, env):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        args = [part.format(workers=WORKERS, port=self.port) for part in CANDIDATES[name]]
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=self.log,
                                        stderr=subprocess.STDOUT,
                                        env=dict(env, HOST="127.0.0.1", PORT=str(self.port),
                                                 WEB_CONCURRENCY=str(WORKERS)))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(self.base + "/api/health", timeout=2).status_code == 200:
                    time.sleep(1)  # let every worker finish starting
                    return
            except requests.RequestException:
                time.sleep(0.2)
            if self.process.poll() is not None:
                break
        self.stop()
        self.log.seek(0)
        raise RuntimeError(f"{name} did not come up:\n{self.log.read().decode()[-2000:]}")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def trickle(port, connections, interval, stop):
    """Hold ``connections`` sockets, each sending REQUEST a byte at a time, until ``stop``."""
    sockets, sent = [], []
    for _ in range(connections):
        try:
            sockets.append(socket.create_connection(("127.0.0.1", port), timeout=1))
            sent.append(0)
        except OSError:
            break
    while not stop.is_set():
        for index, sock in enumerate(sockets):
            if sock is None:
                continue
            try:
                sock.setblocking(False)
                sock.send(REQUEST[sent[index] % len(REQUEST):][:1])
                sent[index] += 1
            except OSError:  # the server gave up on this one (a timeout): open another
                sock.close()
                try:
                    sockets[index] = socket.create_connection(("127.0.0.1", port), timeout=1)
                except OSError:
                    sockets[index] = None
                sent[index] = 0
        stop.wait(interval)
    for sock in sockets:
        if sock is not None:
            sock.close()


def health_under_slow_clients(server, connections, seconds, interval):
    """Latencies (ms) of /api/health while ``connections`` slow clients trickle; failures as None."""
    stop = threading.Event()
    trickler = threading.Thread(target=trickle, args=(server.port, connections, interval, stop))
    trickler.start()
    time.sleep(1.0)  # every slow connection open and a few bytes in
    latencies = []
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                ok = requests.get(server.base + "/api/health", timeout=2,
                                  headers={"Connection": "close"}).status_code == 200
                latencies.append((time.perf_counter() - started) * 1000 if ok else None)
            except requests.RequestException:
                latencies.append(None)
            time.sleep(0.25)
    finally:
        stop.set()
        trickler.join()
    return latencies


def summary(latencies):
    answered = [value for value in latencies if value is not None]
    failed = len(latencies) - len(answered)
    if not answered:
        return f"no answer ({failed}/{len(latencies)} timed out at 2 s)"
    return (f"p50 {statistics.median(answered):.1f} ms, max {max(answered):.1f} ms, "
            f"{failed}/{len(latencies)} failed")


def throughput(server, path="/api/sweets?limit=20"):
    if shutil.which("wrk") is None:
        return "wrk not installed"
    result = subprocess.run(["wrk", "-t2", "-c16", "-d10s", server.base + path],
                            capture_output=True, text=True, timeout=60)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", result.stdout)
    return f"{float(rate.group(1)):.0f} req/s" + (f" ({errors.group(1)} non-2xx)" if errors else "")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", default=",".join(CANDIDATES))
    parser.add_argument("--connections", default="8,64", help='slow connections per phase; "none" skips them')
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between a connection's bytes")
    parser.add_argument("--throughput", action="store_true")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        env = environment(directory)
        upgrade = subprocess.run([sys.executable, "-m", "flask", "--app", "sweetshop", "db", "upgrade"],
                                 cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        if upgrade.returncode != 0:
            sys.exit(upgrade.stderr)
        phases = [] if options.connections == "none" else [int(n) for n in options.connections.split(",")]
        columns = [f"health with {n} slow connections" for n in phases]
        if options.throughput:
            columns.append("GET /api/sweets, wrk 16 connections")
        print("| server | " + " | ".join(columns) + " |")
        for name in options.servers.split(","):
            server = Server(name, env)
            try:
                cells = [summary(health_under_slow_clients(server, n, options.seconds, options.interval))
                         for n in phases]
                if options.throughput:
                    cells.append(throughput(server))
            finally:
                server.stop()
            print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
