"""The login throttle's counters are shared by every worker with no extra server: they live in the
shop's database. Against the real production server (4 workers, no Redis configured), on SQLite
and PostgreSQL; the client's own X-Forwarded-For is not believed through the front server.
"""
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from support.harness import LiveServer, migrated_database

pytestmark = pytest.mark.slow


@pytest.fixture
def shop(backend, tmp_path):
    """The production server as shipped (no ``RATELIMIT_STORAGE_URI``), per-address limits as
    shipped too except where a test says."""
    servers = []

    def start(database=None, **settings):
        """A server on a new database, or on ``database`` (a second host of the same shop)."""
        owned = migrated_database(backend, tmp_path) if database is None else None
        url = owned.__enter__() if owned is not None else database
        server = LiveServer(url, workers=4, **settings)
        server.database_url = url
        servers.append((server, owned))
        return server

    yield start
    for server, owned in reversed(servers):
        server.stop()
        server.log.close()
        if owned is not None:
            owned.__exit__(None, None, None)


def failed_login(server, username, forwarded=None):
    headers = {"Connection": "close"}
    if forwarded:
        headers["X-Forwarded-For"] = forwarded
    return requests.post(server.base + "/api/auth/login", timeout=30, headers=headers,
                         data={"username": username, "password": "wrong password"}).status_code


def test_exactly_five_failures_then_429_across_two_hosts_of_four_workers(shop):
    """Which worker takes a connection is the scheduler's choice; which host takes a request is
    the client's. Two servers (two hosts of four workers) on one database, the attempts strictly
    alternating between them: the count is exact only if every worker of both shares it."""
    first = shop()
    second = shop(database=first.database_url)
    servers = [first, second]
    statuses = [failed_login(servers[number % 2], "shared") for number in range(12)]
    assert statuses == [401] * 5 + [429] * 7
    # And later ones, on either host, stay refused.
    assert [failed_login(server, "SHARED") for server in servers * 2] == [429] * 4


def test_a_forged_forwarded_for_does_not_escape_the_address_limit(shop):
    server = shop(LOGIN_ATTEMPT_LIMIT_PER_ADDRESS="3 per minute")
    statuses = [failed_login(server, f"victim{number}", forwarded=f"203.0.113.{number}")
                for number in range(6)]
    assert statuses == [401] * 3 + [429] * 3


def test_a_login_flood_is_refused_while_purchases_go_on(shop):
    server = shop(LOGIN_ATTEMPT_LIMIT_PER_ADDRESS="30 per minute")
    admin, buyer = server.token("boss", admin=True), server.token("buyer")
    sweet = requests.post(server.base + "/api/sweets", headers=admin, timeout=30, json={
        "name": "Flood Fudge", "category": "Fudge", "price": 1.5, "quantity": 1000}).json()
    stop = threading.Event()
    flood = []

    def guess(number):
        session = requests.Session()
        while not stop.is_set():
            flood.append(session.post(server.base + "/api/auth/login", timeout=30, data={
                "username": f"target{number}", "password": "guess"}).status_code)

    with ThreadPoolExecutor(max_workers=8) as pool:
        guessers = [pool.submit(guess, number) for number in range(8)]
        time.sleep(0.5)
        try:
            purchases = [requests.post(f"{server.base}/api/sweets/{sweet['id']}/purchase", headers=buyer,
                                       timeout=10).status_code for _ in range(30)]
        finally:
            stop.set()
        for guesser in guessers:
            guesser.result(timeout=60)
    assert purchases == [200] * 30
    # The address's 30 a minute (less the two logins above), every other attempt refused.
    assert flood.count(401) <= 28 and flood.count(429) > 100, {s: flood.count(s) for s in set(flood)}
    assert set(flood) <= {401, 429}


def test_behind_a_trusted_proxy_the_front_server_keeps_its_entry(shop):
    """With one proxy of the operator's in front (here: this test, sending what a balancer would),
    nginx appends instead of replacing, and the app takes the entry that proxy wrote."""
    server = shop(TRUSTED_PROXIES=1, LOGIN_ATTEMPT_LIMIT_PER_ADDRESS="3 per minute")
    guesses = [failed_login(server, f"victim{number}", forwarded="192.0.2.1, 203.0.113.5")
               for number in range(4)]
    assert guesses == [401] * 3 + [429]
    assert failed_login(server, "victim9", forwarded="203.0.113.6") == 401  # another client
    lines = [json.loads(line) for line in server.log_text().splitlines() if line.startswith("{")]
    addresses = [line["remote_addr"] for line in lines if line.get("path") == "/api/auth/login"]
    assert addresses == ["203.0.113.5"] * 4 + ["203.0.113.6"]


def test_nginx_refuses_a_login_flood_from_one_address_before_any_worker(shop):
    """Past the per-address attempt limit, nginx answers the API's JSON 429 and the pages' own
    error page itself, so a flood costs the workers (and the other customers) nothing."""
    server = shop(LOGIN_ATTEMPT_LIMIT_PER_ADDRESS="5 per minute")
    server.new_log_lines()
    answers = [requests.post(server.base + "/api/auth/login", timeout=30,
                             data={"username": f"flood{number}", "password": "wrong password"})
               for number in range(12)]
    assert [answer.status_code for answer in answers[:5]] == [401] * 5
    refused = answers[5:]
    assert {answer.status_code for answer in refused} == {429}
    assert {answer.json()["detail"] for answer in refused} == {"Too many login attempts; try again later"}
    assert all(answer.headers["Retry-After"] for answer in refused)
    page = requests.post(server.base + "/login", timeout=30, data={"username": "x", "password": "y"})
    assert page.status_code == 429 and "Too many login attempts" in page.text
    assert page.headers["Content-Type"].startswith("text/html") and "Retry-After" in page.headers
    # Only the five within the limit reached a worker.
    assert len([line for line in server.new_log_lines() if '"/api/auth/login"' in line]) == 5
    assert requests.get(server.base + "/login", timeout=30).status_code == 200  # reading the form is free
