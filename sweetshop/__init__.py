"""Sweetshop: a web shop and stock keeper for a small sweet shop."""
import os
import sqlite3

import click
from flask import Flask
from flask.cli import FlaskGroup
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.exceptions import NotFound
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter, ValidationError

import config

from . import (cli, handlers, inventory, metrics, observability, outbox, request_limits, security, throttle,
               wording)
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
    """Flask's signed-cookie session for the pages, minus its per-request setup for clients that
    send no session cookie; the API gets none at all."""

    def open_session(self, app, request):
        if handlers.is_api_path(request.path):
            # The API authenticates by bearer token alone and ignores the page cookie, so its requests
            # get Flask's null session: no cookie is read or written, and no answer says it varies on
            # Cookie (Flask-Login's hook looks at the session after every request, which marked every
            # API answer so). 5 % of a purchase's instructions (bench/instructions.py).
            return None
        if not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app, session, response):
        if session or session.modified:
            super().save_session(app, session, response)
            if "Set-Cookie" in response.headers:
                # Runs after the after_request hooks (security.py's): a response that sets or
                # deletes the session cookie must not be stored by a browser or a proxy.
                response.headers["Cache-Control"] = "no-store"
        elif session.accessed:
            response.vary.add("Cookie")  # as Flask does: the answer may depend on the session


def create_app(test_config=None):
    """Build the app from the environment as it is now (see ``config.py``); ``test_config``
    (a dict) overrides the settings after the environment's.

    :raise RuntimeError: no ``SECRET_KEY``, or an unknown ``SWEETSHOP_CONFIG``.
    """
    app = Flask(__name__, instance_relative_config=True)
    config.load(app.config)
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
    wording.init_app(app)
    trust_proxies(app)
    return app


def trust_proxies(app):
    """Behind ``TRUSTED_PROXIES`` proxies, take the client's address and scheme from the headers
    they append, so the login throttle and the request log see the client, not the balancer.

    Only X-Forwarded-For and X-Forwarded-Proto are trusted: a proxy that forwards the Host
    header as the client sent it (nginx's ``$host``, cloud balancers) needs no X-Forwarded-Host,
    and trusting a header the proxy does not set would let any client choose it.

    :raise RuntimeError: ``TRUSTED_PROXIES`` is not a whole number of at least 0.
    """
    count = app.config["TRUSTED_PROXIES"]
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise RuntimeError(f"TRUSTED_PROXIES must be a whole number of proxies (0 or more), not {count!r}")
    if count:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=0, x_port=0, x_prefix=0)


def _built_for_a_command():
    """Whether the ``flask`` command line builds the app for one of its commands other than
    ``flask run`` (``create-admin``, ``audit-stock``, ``db upgrade``, ...).

    Those sign no cookie and no form, so they need no ``SECRET_KEY``: an operator can run them
    on a host (or against the shop ``make run`` serves) without the serving secret. ``flask run``
    serves pages, so it needs the secret as every server does; Flask loads the app inside that
    command, and every other command's app is loaded outside it.
    """
    context = click.get_current_context(silent=True)
    if context is None or not isinstance(context.find_root().command, FlaskGroup):
        return False
    return context.command.name != "run"


def check_settings(app):
    """Fail fast on a missing secret (unless a command that signs nothing builds the app); fill in
    the embedded SQLite default, its busy timeout and the engine options."""
    if not app.config.get("SECRET_KEY") and not _built_for_a_command():
        raise RuntimeError(
            "SECRET_KEY must be set (environment variable SECRET_KEY): it signs session cookies and "
            f"CSRF tokens. Make one with: export SECRET_KEY=\"$({config.GENERATE_SECRET})\"")
    outbox.check_settings(app.config)
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {**app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}),
                                               "pool_pre_ping": bool(app.config["POOL_PRE_PING"])}
    app.config["SQLALCHEMY_DATABASE_URI"] = config.database_url(app.config.get("SQLALCHEMY_DATABASE_URI"))
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        os.makedirs(app.instance_path, exist_ok=True)
        path = os.path.join(app.instance_path, "sweetshop.sqlite")
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{path}"
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # Python's sqlite3 turns its connect timeout into SQLite's busy timeout.
        options = dict(app.config["SQLALCHEMY_ENGINE_OPTIONS"])
        options["connect_args"] = {**options.get("connect_args", {}),
                                   "timeout": app.config["SQLITE_BUSY_TIMEOUT_SECONDS"]}
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def register_extensions(app):
    db.init_app(app)
    inventory.init_app(app)
    # migrations/ sits beside the package in the checkout (where Flask-Migrate looks by default);
    # named absolutely, so `flask db upgrade` works from any working directory.
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
    """SQLite as a multi-process server: WAL lets readers run beside the writer, and foreign
    keys are enforced. (The busy timeout, which makes writers queue instead of failing, is the
    connection's ``timeout``: the ``SQLITE_BUSY_TIMEOUT_SECONDS`` setting, see check_settings.)"""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
