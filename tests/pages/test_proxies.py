"""Behind a proxy (TRUSTED_PROXIES): the login throttle and the request log see the real client.

The address logic is the same on every database, so these run on SQLite only.
"""
import json

import pytest

from support.harness import CHEAP_HASH
from sweetshop import create_app
from sweetshop.extensions import db

BALANCER = "10.0.0.2"


@pytest.fixture
def make_app(tmp_path):
    apps = []

    def make(proxies):
        app = create_app({
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/proxies-{len(apps)}.sqlite",
            "TRUSTED_PROXIES": proxies, "PASSWORD_HASH_METHOD": CHEAP_HASH,
            "LOGIN_ATTEMPT_LIMIT_PER_ADDRESS": "3 per minute",
            "LOGIN_ATTEMPT_LIMIT_PER_ACCOUNT": "100 per minute"})
        with app.app_context():
            db.create_all()
        apps.append(app)
        return app.test_client()

    yield make
    for app in apps:
        with app.app_context():
            db.engine.dispose()


def failed_login(client, username, peer, forwarded=None):
    """A wrong password for ``username`` over a connection from ``peer``."""
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return client.post("/api/auth/login", data={"username": username, "password": "wrong"},
                       headers=headers, environ_base={"REMOTE_ADDR": peer}).status_code


def logged_addresses(capsys):
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    return [line["remote_addr"] for line in lines if line["logger"] == "sweetshop.request"]


def test_without_trusted_proxies_a_spoofed_forwarded_for_is_ignored(make_app, capsys):
    client = make_app(0)
    capsys.readouterr()
    # A guesser sends a new X-Forwarded-For with every attempt; its connection's address counts.
    for number in range(3):
        assert failed_login(client, f"victim{number}", "198.51.100.7", f"203.0.113.{number}") == 401
    assert failed_login(client, "victim9", "198.51.100.7", "203.0.113.99") == 429
    assert failed_login(client, "victim9", "198.51.100.8") == 401  # another connection's address
    assert logged_addresses(capsys) == ["198.51.100.7"] * 4 + ["198.51.100.8"]


def test_behind_one_proxy_each_client_is_throttled_and_logged_by_its_own_address(make_app, capsys):
    client = make_app(1)
    capsys.readouterr()
    for number in range(3):
        assert failed_login(client, f"victim{number}", BALANCER, "203.0.113.5") == 401
    assert failed_login(client, "victim9", BALANCER, "203.0.113.5") == 429
    # Another customer behind the same balancer is not the guesser.
    assert failed_login(client, "someone", BALANCER, "203.0.113.6") == 401
    # Only the entry the proxy appended is believed, not one the client wrote before it.
    assert failed_login(client, "victim9", BALANCER, "192.0.2.1, 203.0.113.5") == 429
    assert logged_addresses(capsys) == ["203.0.113.5"] * 4 + ["203.0.113.6", "203.0.113.5"]


@pytest.mark.parametrize("value", ["-1", "two", "1.5", "true"])
def test_a_bad_number_of_proxies_is_refused_at_start(monkeypatch, tmp_path, value):
    monkeypatch.setenv("SWEETSHOP_TRUSTED_PROXIES", value)
    with pytest.raises(RuntimeError, match="TRUSTED_PROXIES must be a whole number"):
        create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.sqlite"})
