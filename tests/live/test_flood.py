"""Floods against a real multi-worker server : login and registration
floods from one address are refused before any hashing while a bystander keeps buying, and
parallel wrong passwords never get more 401s than the limit."""
import os
import secrets

import pytest
import redis
import requests
from support.harness import TEST_PASSWORD, LiveServer, migrated_database
from support.shop import BACKENDS, require_backend
from support.live import run_together

from bench.login_flood import buy_during, percentile
from config import Config

REDIS_URL = os.environ.get("SWEETSHOP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SHIPPED_LIMITS = {name: getattr(Config, name) for name in (
    "REGISTER_LIMIT_PER_ADDRESS", "LOGIN_ATTEMPT_LIMIT_PER_ADDRESS",
    "LOGIN_FAILURE_LIMIT_PER_ACCOUNT_AND_ADDRESS", "LOGIN_ATTEMPT_LIMIT_PER_ACCOUNT")}


def _redis():
    """Redis for counters every worker shares, as in production; None if it is not running."""
    try:
        connection = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        connection.ping()
    except redis.RedisError:
        return None
    return connection


def _redis_or_skip():
    connection = _redis()
    if connection is None:
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    return connection


def _server(url, connection, **settings):
    """4 workers with the shipped limits (not the suite's raised per-address ones), counters in
    Redis under a fresh prefix with a ``connection`` to it, else where production keeps them (the
    shop's database)."""
    prefix = f"sweetshop-test-{secrets.token_hex(4)}"
    storage = REDIS_URL if connection is not None else ""
    server = LiveServer(url, workers=4, RATELIMIT_STORAGE_URI=storage, RATELIMIT_KEY_PREFIX=prefix,
                        **{**SHIPPED_LIMITS, **settings})
    server.prefix = prefix
    return server


def _stop(server, connection):
    server.stop()
    os.unlink(server.log.name)
    if connection is not None:
        keys = connection.keys(f"*{server.prefix}*")
        if keys:
            connection.delete(*keys)


@pytest.fixture(scope="module", params=BACKENDS)
def shop(request, tmp_path_factory):
    """A live shop with the shipped limits. Hashing stays the suite's cheap one: what a hash costs
    at production strength is what bench/login_flood.py measures; here the point is that the
    flood is refused quickly (and test_throttle.py shows a refused attempt hashes nothing)."""
    require_backend(request.param)
    with migrated_database(request.param, tmp_path_factory.mktemp("flood")) as url:
        server = _server(url, None)  # counters in the database, as shipped
        server.backend = request.param
        try:
            server.admin = server.token("boss", admin=True)
            server.buyer = server.token("bystander")
            requests.post(server.base + "/api/auth/register", timeout=60,
                          json={"username": "victim", "password": TEST_PASSWORD}).raise_for_status()
            server.sweet_id = requests.post(server.base + "/api/sweets", headers=server.admin, timeout=60,
                                            json={"name": "Flood fudge", "category": "Fudge", "price": 1,
                                                  "quantity": 10 ** 6}).json()["id"]
            yield server
        finally:
            _stop(server, None)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["login", "register"])
def test_a_flood_from_one_address_is_refused_while_a_bystander_buys(shop, kind, capsys):
    quiet, _, _ = buy_during(shop.base, shop.buyer, shop.sweet_id, seconds=2)  # for the report only
    # At the flooding client's normal priority: the point here is that a real flood is refused.
    latencies, purchases, flood = buy_during(shop.base, shop.buyer, shop.sweet_id, seconds=5, kind=kind,
                                             threads=8, victim="victim", password=TEST_PASSWORD, niceness=0)
    total = sum(flood.values())
    # What the shipped limits allow (10 logins a minute for the account; 20 registrations an hour
    # for the address, 2 of them spent above) got through; everything else was refused.
    allowed = {"login": 10, "register": 18}[kind]
    assert set(flood) <= {200, 201, 429}, flood
    assert total - flood[429] <= allowed < total, flood
    assert purchases == {200: len(latencies)}  # every purchase of the bystander went through
    with capsys.disabled():
        print(f"\n[{shop.backend} {kind} flood] {total} requests {dict(flood)}; bystander "
              f"{len(latencies)} purchases, p50 {percentile(latencies, 0.5):.0f} ms, "
              f"p95 {percentile(latencies, 0.95):.0f} ms (just before, quiet: p95 "
              f"{percentile(quiet, 0.95):.0f} ms)")


@pytest.mark.slow
@pytest.mark.parametrize("limits", [
    {"LOGIN_FAILURE_LIMIT_PER_ACCOUNT_AND_ADDRESS": "5 per minute"},
    {"LOGIN_FAILURE_LIMIT_PER_ACCOUNT_AND_ADDRESS": "1000 per minute",
     "LOGIN_ATTEMPT_LIMIT_PER_ACCOUNT": "5 per minute"},
], ids=["account-and-address", "account"])
def test_parallel_wrong_passwords_never_get_more_than_the_limit(limits, tmp_path):
    """40 wrong passwords at once over 4 workers: each limit is counted and tested in one step in
    Redis, so exactly 5 get as far as the password check (401) and the rest are 429."""
    connection = _redis_or_skip()
    with migrated_database("sqlite", tmp_path) as url:
        server = _server(url, connection, **limits)
        try:
            requests.post(server.base + "/api/auth/register", timeout=60,
                          json={"username": "alice", "password": TEST_PASSWORD}).raise_for_status()
            statuses = run_together([
                (lambda: requests.post(server.base + "/api/auth/login", timeout=60, data={
                    "username": "alice", "password": "wrong password"}).status_code) for _ in range(40)])
        finally:
            _stop(server, connection)
    assert sorted(statuses) == [401] * 5 + [429] * 35
