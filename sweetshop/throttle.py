"""Failed-login throttling per account and per client address, with counters every worker shares.

Flask-Limiter builds the counter storage from ``RATELIMIT_STORAGE_URI`` (``memory://`` by
default, which only one process sees; ``redis://host:6379/0`` in production, which every
worker and host shares) and the windowing strategy from ``RATELIMIT_STRATEGY``. Only
FAILED attempts count, so a user who mistypes a few times still gets in, and the windows
are short (``LOGIN_LIMIT_PER_ACCOUNT``, ``LOGIN_LIMIT_PER_ADDRESS``), so nobody can lock a
real user out for longer than a minute or so by guessing at their account.

Both login views (API and pages) call :func:`check` before checking the password and
:func:`failed` after a wrong one. ``check`` then ``failed`` is not one atomic step: clients
racing in parallel can each squeeze in one more guess than the limit, no more.
"""
import hashlib
import math
import time

from flask import current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse
from werkzeug.exceptions import TooManyRequests

from . import metrics

EXTENSION = "sweetshop.throttle"


class LoginThrottledError(TooManyRequests):
    """429 with ``Retry-After``: too many failed logins for this account or address."""

    def __init__(self, retry_after):
        super().__init__("Too many failed login attempts; try again later", retry_after=retry_after)
        self.seconds = retry_after


def _limiter():
    return current_app.extensions[EXTENSION]


def _counters(username):
    """``(limit, identifiers)`` for each counter a login attempt by ``username`` touches."""
    config = current_app.config
    prefix = config["RATELIMIT_KEY_PREFIX"]
    # Hashed so that any text a client sends as a username makes a short, safe storage key
    # (and usernames are not readable in Redis); lower-cased like the unique username key.
    account = hashlib.sha256(username.strip().lower().encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return [
        (parse(config["LOGIN_LIMIT_PER_ACCOUNT"]), (prefix, "login-account", account)),
        (parse(config["LOGIN_LIMIT_PER_ADDRESS"]), (prefix, "login-address", get_remote_address())),
    ]


def _storage_failed(error):
    # A broken counter store must not take login down with it: let the attempt through
    # unthrottled, and say so loudly so the operator fixes the store.
    current_app.logger.warning("login throttle storage unavailable, not throttling: %r", error)


def check(username):
    """Let a login attempt for ``username`` from this request's address go ahead.

    :raise LoginThrottledError: the account or the address used up its failed attempts.
    """
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return
    strategy = _limiter().limiter
    waits = []
    try:
        for limit, identifiers in _counters(username):
            if not strategy.test(limit, *identifiers):
                reset_at = strategy.get_window_stats(limit, *identifiers).reset_time
                waits.append(reset_at - time.time())
    except Exception as error:  # any storage client error (Redis down, timeout, ...)
        _storage_failed(error)
        return
    if waits:
        metrics.record_login_throttled()
        raise LoginThrottledError(max(1, math.ceil(max(waits))))


def failed(username):
    """Count a failed login for ``username`` and for this request's address."""
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return
    strategy = _limiter().limiter
    try:
        for limit, identifiers in _counters(username):
            strategy.hit(limit, *identifiers)
    except Exception as error:
        _storage_failed(error)


def init_app(app):
    # One limiter per app: only its storage and strategy are used (no route limits), and a
    # per-app instance keeps each app's counters (and each test's) apart.
    limiter = Limiter(key_func=get_remote_address)
    # No route carries a limit, yet Flask-Limiter's hooks run on every request to look for
    # one; its documented request filter exempts them all at once, so a purchase does not
    # pay for the login throttle.
    limiter.request_filter(lambda: True)
    limiter.init_app(app)
    app.extensions[EXTENSION] = limiter
