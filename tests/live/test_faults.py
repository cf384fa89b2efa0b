"""Faults under purchase load: PostgreSQL going away and coming back, server workers SIGKILLed.

Both end with the same books check: every purchase the client saw succeed is in the stock
and the ledger exactly once (clients retry with the same Idempotency-Key after a dropped
connection or a 503, so a sale whose answer was lost is neither lost nor made twice),
nothing answered 500, and ``audit-stock`` is clean.
"""
import os
import signal
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg2
import pytest
import requests
from sqlalchemy import create_engine, text

from config import database_url
from support.shop import BACKENDS, require_backend
from support.harness import Cluster, LiveServer, flask_cli, migrated_database, server_env

pytestmark = pytest.mark.slow
START_STOCK = 100_000
SHOPPERS = 6


@pytest.fixture
def cluster():
    """A throwaway PostgreSQL cluster with an empty ``sweetshop`` database."""
    reason = Cluster.unavailable()
    if reason:
        pytest.skip(reason)
    with Cluster() as cluster:
        connection = psycopg2.connect(cluster.url())
        connection.autocommit = True
        connection.cursor().execute("CREATE DATABASE sweetshop")
        connection.close()
        yield cluster


class PurchaseLoad:
    """Shoppers buying one unit at a time until told to stop; each purchase carries its own
    Idempotency-Key and is retried with that key after a 503 or a lost connection until it
    gets a definite answer (a real client would do the same)."""

    def __init__(self, server, sweet_id, headers, seconds_to_settle=40):
        self.url = f"{server.base}/api/sweets/{sweet_id}/purchase"
        self.headers = headers
        self.settle = seconds_to_settle
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.sold = []  # keys answered 200
        self.statuses = {}  # every status seen, "lost" for a dropped connection
        self.unresolved = []

    def _count(self, status):
        with self.lock:
            self.statuses[status] = self.statuses.get(status, 0) + 1

    def _buy_once(self, deadline):
        key = uuid.uuid4().hex
        while time.monotonic() < deadline:
            try:
                response = requests.post(self.url, headers={**self.headers, "Idempotency-Key": key},
                                         timeout=10)
            except requests.RequestException:
                self._count("lost")
                time.sleep(0.05)
                continue
            self._count(response.status_code)
            if response.status_code == 200:
                with self.lock:
                    self.sold.append(key)
                return
            if response.status_code != 503:
                return  # anything else is a definite answer (and checked as a failure later)
            assert response.json()["detail"] and int(response.headers["Retry-After"]) > 0
            time.sleep(0.1)
        with self.lock:
            self.unresolved.append(key)

    def _shop(self):
        while not self.stopping.is_set():
            self._buy_once(time.monotonic() + self.settle)

    def __enter__(self):
        self.pool = ThreadPoolExecutor(max_workers=SHOPPERS)
        self.futures = [self.pool.submit(self._shop) for _ in range(SHOPPERS)]
        return self

    def __exit__(self, *exc_info):
        self.stopping.set()
        for future in self.futures:
            future.result(timeout=self.settle + 15)
        self.pool.shutdown()


def check_books(server, url, sweet_id, load):
    """Stock = start - sales answered 200; each such sale in the ledger once; audit clean."""
    assert not load.unresolved, f"purchases never answered: {len(load.unresolved)}"
    assert set(load.statuses) <= {200, 503, "lost"}, load.statuses  # never a 500
    engine = create_engine(database_url(url))
    try:
        with engine.connect() as connection:
            stock = connection.execute(text("SELECT quantity FROM sweets WHERE id = :id"),
                                       {"id": sweet_id}).scalar_one()
            keys = connection.execute(text(
                "SELECT idempotency_key FROM stock_movements WHERE sweet_id = :id AND kind = 'purchase'"),
                {"id": sweet_id}).scalars().all()
    finally:
        engine.dispose()
    assert stock == START_STOCK - len(load.sold)
    assert sorted(keys) == sorted(load.sold)  # none lost, none applied twice
    audit = server.cli("audit-stock")
    assert audit.returncode == 0, audit.stdout + audit.stderr


def make_shop(server):
    admin = server.token("boss", admin=True)
    buyer = server.token("buyer")
    response = requests.post(server.base + "/api/sweets", headers=admin, timeout=30, json={
        "name": "Fault Fudge", "category": "Fudge", "price": 1.5, "quantity": START_STOCK})
    assert response.status_code == 201
    return response.json()["id"], buyer


def wait_for(predicate, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def healthy(server):
    try:
        return requests.get(server.base + "/api/health", timeout=5).status_code == 200
    except requests.RequestException:
        return False


# Without the pool's pre-ping, a pooled connection that died with the database is found dead
# by the request that uses it: SQLAlchemy invalidates it (and the pool's older ones) and the
# request answers 503 like any other during the outage; the next checkout connects afresh.
@pytest.mark.parametrize("pre_ping", [True, False], ids=["pre-ping", "no-pre-ping"])
def test_database_outage_is_503_and_the_app_recovers_without_restart(cluster, pre_ping):
    url = cluster.url("sweetshop")
    result = flask_cli(server_env(url), "db", "upgrade")
    assert result.returncode == 0, result.stderr
    with LiveServer(url, workers=3, POOL_PRE_PING=pre_ping) as server:
        sweet_id, buyer = make_shop(server)
        with PurchaseLoad(server, sweet_id, buyer) as load:
            time.sleep(1.5)
            cluster.stop("immediate")
            try:
                time.sleep(0.5)
                health = requests.get(server.base + "/api/health", timeout=10)
                assert health.status_code == 503 and int(health.headers["Retry-After"]) > 0
                assert health.json() == {"detail": "Database unavailable"}
                down = requests.post(f"{server.base}/api/sweets/{sweet_id}/purchase",
                                     headers=buyer, timeout=10)
                assert down.status_code == 503 and int(down.headers["Retry-After"]) > 0
                assert down.json() == {"detail": "Database unavailable, please retry shortly"}
                page = requests.get(server.base + "/", timeout=10)
                assert page.status_code == 503 and page.headers["Content-Type"].startswith("text/html")
                assert "Retry-After" in page.headers
                time.sleep(1.5)
            finally:
                cluster.start()
            assert wait_for(lambda: healthy(server), 30), "app did not recover"
            time.sleep(1.5)
        assert load.statuses.get(503, 0) > 0, "the outage never reached the shoppers"
        assert load.statuses.get(200, 0) > 0
        assert requests.get(server.base + "/", timeout=10).status_code == 200
        check_books(server, url, sweet_id, load)


@pytest.mark.parametrize("backend", BACKENDS)
def test_sigkilled_workers_lose_no_purchase_and_apply_none_twice(backend, tmp_path):
    require_backend(backend)
    with migrated_database(backend, tmp_path) as url:
        server = LiveServer(url, workers=3)
        try:
            sweet_id, buyer = make_shop(server)
            killed = set()
            with PurchaseLoad(server, sweet_id, buyer) as load:
                for _ in range(5):
                    time.sleep(0.7)
                    victim = server.worker_pids()[0]
                    os.kill(victim, signal.SIGKILL)
                    killed.add(victim)
                time.sleep(0.5)
            # The server replaced every killed worker and the app serves as before.
            assert wait_for(lambda: len(server.worker_pids()) == 3, 15)
            assert not killed & set(server.worker_pids())
            assert healthy(server)
            assert load.statuses.get(200, 0) > 0
            check_books(server, url, sweet_id, load)
        finally:
            server.stop()
            os.unlink(server.log.name)
