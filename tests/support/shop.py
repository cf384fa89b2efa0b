"""The in-process shop the tests drive: which databases, the app's test settings, API short-hands."""
import functools
import os

import pytest

from sweetshop import create_app

from .harness import CHEAP_HASH, ONE_ADDRESS_FOR_ALL, POSTGRES_URL, TEST_PASSWORD, postgres_error

REQUIRE_POSTGRES = os.environ.get("SWEETSHOP_REQUIRE_POSTGRES") == "1"
BACKENDS = ["sqlite", "postgresql"]


# Asked once per test process: a connection per test would cost each some milliseconds.
_postgres_error = functools.cache(postgres_error)


def require_backend(backend):
    """Skip (or, with SWEETSHOP_REQUIRE_POSTGRES=1, fail) when PostgreSQL is wanted but not there."""
    if backend != "postgresql":
        return
    error = _postgres_error()
    if error is None:
        return
    message = f"PostgreSQL not reachable at {POSTGRES_URL}: {error}"
    if REQUIRE_POSTGRES:
        pytest.fail(message + " (SWEETSHOP_REQUIRE_POSTGRES=1)")
    pytest.skip(message)


def make_app(url, **settings):
    """The app with the in-process tests' settings on the database at ``url`` (no tables made):
    cheap password hashing, CSRF off (the page tests switch it on), per-address limits raised."""
    return create_app({
        "TESTING": True, "SECRET_KEY": "testing", "SQLALCHEMY_DATABASE_URI": url,
        "PASSWORD_HASH_METHOD": CHEAP_HASH, "WTF_CSRF_ENABLED": False, **ONE_ADDRESS_FOR_ALL, **settings,
    })


class ApiHelper:
    """Short-hands for API tests: users with tokens, sweets made by an admin."""

    def __init__(self, client):
        self.client = client
        self._admin = None

    def user(self, username="alice", password=TEST_PASSWORD, admin=False):
        """Register (or promote) a user and return headers with their bearer token."""
        response = self.client.post("/api/auth/register",
                                    json={"username": username, "password": password})
        assert response.status_code == 201, response.json
        if admin:
            from sweetshop import accounts
            with self.client.application.app_context():
                accounts.set_admin(accounts.find_user(username))
        return self.login(username, password)

    def login(self, username, password=TEST_PASSWORD):
        response = self.client.post("/api/auth/login",
                                    data={"username": username, "password": password})
        assert response.status_code == 200, response.json
        return {"Authorization": f"Bearer {response.json['access_token']}"}

    @property
    def admin(self):
        if self._admin is None:
            self._admin = self.user("admin", admin=True)
        return self._admin

    def sweet(self, name="Fudge", category="Fudge", price=2.5, quantity=10):
        response = self.client.post("/api/sweets", headers=self.admin, json={
            "name": name, "category": category, "price": price, "quantity": quantity})
        assert response.status_code == 201, response.json
        return response.json
