"""The embedded SQLite default under multi-worker load: WAL and a busy timeout, never "database is locked".

A 4-worker server on one SQLite file takes a mixed load of purchases, restocks, reads,
registrations and logins from many client threads at once. Writers must queue for the
file lock (busy timeout) while readers carry on (WAL): no request may fail with 500 or 503.
"""
import os
import random
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from support.harness import TEST_PASSWORD, LiveServer, migrated_database

pytestmark = pytest.mark.slow
CLIENTS = 16
REQUESTS_PER_CLIENT = 30
START_STOCK = 200


def test_mixed_load_on_sqlite_never_fails_with_a_locked_database(tmp_path):
    with migrated_database("sqlite", tmp_path) as url:
        # A load test: the throttles are off, as the README says to run one (every client here is
        # one address, and the logins are for one account).
        server = LiveServer(url, workers=4, RATELIMIT_ENABLED="false")
        try:
            admin = server.token("boss", admin=True)
            buyers = [server.token(f"buyer{i}") for i in range(4)]
            # Logins under load are by an account of their own: each login past MAX_TOKENS_PER_USER
            # revokes that account's oldest token, which must not be a buyer's.
            server.token("loader")
            sweet_ids = []
            for name in ("Toffee", "Fudge", "Humbug"):
                response = requests.post(server.base + "/api/sweets", headers=admin, timeout=30, json={
                    "name": name, "category": "Load", "price": 1.1, "quantity": START_STOCK})
                sweet_ids.append(response.json()["id"])

            lock = threading.Lock()
            statuses, sold, restocked = {}, dict.fromkeys(sweet_ids, 0), dict.fromkeys(sweet_ids, 0)

            def client(number):
                chooser = random.Random(number)
                for step in range(REQUESTS_PER_CLIENT):
                    sweet = chooser.choice(sweet_ids)
                    kind = chooser.choice(["buy", "buy", "buy", "restock", "read", "search",
                                           "register", "login"])
                    if kind == "buy":
                        quantity = chooser.randint(1, 3)
                        response = requests.post(
                            f"{server.base}/api/sweets/{sweet}/purchase", timeout=60,
                            headers=chooser.choice(buyers), json={"quantity": quantity})
                    elif kind == "restock":
                        quantity = chooser.randint(1, 5)
                        response = requests.post(f"{server.base}/api/sweets/{sweet}/restock",
                                                 headers=admin, timeout=60, json={"quantity": quantity})
                    elif kind == "read":
                        response = requests.get(f"{server.base}/api/sweets/{sweet}", timeout=60)
                    elif kind == "search":
                        response = requests.get(server.base + "/api/sweets/search", timeout=60,
                                                params={"category": "load", "max_price": 5})
                    elif kind == "register":
                        response = requests.post(server.base + "/api/auth/register", timeout=60, json={
                            "username": f"c{number}x{step}", "password": TEST_PASSWORD})
                    else:
                        response = requests.post(server.base + "/api/auth/login", timeout=60, data={
                            "username": "loader", "password": TEST_PASSWORD})
                    with lock:
                        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                        if response.status_code == 200 and kind == "buy":
                            sold[sweet] += quantity
                        if response.status_code == 200 and kind == "restock":
                            restocked[sweet] += quantity

            with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
                list(pool.map(client, range(CLIENTS)))

            assert set(statuses) <= {200, 201, 400}, statuses  # 400 only for "Out of stock"
            for sweet in sweet_ids:
                current = requests.get(f"{server.base}/api/sweets/{sweet}", timeout=30).json()
                assert current["quantity"] == START_STOCK + restocked[sweet] - sold[sweet]
            audit = server.cli("audit-stock")
            assert audit.returncode == 0, audit.stderr
            log = server.log_text()
        finally:
            server.stop()
            os.unlink(server.log.name)
        path = url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as connection:
            assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        connection.close()
    assert sum(statuses.values()) == CLIENTS * REQUESTS_PER_CLIENT
    assert "database is locked" not in log
    assert "Traceback" not in log
