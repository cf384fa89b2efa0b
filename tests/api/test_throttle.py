"""Failed-login throttling: per account and per address, 429 with Retry-After, shared store."""
import os
import secrets
import time

import pytest
import redis
import requests

from support.harness import TEST_PASSWORD, LiveServer, migrated_database

from config import Config
from sweetshop import accounts

# The counters live in the limiter's store, not the database: SQLite only.
pytestmark = pytest.mark.databases("sqlite")

REDIS_URL = os.environ.get("SWEETSHOP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def login(client, username, password, address="127.0.0.1"):
    return client.post("/api/auth/login", data={"username": username, "password": password},
                       environ_base={"REMOTE_ADDR": address})


def register(client, username, address="127.0.0.1"):
    return client.post("/api/auth/register", json={"username": username, "password": TEST_PASSWORD},
                       environ_base={"REMOTE_ADDR": address})


def assert_throttled(response, longest=60):
    assert response.status_code == 429
    assert response.json == {"detail": "Too many login attempts; try again later"}
    assert 1 <= int(response.headers["Retry-After"]) <= longest


@pytest.fixture
def limits(app):
    """The limits as shipped (conftest raises the per-address ones for the rest of the suite)."""
    app.config.update({name: getattr(Config, name) for name in (
        "REGISTER_LIMIT_PER_ADDRESS", "LOGIN_ATTEMPT_LIMIT_PER_ADDRESS",
        "LOGIN_FAILURE_LIMIT_PER_ACCOUNT_AND_ADDRESS", "LOGIN_ATTEMPT_LIMIT_PER_ACCOUNT")})
    return app.config


def test_a_stranger_at_one_address_cannot_lock_the_owner_out(api, client, limits):
    api.user("alice")
    for _ in range(5):
        assert login(client, "alice", "wrong password", address="10.0.0.9").status_code == 401
    # From there the account is closed, right password or not, in any spelling of the name ...
    assert_throttled(login(client, "ALICE", TEST_PASSWORD, address="10.0.0.9"), longest=15 * 60)
    for _ in range(20):
        assert login(client, "Alice", "guess", address="10.0.0.9").status_code == 429
    # ... while the owner, at their own address, gets straight in.
    assert login(client, "alice", TEST_PASSWORD).status_code == 200


@pytest.mark.timing  # 19 logins must fit in the 2-second window
def test_many_addresses_only_slow_the_owner_for_the_short_account_window(api, app, client, limits):
    app.config["LOGIN_ATTEMPT_LIMIT_PER_ACCOUNT"] = "10 per 2 seconds"
    api.user("alice")
    time.sleep(2.1)  # api.user's own login has left the account's window
    for number in range(10):
        assert login(client, "alice", "guess", address=f"10.2.0.{number}").status_code == 401
    refused = login(client, "alice", TEST_PASSWORD)
    assert_throttled(refused, longest=2)
    for _ in range(8):  # the owner retrying meanwhile is not counted as their own failures
        assert login(client, "alice", TEST_PASSWORD).status_code == 429
    time.sleep(2.1)
    assert login(client, "alice", TEST_PASSWORD).status_code == 200


def test_a_few_typos_do_not_stop_a_real_login_and_a_success_forgets_them(api, client, limits):
    api.user("alice")
    for typos in (4, 3):  # with api.user's login, the account's 10 attempts a minute
        for _ in range(typos):
            assert login(client, "alice", "typo").status_code == 401
        assert login(client, "alice", TEST_PASSWORD).status_code == 200


def test_every_attempt_on_an_account_counts_successes_too(api, client, limits):
    api.user("alice")  # one login
    for number in range(9):
        assert login(client, "alice", TEST_PASSWORD, address=f"10.3.0.{number}").status_code == 200
    assert_throttled(login(client, "alice", TEST_PASSWORD, address="10.3.1.1"))


def test_every_attempt_from_an_address_counts_across_accounts(api, client, limits):
    for name in ("alice", "bob", "carol"):
        api.user(name, password=TEST_PASSWORD)
    outcomes = [login(client, name, TEST_PASSWORD, address="10.1.1.1").status_code
                for name in ("alice", "bob", "carol") for _ in range(10)]
    # Each account's tenth attempt this minute (api.user logged in once) is the account's 429.
    assert outcomes == ([200] * 9 + [429]) * 3
    # The address has made 30 attempts: its limit, whatever the account.
    assert_throttled(login(client, "dave", "guess", address="10.1.1.1"))
    assert login(client, "dave", "guess", address="10.1.1.2").status_code == 401


def test_a_refused_attempt_costs_no_hashing(api, client, limits, monkeypatch):
    api.user("alice")
    limits["REGISTER_LIMIT_PER_ADDRESS"] = "1 per hour"
    assert register(client, "bob").status_code == 201
    hashes = []
    for name in ("check_password_hash", "generate_password_hash"):
        real = getattr(accounts, name)
        monkeypatch.setattr(accounts, name, lambda *args, real=real: hashes.append(1) or real(*args))
    for _ in range(5):
        login(client, "alice", "guess", address="10.5.0.1")
    assert len(hashes) == 5
    for _ in range(10):
        assert login(client, "alice", "guess", address="10.5.0.1").status_code == 429
        assert register(client, "carol").status_code == 429
        assert register(client, "alice").status_code == 429
    assert len(hashes) == 5


def test_unknown_accounts_are_throttled_the_same_way(client, limits):
    for _ in range(5):
        assert login(client, "nobody", "guess").status_code == 401
    assert_throttled(login(client, "nobody", "guess"), longest=15 * 60)


def test_json_login_is_throttled_too(client, limits):
    for _ in range(5):
        response = client.post("/api/auth/login", json={"username": "carol", "password": "x"})
        assert response.status_code == 401
    assert_throttled(client.post("/api/auth/login", json={"username": "carol", "password": "x"}),
                     longest=15 * 60)


def test_lockout_ends_when_the_window_passes(api, app, client, limits):
    app.config["LOGIN_FAILURE_LIMIT_PER_ACCOUNT_AND_ADDRESS"] = "2 per 1 second"
    api.user("alice")
    for _ in range(2):
        assert login(client, "alice", "wrong").status_code == 401
    response = login(client, "alice", TEST_PASSWORD)
    assert_throttled(response)
    time.sleep(int(response.headers["Retry-After"]) + 0.1)
    assert login(client, "alice", TEST_PASSWORD).status_code == 200


def test_registrations_are_throttled_per_address_taken_names_too(client, limits):
    limits["REGISTER_LIMIT_PER_ADDRESS"] = "3 per hour"
    assert register(client, "alice").status_code == 201
    assert register(client, "alice").status_code == 400  # taken: counted all the same
    assert register(client, "bob").status_code == 201
    response = register(client, "carol")
    assert response.status_code == 429
    assert response.json == {"detail": "Too many registrations from this address; try again later"}
    assert 1 <= int(response.headers["Retry-After"]) <= 3600
    assert register(client, "alice").status_code == 429  # the "taken" answer is throttled too
    assert register(client, "carol", address="10.4.0.1").status_code == 201
    # Invalid input costs no hashing and is not counted.
    assert client.post("/api/auth/register", json={"username": "x"},
                       environ_base={"REMOTE_ADDR": "10.4.0.2"}).status_code == 422


def test_throttle_can_be_switched_off(api, app, client, limits):
    app.config["RATELIMIT_ENABLED"] = False
    for number in range(25):
        assert register(client, f"user{number}").status_code == 201
    for _ in range(40):
        assert login(client, "dave", "wrong").status_code == 401
        assert login(client, "user1", TEST_PASSWORD).status_code == 200


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


def test_page_login_is_throttled_with_a_flash_and_shares_the_api_count(api, client, limits):
    api.user("alice")
    for _ in range(3):
        assert login(client, "alice", "wrong").status_code == 401
    for _ in range(2):
        response = page_login(client, "alice", "wrong")
        assert response.status_code == 422 and b"Incorrect username or password" in response.data
    response = page_login(client, "alice", TEST_PASSWORD)
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 15 * 60
    assert b"Too many login attempts: please try again in" in response.data
    with client.session_transaction() as session:
        assert "_user_id" not in session  # not logged in
    assert_throttled(login(client, "alice", TEST_PASSWORD), longest=15 * 60)


def test_page_login_succeeds_after_a_few_typos(api, client, limits):
    api.user("alice")
    for _ in range(4):
        assert page_login(client, "alice", "typo").status_code == 422
    response = page_login(client, "alice", TEST_PASSWORD)
    assert response.status_code == 302


def test_page_registration_is_throttled_and_keeps_the_form(client, limits):
    limits["REGISTER_LIMIT_PER_ADDRESS"] = "1 per hour"
    form = {"password": TEST_PASSWORD, "confirm": TEST_PASSWORD}
    assert client.post("/register", data={"username": "alice", **form}).status_code == 302
    response = client.post("/register", data={"username": "bob", "full_name": "Bob B", **form})
    assert response.status_code == 429 and 1 <= int(response.headers["Retry-After"]) <= 3600
    assert b"Too many registrations from your address: please try again in" in response.data
    assert b'value="Bob B"' in response.data
