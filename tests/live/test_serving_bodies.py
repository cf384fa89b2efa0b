"""Request bodies against the real production server: a client that announces a body and then
stalls (or dribbles it) costs the shop nothing, is cut off after ``BODY_READ_TIMEOUT_SECONDS``,
and a legitimate slow upload still gets through. The front server (nginx, sweetshop/front.py)
reads every body whole before a worker sees it; without it, granian's workers read bodies
themselves and a few stalled ones stop the shop (the control test below).

Loopback only; every connection is closed by the end of its test.
"""
import io
import os
import random
import signal
import socket
import statistics
import time
from pathlib import Path

import pytest
import requests
from PIL import Image

from support.harness import LiveServer, MakeServe, migrated_database

pytestmark = pytest.mark.slow
PHOTO_SIDE = 1270  # a noisy PNG of about 4.8 MB, under the 5 MB photo limit
UPLOAD_RATE = 200_000  # bytes per second


def stalled_body(framing):
    """A login whose headers are complete and whose body has begun but will never finish."""
    head = (b"POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n")
    if framing == "length":
        return head + b"Content-Length: 100\r\n\r\nu"
    return head + b"Transfer-Encoding: chunked\r\n\r\n5\r\nusern\r\n"


def open_stalled(port, count):
    """``count`` connections, half of each framing, each with its body started and stalled."""
    connections = []
    for number in range(count):
        connection = socket.create_connection(("127.0.0.1", port), timeout=10)
        connection.sendall(stalled_body("length" if number % 2 else "chunked"))
        connections.append(connection)
    return connections


def health_latencies(server, seconds):
    """Milliseconds of each ``GET /api/health`` over ``seconds``, ten a second, from a new client."""
    latencies = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        response = requests.get(server.base + "/api/health", timeout=5, headers={"Connection": "close"})
        latencies.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
        time.sleep(0.1)
    return latencies


def app_requests(server, path):
    """How many requests for ``path`` reached the app (its JSON request log lines)."""
    return sum('"logger": "sweetshop.request"' in line and f'"path": "{path}"' in line
               for line in server.log_text().splitlines())


@pytest.fixture
def stopped_after(tmp_path):
    servers = []

    def start(server_type=LiveServer, backend="sqlite", **settings):
        database = migrated_database(backend, tmp_path)
        url = database.__enter__()
        server = server_type(url, workers=4, **settings)
        servers.append((server, database))
        return server

    yield start
    for server, database in servers:
        server.stop()
        os.unlink(server.log.name)
        database.__exit__(None, None, None)


def test_64_stalled_bodies_leave_health_answering_within_100_ms(stopped_after):
    server = stopped_after(MakeServe)
    for _ in range(16):  # every worker warm: the property is about a running shop
        assert requests.get(server.base + "/api/health", timeout=5,
                            headers={"Connection": "close"}).status_code == 200
    connections = open_stalled(server.port, 64)
    try:
        latencies = health_latencies(server, 6)
        # Still open: the server neither answered nor dropped them within the body timeout.
        for connection in connections:
            connection.setblocking(False)
            with pytest.raises(BlockingIOError):
                connection.recv(1)
    finally:
        for connection in connections:
            connection.close()
    assert len(latencies) >= 20
    # As for slow headers (test_serving.py): 95 % within 100 ms, none near starvation.
    p95 = sorted(latencies)[int(len(latencies) * 0.95) - 1]
    assert p95 < 100 and max(latencies) < 1000, (statistics.median(latencies), p95, max(latencies))
    assert app_requests(server, "/api/auth/login") == 0  # no worker ever saw one of them


def test_without_the_front_server_a_few_stalled_bodies_stop_the_shop(stopped_after):
    """The control: granian alone hands the body's reading to the worker, which waits for it."""
    server = stopped_after(FRONT_SERVER="")
    connections = open_stalled(server.port, 8)
    answered = 0
    try:
        # The kernel hands connections to the workers unevenly: a probe may still find one free
        # for a moment, but soon every worker is stuck in a body and the probes go unanswered.
        for _ in range(10):
            requests.get(server.base + "/api/health", timeout=2, headers={"Connection": "close"})
            answered += 1
    except requests.Timeout:
        pass
    finally:
        for connection in connections:
            connection.close()
    assert answered < 10


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_a_stalled_body_is_cut_off_after_the_body_timeout(stopped_after, framing):
    server = stopped_after(BODY_READ_TIMEOUT_SECONDS=2)
    connection = socket.create_connection(("127.0.0.1", server.port), timeout=15)
    try:
        started = time.monotonic()
        connection.sendall(stalled_body(framing))
        answer = b""
        while chunk := connection.recv(65536):  # until the server closes the connection
            answer += chunk
        waited = time.monotonic() - started
    finally:
        connection.close()
    assert 1.5 <= waited <= 8, waited
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer[:100]
    assert app_requests(server, "/api/auth/login") == 0


def noisy_png(side):
    """A PNG of random pixels: it hardly compresses, so its size is about 3 * side² bytes."""
    rng = random.Random(side)
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3)).save(out, "PNG", compress_level=1)
    return out.getvalue()


def test_a_5_mb_photo_sent_at_200_kb_per_second_is_accepted(stopped_after):
    # The short body timeout bounds the pause between two pieces, not the whole upload.
    server = stopped_after(BODY_READ_TIMEOUT_SECONDS=2)
    admin = server.token("boss", admin=True)
    sweet = requests.post(server.base + "/api/sweets", headers=admin, timeout=30, json={
        "name": "Slow Fudge", "category": "Fudge", "price": 1.5, "quantity": 3}).json()
    photo = noisy_png(PHOTO_SIDE)
    assert 4_500_000 < len(photo) <= 5 * 1024 * 1024
    piece = UPLOAD_RATE // 20
    connection = socket.create_connection(("127.0.0.1", server.port), timeout=60)
    try:
        connection.sendall(
            f"PUT /api/sweets/{sweet['id']}/photo HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: {admin['Authorization']}\r\nContent-Type: image/png\r\n"
            f"Content-Length: {len(photo)}\r\nConnection: close\r\n\r\n".encode())
        started = time.monotonic()
        for offset in range(0, len(photo), piece):
            connection.sendall(photo[offset:offset + piece])
            time.sleep(max(0.0, started + (offset + piece) / UPLOAD_RATE - time.monotonic()))
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    finally:
        connection.close()
    assert time.monotonic() - started >= len(photo) / UPLOAD_RATE * 0.9  # it really was slow
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    assert requests.get(server.base + f"/api/sweets/{sweet['id']}", timeout=10).json()["photo_url"]


def test_when_the_front_server_dies_the_server_stops_with_a_failure(stopped_after):
    server = stopped_after()
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children").read_text().split()
    front = [int(pid) for pid in children if Path(f"/proc/{pid}/comm").read_text().strip() == "nginx"]
    assert len(front) == 1
    os.kill(front[0], signal.SIGKILL)
    # Granian stops in order and the server exits non-zero, for the service manager to restart.
    assert server.process.wait(timeout=60) == 1
    with pytest.raises(requests.ConnectionError):  # nginx's orphaned workers went with it
        requests.get(server.base + "/api/health", timeout=5)
    assert "the front server (nginx) exited" in server.log_text()
