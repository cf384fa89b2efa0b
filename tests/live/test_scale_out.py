"""Scale-out: two app instances (two servers, as on two hosts) sharing one PostgreSQL.

Every stock guarantee (docs/stock.md) and the Idempotency-Key guarantee must hold with requests
spread over both instances, since neither keeps any state of its own between requests.
"""
import os

import pytest
from sqlalchemy import create_engine, text

from config import database_url
from support.harness import LiveServer, migrated_database
from support.shop import require_backend
from support.live import new_sweet, post, run_together

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def hosts(tmp_path_factory):
    """Two 2-worker instances on one freshly migrated PostgreSQL database, with users."""
    require_backend("postgresql")
    with migrated_database("postgresql", tmp_path_factory.mktemp("scale")) as url:
        servers = []
        engine = create_engine(database_url(url))
        try:
            for _ in range(2):
                servers.append(LiveServer(url, workers=2))
            first = servers[0]
            first.admin = first.token("boss", admin=True)
            # Users log in on one host and use the token on the other: tokens live in the database.
            first.buyers = [servers[i % 2].token(f"buyer{i}") for i in range(6)]

            def sql(query, **params):
                with engine.connect() as connection:
                    return connection.execute(text(query), params).all()

            first.sql = sql
            first.hosts = servers
            yield first
        finally:
            engine.dispose()
            for server in servers:
                server.stop()
                os.unlink(server.log.name)


def ledger(shop, sweet_id):
    return shop.sql("SELECT kind, change FROM stock_movements WHERE sweet_id = :id", id=sweet_id)


def stock(shop, sweet_id):
    return shop.sql("SELECT quantity FROM sweets WHERE id = :id", id=sweet_id)[0][0]


def test_exactly_k_of_m_purchases_succeed_across_hosts(hosts):
    sweet_id = new_sweet(hosts, 10, "Scale")
    calls = [lambda i=i: post(hosts.hosts[i % 2], f"/api/sweets/{sweet_id}/purchase",
                              hosts.buyers[i % len(hosts.buyers)]) for i in range(40)]
    statuses = [status for status, _ in run_together(calls)]
    assert statuses.count(200) == 10 and statuses.count(400) == 30
    assert stock(hosts, sweet_id) == 0
    assert [kind for kind, _ in ledger(hosts, sweet_id)].count("purchase") == 10


def test_purchases_and_restocks_across_hosts_add_up(hosts):
    sweet_id = new_sweet(hosts, 20, "Scale")
    calls = []
    for i in range(60):
        host = hosts.hosts[i % 2]
        if i % 3 == 0:
            calls.append(lambda host=host: post(host, f"/api/sweets/{sweet_id}/restock", hosts.admin,
                                                json={"quantity": 2}))
        else:
            calls.append(lambda host=host, i=i: post(host, f"/api/sweets/{sweet_id}/purchase",
                                                     hosts.buyers[i % 6], json={"quantity": 1}))
    results = run_together(calls)
    assert {status for status, _ in results} <= {200, 400}
    restocked = sum(2 for i, (status, _) in enumerate(results) if i % 3 == 0 and status == 200)
    sold = sum(1 for i, (status, _) in enumerate(results) if i % 3 != 0 and status == 200)
    assert restocked == 40
    final = stock(hosts, sweet_id)
    assert final == 20 + restocked - sold >= 0
    assert final == sum(change for _, change in ledger(hosts, sweet_id))


def test_one_username_registered_once_across_hosts(hosts):
    calls = [lambda i=i: post(hosts.hosts[i % 2], "/api/auth/register",
                              json={"username": "Twin" if i % 2 else "twin",
                                    "password": "long enough 1"}) for i in range(20)]
    statuses = [status for status, _ in run_together(calls)]
    assert statuses.count(201) == 1 and statuses.count(400) == 19


def test_an_idempotency_key_sells_once_across_hosts(hosts):
    sweet_id = new_sweet(hosts, 50, "Scale")
    buyer = hosts.buyers[0]
    headers = {**buyer, "Idempotency-Key": "order-7f3a"}
    calls = [lambda i=i: post(hosts.hosts[i % 2], f"/api/sweets/{sweet_id}/purchase", headers,
                              json={"quantity": 3}) for i in range(16)]
    results = run_together(calls)
    assert all(status == 200 for status, _ in results), results
    assert all(body == results[0][1] for _, body in results)  # every copy reports the first sale
    assert results[0][1]["quantity"] == 47
    assert stock(hosts, sweet_id) == 47
    assert [kind for kind, _ in ledger(hosts, sweet_id)].count("purchase") == 1
    # The same key for another quantity is refused on either host, and changes nothing.
    for host in hosts.hosts:
        assert post(host, f"/api/sweets/{sweet_id}/purchase", headers, json={"quantity": 1})[0] == 422
    # The key belongs to its user: another buyer's identical key is a sale of its own.
    other = {**hosts.buyers[1], "Idempotency-Key": "order-7f3a"}
    assert post(hosts.hosts[1], f"/api/sweets/{sweet_id}/purchase", other, json={"quantity": 3})[0] == 200
    assert stock(hosts, sweet_id) == 44
