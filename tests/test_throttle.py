"""Failed-login throttling (SPEC 4a): per account and per address, 429 with Retry-After, shared store."""
import os
import secrets
import time

import pytest
import redis
import requests

from conftest import TEST_PASSWORD, LiveServer, migrated_database

REDIS_URL = os.environ.get("SWEETSHOP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def login(client, username, password, address="127.0.0.1"):
    return client.post("/api/auth/login", data={"username": username, "password": password},
                       environ_base={"REMOTE_ADDR": address})


def assert_throttled(response):
    assert response.status_code == 429
    assert response.json == {"detail": "Too many failed login attempts; try again later"}
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def test_account_is_throttled_after_five_failures_even_with_the_right_password(api, client):
    api.user("alice")
    for _ in range(5):
        assert login(client, "alice", "wrong password").status_code == 401
    assert_throttled(login(client, "alice", TEST_PASSWORD))
    # Any spelling of the name is the same account; another address does not help a guesser.
    assert_throttled(login(client, "ALICE", TEST_PASSWORD, address="10.0.0.9"))
    # Other accounts are untouched.
    api.user("bob")
    assert login(client, "bob", TEST_PASSWORD).status_code == 200


def test_a_few_typos_do_not_stop_a_real_login_and_successes_do_not_count(api, client):
    api.user("alice")
    for _ in range(10):
        assert login(client, "alice", TEST_PASSWORD).status_code == 200
    for _ in range(4):
        assert login(client, "alice", "typo").status_code == 401
    assert login(client, "alice", TEST_PASSWORD).status_code == 200


def test_unknown_accounts_are_throttled_the_same_way(client):
    for _ in range(5):
        assert login(client, "nobody", "guess").status_code == 401
    assert_throttled(login(client, "nobody", "guess"))


def test_address_is_throttled_after_twenty_failures_across_accounts(api, client):
    api.user("alice")
    for number in range(20):
        assert login(client, f"victim{number}", "guess", address="10.1.1.1").status_code == 401
    assert_throttled(login(client, "alice", TEST_PASSWORD, address="10.1.1.1"))
    assert login(client, "alice", TEST_PASSWORD, address="10.1.1.2").status_code == 200


def test_json_login_is_throttled_too(client):
    for _ in range(5):
        response = client.post("/api/auth/login", json={"username": "carol", "password": "x"})
        assert response.status_code == 401
    assert_throttled(client.post("/api/auth/login", json={"username": "carol", "password": "x"}))


def test_lockout_ends_when_the_window_passes(api, app, client):
    app.config["LOGIN_LIMIT_PER_ACCOUNT"] = "2 per 1 second"
    api.user("alice")
    for _ in range(2):
        assert login(client, "alice", "wrong").status_code == 401
    response = login(client, "alice", TEST_PASSWORD)
    assert_throttled(response)
    time.sleep(int(response.headers["Retry-After"]) + 0.1)
    assert login(client, "alice", TEST_PASSWORD).status_code == 200


def test_throttle_can_be_switched_off(api, app, client):
    app.config["RATELIMIT_ENABLED"] = False
    for _ in range(8):
        assert login(client, "dave", "wrong").status_code == 401


# --- counters shared between processes through Redis -----------------------------------------

def _redis_or_skip():
    try:
        connection = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        connection.ping()
    except redis.RedisError as error:
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {error}")
    return connection


def _failures_before_429(servers, attempts=8):
    """Alternate failed logins for one account between the servers; the attempt that got 429, or None."""
    for attempt in range(attempts):
        server = servers[attempt % len(servers)]
        response = requests.post(server.base + "/api/auth/login", timeout=30,
                                 data={"username": "shared", "password": "wrong password"})
        if response.status_code == 429:
            assert int(response.headers["Retry-After"]) >= 1
            return attempt
        assert response.status_code == 401, response.text
    return None


@pytest.mark.slow
@pytest.mark.parametrize("storage", ["redis", "memory"])
def test_separate_processes_share_the_count_only_through_redis(storage, tmp_path):
    """Two servers with one worker each (as on two hosts): with Redis the fifth
    failure anywhere closes the account everywhere; the per-process memory store, the
    control, lets each process count on its own."""
    connection = _redis_or_skip()
    prefix = f"sweetshop-test-{secrets.token_hex(4)}"
    uri = REDIS_URL if storage == "redis" else "memory://"
    with migrated_database("sqlite", tmp_path) as url:
        servers = []
        try:
            for _ in range(2):
                servers.append(LiveServer(url, workers=1, RATELIMIT_STORAGE_URI=uri,
                                          RATELIMIT_KEY_PREFIX=prefix))
            throttled_at = _failures_before_429(servers)
        finally:
            for server in servers:
                server.stop()
                os.unlink(server.log.name)
    keys = connection.keys(f"*{prefix}*")
    if storage == "redis":
        assert throttled_at == 5  # attempts 0-4 (three on one host, two on the other) failed
        assert keys
        connection.delete(*keys)
    else:
        assert throttled_at is None
        assert not keys


def page_login(client, username, password):
    return client.post("/login", data={"username": username, "password": password})


def test_page_login_is_throttled_with_a_flash_and_shares_the_api_count(api, client):
    api.user("alice")
    for _ in range(3):
        assert login(client, "alice", "wrong").status_code == 401
    for _ in range(2):
        response = page_login(client, "alice", "wrong")
        assert response.status_code == 422 and b"Incorrect username or password" in response.data
    response = page_login(client, "alice", TEST_PASSWORD)
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert b"Too many failed login attempts: please try again in" in response.data
    with client.session_transaction() as session:
        assert "_user_id" not in session  # not logged in
    assert_throttled(login(client, "alice", TEST_PASSWORD))


def test_page_login_succeeds_after_a_few_typos(api, client):
    api.user("alice")
    for _ in range(4):
        assert page_login(client, "alice", "typo").status_code == 422
    response = page_login(client, "alice", TEST_PASSWORD)
    assert response.status_code == 302
