"""Shared fixtures: an app on a fresh database (SQLite and PostgreSQL), clients, users, live servers."""
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import psycopg2
import pytest
import requests
from sqlalchemy import text

from config import database_url
from sweetshop import create_app
from sweetshop.extensions import db

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get("SWEETSHOP_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")
REQUIRE_POSTGRES = os.environ.get("SWEETSHOP_REQUIRE_POSTGRES") == "1"
BACKENDS = ["sqlite", "postgresql"]
TEST_PASSWORD = "correct horse 1"
# Cheap hashing for test users; production strength has its own test.
CHEAP_HASH = "pbkdf2:sha256:1000"
# Every test client is 127.0.0.1, so the per-address limits are raised for the suite; the tests
# of those limits (test_throttle.py) set the real values. The per-account limits stay as shipped.
ONE_ADDRESS_FOR_ALL = {"REGISTER_LIMIT_PER_ADDRESS": "1000 per minute",
                       "LOGIN_ATTEMPT_LIMIT_PER_ADDRESS": "1000 per minute"}


def _postgres_error():
    try:
        psycopg2.connect(f"{POSTGRES_URL}/postgres", connect_timeout=3).close()
    except psycopg2.Error as error:
        return str(error).strip()
    return None


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


@contextmanager
def fresh_database(backend, directory):
    """A new, empty database of the given kind; yields its SQLAlchemy URL and drops it after."""
    if backend == "sqlite":
        yield f"sqlite:///{directory}/sweetshop-{secrets.token_hex(4)}.sqlite"
        return
    name = f"sweetshop_test_{secrets.token_hex(6)}"
    admin = psycopg2.connect(f"{POSTGRES_URL}/postgres")
    admin.autocommit = True
    try:
        admin.cursor().execute(f'CREATE DATABASE "{name}"')
        yield database_url(f"{POSTGRES_URL}/{name}")
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


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
    os.environ.setdefault("SWEETSHOP_CONFIG", "testing")
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


# --- live servers: real gunicorn workers over a real database ------------------------------

def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(url, **settings):
    env = dict(os.environ, DATABASE_URL=url, SWEETSHOP_CONFIG="production",
               SECRET_KEY="live-test-secret", SWEETSHOP_PASSWORD_HASH_METHOD=CHEAP_HASH,
               SWEETSHOP_SESSION_COOKIE_SECURE="false")
    env.update({f"SWEETSHOP_{key}": value for key, value in ONE_ADDRESS_FOR_ALL.items()})
    env.update({f"SWEETSHOP_{key}": str(value) for key, value in settings.items()})
    return env


def flask_cli(env, *args, input=None):
    """Run ``flask --app sweetshop ARGS`` as an operator would."""
    return subprocess.run([sys.executable, "-m", "flask", "--app", "sweetshop", *args],
                          cwd=ROOT, env=env, input=input, capture_output=True, text=True,
                          timeout=120)


class LiveServer:
    """A gunicorn master with several sync workers serving the app on a free port."""

    def __init__(self, url, workers=4, **settings):
        self.env = server_env(url, **settings)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        # The server's log goes to a file (a pipe nobody reads would fill up and stall it).
        self.log = tempfile.NamedTemporaryFile(prefix="gunicorn-", suffix=".log", delete=False)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind",
             f"127.0.0.1:{self.port}", "--timeout", "60", "--graceful-timeout", "5", "wsgi:app"],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_until_up()

    def log_text(self):
        return Path(self.log.name).read_text(errors="replace")

    def _wait_until_up(self, seconds=30):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("gunicorn exited:\n" + self.log_text())
            try:
                if requests.get(self.base + "/api/health", timeout=1).status_code == 200:
                    return
            except requests.RequestException:  # refused, or a slow first answer
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("gunicorn did not come up:\n" + self.log_text())

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()

    def cli(self, *args, input=None):
        return flask_cli(self.env, *args, input=input)

    def token(self, username, password=TEST_PASSWORD, admin=False):
        """Headers with a bearer token for a (new or existing) user; admins via the CLI."""
        if admin:
            result = self.cli("create-admin", username, "--password-stdin", input=password + "\n")
            assert result.returncode == 0, result.stderr
        else:
            requests.post(self.base + "/api/auth/register",
                          json={"username": username, "password": password}, timeout=30)
        response = requests.post(self.base + "/api/auth/login",
                                 data={"username": username, "password": password}, timeout=30)
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}


@contextmanager
def migrated_database(backend, directory):
    """A fresh database brought to the latest schema by ``flask db upgrade``."""
    with fresh_database(backend, directory) as url:
        result = flask_cli(server_env(url), "db", "upgrade")
        assert result.returncode == 0, result.stderr
        yield url


@pytest.fixture(scope="module", params=BACKENDS)
def live_server(request, tmp_path_factory):
    """A real gunicorn with 4 workers on a freshly migrated database, one per module and backend."""
    require_backend(request.param)
    with migrated_database(request.param, tmp_path_factory.mktemp("live")) as url:
        server = LiveServer(url, workers=4)
        server.backend = request.param
        server.database_url = url
        yield server
        server.stop()
        os.unlink(server.log.name)
