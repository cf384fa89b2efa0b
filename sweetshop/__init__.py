"""Sweetshop: a web shop and stock keeper for a small sweet shop."""
import os
import sqlite3

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter, ValidationError

from config import CONFIGS, database_url

from . import cli, handlers, metrics, observability, request_limits, security, throttle
from .extensions import csrf, db, login_manager, migrate


class IdConverter(IntegerConverter):
    """A row id: an integer that fits the database column, so a huge one is a 404, not a 500."""

    def __init__(self, url_map):
        super().__init__(url_map, min=1, max=2_147_483_647)

    def to_python(self, value):
        try:
            return super().to_python(value)
        except ValidationError:
            # An id out of range names no row: 404 for every method. Left as a non-match,
            # Werkzeug would answer DELETE /api/sweets/0 with 405 and the other rules' methods.
            raise NotFound() from None


class CookieSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, minus its per-request setup for clients that send no
    session cookie: API scripts never do, and building the signer for them is wasted work."""

    def open_session(self, app, request):
        if not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app, session, response):
        if session or session.modified:
            super().save_session(app, session, response)
        elif session.accessed:
            response.vary.add("Cookie")  # as Flask does: the answer may depend on the session


def create_app(test_config=None):
    """Build the app. ``test_config`` (a dict) overrides the settings after the environment's."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_object(CONFIGS[os.environ.get("SWEETSHOP_CONFIG", "development")])
    app.config.from_prefixed_env("SWEETSHOP")
    if test_config:
        app.config.from_mapping(test_config)
    check_settings(app)

    app.json.sort_keys = False
    app.session_interface = CookieSessionInterface()
    app.url_map.converters["id"] = IdConverter
    observability.init_app(app)
    metrics.init_app(app)
    request_limits.init_app(app)
    register_extensions(app)
    register_blueprints(app)
    handlers.init_app(app)
    security.init_app(app)
    cli.init_app(app)
    return app


def check_settings(app):
    """Fail fast on a missing secret; fill in the embedded SQLite default."""
    if not app.config.get("SECRET_KEY"):
        raise RuntimeError("SECRET_KEY must be set (environment variable SECRET_KEY)")
    # Again here, for URLs set by SWEETSHOP_SQLALCHEMY_DATABASE_URI or test_config.
    app.config["SQLALCHEMY_DATABASE_URI"] = database_url(app.config.get("SQLALCHEMY_DATABASE_URI"))
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        os.makedirs(app.instance_path, exist_ok=True)
        path = os.path.join(app.instance_path, "sweetshop.sqlite")
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{path}"


def register_extensions(app):
    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(app.root_path), "migrations"),
                     render_as_batch=True)
    csrf.init_app(app)
    login_manager.init_app(app)
    throttle.init_app(app)


def register_blueprints(app):
    from . import admin, api, auth, shop

    csrf.exempt(api.bp)  # the API authenticates with bearer tokens, never the session cookie
    app.register_blueprint(api.bp)
    app.register_blueprint(shop.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(admin.bp)


@event.listens_for(Engine, "connect")
def _tune_sqlite(dbapi_connection, connection_record):
    """SQLite as a multi-process server: WAL lets readers run beside the writer, the busy
    timeout makes writers queue instead of failing, and foreign keys are enforced."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
