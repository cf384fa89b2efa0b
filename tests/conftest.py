"""Shared fixtures: an app on a fresh database (SQLite and PostgreSQL), clients, users, live servers.

The helpers behind them are in the support package (tests/support/); how the suite is laid out and
run is in docs/testing.md.
"""
import os
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from support.harness import LiveServer, fresh_database, migrated_database
from support.shop import BACKENDS, ApiHelper, make_app, require_backend
from sweetshop.extensions import db


# Production is the app's default; in-process tests ask for the testing settings explicitly
# (live servers run production settings, see server_env).
os.environ["SWEETSHOP_CONFIG"] = "testing"


def pytest_addoption(parser):
    parser.addoption("--sqlite-only", action="store_true",
                     help="run every test that takes a database on SQLite only (make test-fast)")


def pytest_generate_tests(metafunc):
    """An in-process test (``backend``) runs on the databases its ``databases`` marker names, by
    default both; a live server on both. --sqlite-only keeps every test to SQLite."""
    sqlite_only = metafunc.config.getoption("sqlite_only")
    if "backend" in metafunc.fixturenames and not _parametrized_by_the_test(metafunc, "backend"):
        marker = metafunc.definition.get_closest_marker("databases")
        databases = ["sqlite"] if sqlite_only else list(marker.args) if marker else BACKENDS
        metafunc.parametrize("backend", databases, indirect=True)
    if "live_server" in metafunc.fixturenames:
        metafunc.parametrize("live_server", ["sqlite"] if sqlite_only else BACKENDS, indirect=True,
                             scope="module")


def _parametrized_by_the_test(metafunc, name):
    return any(name in str(marker.args[0]) for marker in metafunc.definition.iter_markers("parametrize"))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """The browser tests start a real server (and a browser): ``slow`` like the live ones.
    The modules of real servers and the browser come first, so that with several processes
    (``--dist loadfile`` hands out modules in this order) none of them is left running alone at
    the end. --sqlite-only leaves out the tests that need PostgreSQL."""
    here = Path(__file__).parent
    browser, live = here / "browser", here / "live"
    for item in items:
        if browser in item.path.parents:
            item.add_marker(pytest.mark.slow)
    items.sort(key=lambda item: not (browser in item.path.parents or live in item.path.parents))
    if config.getoption("sqlite_only"):
        wanted = [item for item in items if not item.get_closest_marker("postgres_only")]
        config.hook.pytest_deselected(items=[item for item in items if item not in wanted])
        items[:] = wanted


@pytest.fixture
def backend(request):
    require_backend(request.param)
    return request.param


# One app per database for the session's (one xdist worker's) in-process tests, with its settings and
# extensions as made: building an app (its 150 URL rules) costs more than most tests, and so does
# making a database. Each is made the first time a test asks for it (``app`` below).

@pytest.fixture(scope="session")
def sqlite_app(tmp_path_factory):
    yield from _shared_app(f"sqlite:///{tmp_path_factory.mktemp('shop')}/shop.sqlite")


@pytest.fixture(scope="session")
def postgresql_app():
    with fresh_database("postgresql", None) as url:
        yield from _shared_app(url)


def _shared_app(url):
    app = make_app(url)
    with app.app_context():
        db.create_all()
    yield app, dict(app.config), dict(app.extensions)
    _dispose(app)


def _dispose(app):
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def app(backend, request):
    """The app on an empty database with the models' schema: the worker's app for ``backend``,
    emptied after each test, its settings and extensions put back as they were made (a test may
    change settings; a setting the app reads once is cached in its extensions)."""
    app, settings, extensions = request.getfixturevalue(f"{backend}_app")
    yield app
    with app.app_context():
        db.session.remove()
        _empty_tables(backend)
    app.config.clear()
    app.config.update(settings)
    app.extensions.clear()
    app.extensions.update(extensions)


@pytest.fixture
def app_of_its_own(app):
    """A new app on ``app``'s database (emptied after the test as ``app``'s is), for a test that adds
    a route: an app that has answered a request takes no new ones."""
    own = make_app(app.config["SQLALCHEMY_DATABASE_URI"])
    yield own
    _dispose(own)


def _empty_tables(backend):
    """Delete every row, children first, and (PostgreSQL) restart every id sequence: the next test's
    database is as new. (SQLite takes the next id after the largest there is: none. A TRUNCATE on
    PostgreSQL gives each table a new file on disk: some 50 to 200 ms a test, where these deletes of
    a test's few rows take a few.)"""
    deletes = [f"DELETE FROM {table.name}" for table in reversed(db.metadata.sorted_tables)]
    if backend == "postgresql":
        sequences = db.session.execute(text("SELECT sequencename FROM pg_sequences")).scalars()
        restarts = [f"ALTER SEQUENCE {name} RESTART" for name in sequences]
        db.session.execute(text("; ".join(deletes + restarts)))
    else:
        for delete in deletes:  # sqlite3 runs one statement at a time
            db.session.execute(text(delete))
    db.session.commit()


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


@pytest.fixture
def api(client):
    return ApiHelper(client)


# --- live servers: the production server's workers over a real database (support/harness.py) ----

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


@pytest.fixture(scope="module")
def live_server(request, tmp_path_factory):
    """The real server with 4 workers on a freshly migrated database, one per module and backend."""
    require_backend(request.param)
    with migrated_database(request.param, tmp_path_factory.mktemp("live")) as url:
        with LiveServer(url, workers=4) as server:
            server.backend = request.param
            server.database_url = url
            yield server
