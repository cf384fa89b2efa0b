"""Shared fixtures: an app on a fresh database (SQLite and PostgreSQL), clients, users, live servers."""
import os

import pytest
from sqlalchemy import create_engine, text

# The live-server harness lives in harness.py (bench/ uses it too); its names stay importable
# from here, as tests have always imported them.
from harness import (CHEAP_HASH, ONE_ADDRESS_FOR_ALL, POSTGRES_URL, ROOT,  # noqa: F401
                     TEST_PASSWORD, Cluster, LiveServer, flask_cli, free_port, fresh_database,
                     migrated_database, postgres_error, server_command, server_env, server_environment)
from sweetshop import create_app
from sweetshop.extensions import db

REQUIRE_POSTGRES = os.environ.get("SWEETSHOP_REQUIRE_POSTGRES") == "1"
BACKENDS = ["sqlite", "postgresql"]
# Production is the app's default; in-process tests ask for the testing settings explicitly
# (live servers run production settings, see server_env).
os.environ["SWEETSHOP_CONFIG"] = "testing"


def require_backend(backend):
    """Skip (or, with SWEETSHOP_REQUIRE_POSTGRES=1, fail) when PostgreSQL is wanted but not there."""
    if backend != "postgresql":
        return
    error = postgres_error()
    if error is None:
        return
    message = f"PostgreSQL not reachable at {POSTGRES_URL}: {error}"
    if REQUIRE_POSTGRES:
        pytest.fail(message + " (SWEETSHOP_REQUIRE_POSTGRES=1)")
    pytest.skip(message)


@pytest.fixture(params=BACKENDS)
def backend(request):
    require_backend(request.param)
    return request.param


@pytest.fixture(scope="session")
def postgres_schema_url(tmp_path_factory):
    """One PostgreSQL database for the whole session's in-process tests, emptied after each test."""
    require_backend("postgresql")
    with fresh_database("postgresql", None) as url:
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
        with app.app_context():
            db.create_all()
            db.engine.dispose()
        yield url


@pytest.fixture
def app(backend, tmp_path, request):
    """The app on an empty database with the models' schema; SQLite file per test,
    PostgreSQL tables truncated after each test."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path}/test.sqlite"
    else:
        url = request.getfixturevalue("postgres_schema_url")
    app = create_app({
        "TESTING": True, "SECRET_KEY": "testing", "SQLALCHEMY_DATABASE_URI": url,
        "PASSWORD_HASH_METHOD": CHEAP_HASH, "WTF_CSRF_ENABLED": False, **ONE_ADDRESS_FOR_ALL,
    })
    with app.app_context():
        if backend == "sqlite":
            db.create_all()
    yield app
    with app.app_context():
        db.session.remove()
        if backend == "postgresql":
            tables = ", ".join(t.name for t in db.metadata.sorted_tables)
            db.session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            db.session.commit()
        db.engine.dispose()


@pytest.fixture
def ctx(app):
    """An application context for domain tests that call the modules directly."""
    with app.app_context():
        yield


@pytest.fixture
def buyer(ctx):
    """A registered customer's id (the domain does not apply the password policy)."""
    from sweetshop import accounts
    return accounts.register("buyer", "password1").id


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


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


@pytest.fixture
def api(client):
    return ApiHelper(client)


# --- live servers: the production server's workers over a real database (harness.py) ------

@pytest.fixture(scope="module")
def live_shop(live_server):
    """The live server with an admin and eight customers (``admin``, ``buyers``: bearer headers),
    and ``sql(query, **params)`` to read its database directly."""
    live_server.admin = live_server.token("boss", admin=True)
    live_server.buyers = [live_server.token(f"buyer{i}") for i in range(8)]
    engine = create_engine(live_server.database_url)

    def sql(query, **params):
        with engine.connect() as connection:
            return connection.execute(text(query), params).all()

    live_server.sql = sql
    yield live_server
    engine.dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def live_server(request, tmp_path_factory):
    """The real server with 4 workers on a freshly migrated database, one per module and backend."""
    require_backend(request.param)
    with migrated_database(request.param, tmp_path_factory.mktemp("live")) as url:
        with LiveServer(url, workers=4) as server:
            server.backend = request.param
            server.database_url = url
            yield server
