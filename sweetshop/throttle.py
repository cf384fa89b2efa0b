"""Login and registration throttling, counted BEFORE the password is hashed, with counters every
worker shares.

Each hash costs real CPU (PBKDF2 at 600,000 iterations), so every attempt that would hash is
counted first and refused with 429 when over its limit; refused attempts cost no hashing.

- ``REGISTER_LIMIT_PER_ADDRESS``: registrations from one client address.
- ``LOGIN_ATTEMPT_LIMIT_PER_ADDRESS``: every login attempt from one address, any account.
- ``LOGIN_FAILURE_LIMIT_PER_ACCOUNT_AND_ADDRESS`` (hard, long window): attempts on one account
  from one address since the last success there; a success clears it, so it counts failures.
- ``LOGIN_ATTEMPT_LIMIT_PER_ACCOUNT`` (soft, short window): every attempt on one account from
  anywhere, against guessing from many addresses.

They are checked in that order and an attempt refused by one is not counted by the next (one
refused by the account's counter is not counted as this address's failure either). So a stranger
at one address is stopped by the pair limit and puts at most its few attempts into the account's
counter, too few to fill it: the owner, at their own address, is not locked out by them at all.
Only attempts from many addresses at once can fill the account's counter, and then the owner
waits at most its short window (``Retry-After``), never the pair limit's.

Each counter is tested and counted in one step (``hit``: atomic in Redis and, per process, in
memory), so parallel requests cannot overshoot a limit. Flask-Limiter builds the storage from
``RATELIMIT_STORAGE_URI`` (``memory://``: one process; ``redis://host:6379/0`` in production:
every worker and host) and the windowing from ``RATELIMIT_STRATEGY``. ``RATELIMIT_ENABLED=false``
switches every throttle off (load tests, benchmarks).
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


class ThrottledError(TooManyRequests):
    """429 with ``Retry-After`` (``seconds``)."""

    message = "Too many requests; try again later"

    def __init__(self, retry_after, counter=0):
        super().__init__(self.message, retry_after=retry_after)
        self.seconds = retry_after
        self.counter = counter  # the index of the full counter


class LoginThrottledError(ThrottledError):
    message = "Too many login attempts; try again later"


class RegistrationThrottledError(ThrottledError):
    message = "Too many registrations from this address; try again later"


class PasswordResetThrottledError(ThrottledError):
    message = "Too many password reset requests; try again later"


def _limiter():
    return current_app.extensions[EXTENSION]


def _enabled():
    return current_app.config.get("RATELIMIT_ENABLED", True)


def _account(username):
    # Hashed so that any text a client sends as a username makes a short, safe storage key
    # (and usernames are not readable in Redis); lower-cased like the unique username key.
    return hashlib.sha256(username.strip().lower().encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _counter(setting, kind, *identifiers):
    config = current_app.config
    return parse(config[setting]), (config["RATELIMIT_KEY_PREFIX"], kind, *identifiers)


def _storage_failed(error):
    # A broken counter store must not take login down with it: let the attempt through
    # unthrottled, and say so loudly so the operator fixes the store.
    current_app.logger.warning("throttle storage unavailable, not throttling: %r", error)


def _count(counters, error_type):
    """Hit each ``(limit, identifiers)`` in turn, stopping at the first that is full.

    :raise error_type: one was full; ``Retry-After`` is when it has room again.
    """
    if not _enabled():
        return
    strategy = _limiter().limiter
    try:
        for index, (limit, identifiers) in enumerate(counters):
            if not strategy.hit(limit, *identifiers):
                reset_at = strategy.get_window_stats(limit, *identifiers).reset_time
                raise error_type(max(1, math.ceil(reset_at - time.time())), index)
    except ThrottledError:
        raise
    except Exception as error:  # any storage client error (Redis down, timeout, ...)
        _storage_failed(error)


ADDRESS, PAIR, ACCOUNT = range(3)


def _login_counters(username):
    address, account = get_remote_address(), _account(username)
    return [
        _counter("LOGIN_ATTEMPT_LIMIT_PER_ADDRESS", "login-address", address),
        _counter("LOGIN_FAILURE_LIMIT_PER_ACCOUNT_AND_ADDRESS", "login-pair", account, address),
        _counter("LOGIN_ATTEMPT_LIMIT_PER_ACCOUNT", "login-account", account),
    ]


def login_attempt(username):
    """Count a login attempt for ``username`` from this request's address; call it before the
    password is checked.

    :raise LoginThrottledError: the address, the account from this address, or the account
        used up its attempts.
    """
    counters = _login_counters(username)
    try:
        _count(counters, LoginThrottledError)
    except LoginThrottledError as error:
        metrics.record_login_throttled()  # this attempt is answered 429
        if error.counter == ACCOUNT:
            # Refused for the account's sake (attempts from many addresses): this attempt was
            # never checked, so it is no failure of this address. Counting it would let a
            # crowd of strangers push the owner into the long pair limit by retrying.
            _clear(counters[PAIR])
        raise


def login_succeeded(username):
    """Forget this address's failed attempts on ``username`` (the pair counter)."""
    if _enabled():
        _clear(_login_counters(username)[PAIR])


def _clear(counter):
    limit, identifiers = counter
    try:
        _limiter().limiter.clear(limit, *identifiers)
    except Exception as error:
        _storage_failed(error)


def registration():
    """Count a registration from this request's address; call it before the password is hashed.

    :raise RegistrationThrottledError:
    """
    _count([_counter("REGISTER_LIMIT_PER_ADDRESS", "register-address", get_remote_address())],
           RegistrationThrottledError)


def password_reset(account):
    """Count a password-reset request for ``account`` (the username or address given) from this
    request's address; call it before any work.

    :raise PasswordResetThrottledError: ``PASSWORD_RESET_LIMIT_PER_ADDRESS`` or
        ``PASSWORD_RESET_LIMIT_PER_ACCOUNT`` is used up.
    """
    _count([_counter("PASSWORD_RESET_LIMIT_PER_ADDRESS", "reset-address", get_remote_address()),
            _counter("PASSWORD_RESET_LIMIT_PER_ACCOUNT", "reset-account", _account(account))],
           PasswordResetThrottledError)


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
