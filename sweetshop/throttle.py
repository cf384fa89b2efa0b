"""Login and registration throttling, counted BEFORE the password is hashed, with counters every
worker and host shares.

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

Where the counters live (``RATELIMIT_STORAGE_URI``):

- empty (the default): the shop's own database, table ``throttle_counters``, which every worker
  and host already shares. Each counted attempt is one statement: an upsert whose row count
  decides (``INSERT ... ON CONFLICT ... DO UPDATE SET hits = hits + 1 WHERE hits < limit RETURNING
  hits``, the same on PostgreSQL and SQLite), so parallel attempts cannot overshoot a limit; no
  row back means the counter is full, and only then is the row read again, for ``Retry-After``.
  The window is fixed and starts at a counter's first attempt: "5 per 15 minutes" lets 5 attempts
  through, then refuses every other until 15 minutes after the first (refused attempts do not
  count, so retrying never makes the wait longer). Whenever a counter starts a window, the same
  transaction deletes every expired counter, so the table holds only live ones. On PostgreSQL the
  counters' transaction commits without waiting for the disk (``synchronous_commit`` off for it
  alone): a database crash may forget the last fraction of a second's counts, and no refused
  attempt holds a worker waiting for an fsync.
- ``redis://host:6379/0``: the ``limits`` library's Redis storage, with ``RATELIMIT_STRATEGY`` as
  its windowing (a moving window by default), for shops that already run Redis.
- ``memory://``: one process's own counters (a single-process server; never with several workers).

A broken store lets attempts through unthrottled and logs a warning: the throttle must not take
login down. ``RATELIMIT_ENABLED=false`` switches every throttle off (load tests, benchmarks).
"""
import hashlib
import math
import time

from flask import current_app, request
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import STRATEGIES
from sqlalchemy import text
from werkzeug.exceptions import TooManyRequests

from . import metrics
from .extensions import db

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


def _enabled():
    return current_app.config.get("RATELIMIT_ENABLED", True)


def _account(username):
    # Hashed so that any text a client sends as a username makes a short, safe storage key
    # (and usernames are not readable in the store); lower-cased like the unique username key.
    return hashlib.sha256(username.strip().lower().encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _counter(setting, kind, *identifiers):
    config = current_app.config
    return parse(config[setting]), (config["RATELIMIT_KEY_PREFIX"], kind, *identifiers)


def _storage_failed(error):
    # A broken counter store must not take login down with it: let the attempt through
    # unthrottled, and say so loudly so the operator fixes the store.
    current_app.logger.warning("throttle storage unavailable, not throttling: %r", error)


# Counts one attempt unless the counter is full: no row back then. A counter past its window
# starts a new one. Every SET expression reads the row as it was, on both databases.
HIT = text("""
INSERT INTO throttle_counters (counter, hits, expires_at) VALUES (:counter, 1, :expires)
ON CONFLICT (counter) DO UPDATE SET
    hits = CASE WHEN throttle_counters.expires_at <= :now THEN 1 ELSE throttle_counters.hits + 1 END,
    expires_at = CASE WHEN throttle_counters.expires_at <= :now THEN excluded.expires_at
                      ELSE throttle_counters.expires_at END
WHERE throttle_counters.expires_at <= :now OR throttle_counters.hits < :amount
RETURNING hits""")
EXPIRES = text("SELECT expires_at FROM throttle_counters WHERE counter = :counter")
PURGE = text("DELETE FROM throttle_counters WHERE expires_at <= :now")
CLEAR = text("DELETE FROM throttle_counters WHERE counter = :counter")
ASYNC_COMMIT = text("SET LOCAL synchronous_commit TO OFF")


def _row_key(counter):
    # The limit is part of the name, as in the limits library: a changed setting starts afresh.
    limit, (prefix, kind, *rest) = counter
    named = "/".join([str(limit.amount), str(limit.get_expiry()), *rest])
    digest = hashlib.sha256(named.encode("utf-8", "surrogatepass")).hexdigest()[:40]
    return f"{prefix[:60]}:{kind}:{digest}"


class DatabaseCounters:
    """The counters in the shop's database (the default): see the module's docstring."""

    def hit_all(self, counters, forget):
        """Count an attempt on each ``(limit, identifiers)`` in turn, in one transaction, stopping
        at the first that is full (and then clearing ``forget[its index]``, if any); returns
        ``(its index, seconds until it has room)`` or None."""
        now = time.time()
        # Its own connection and transaction: counted attempts stay counted whatever the
        # request's own session does next.
        with db.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # A crash of the database may forget the last moment's counts: no attempt waits
                # for the disk, as a flood of them would make every one wait.
                connection.execute(ASYNC_COMMIT)
            for index, (limit, identifiers) in enumerate(counters):
                counter = _row_key((limit, identifiers))
                hits = connection.execute(HIT, {"counter": counter, "now": now, "amount": limit.amount,
                                                "expires": now + limit.get_expiry()}).scalar()
                if hits is None:
                    if index in forget:
                        connection.execute(CLEAR, {"counter": _row_key(forget[index])})
                    expires = connection.execute(EXPIRES, {"counter": counter}).scalar() or now
                    return index, max(1, math.ceil(expires - now))
                if hits == 1:
                    connection.execute(PURGE, {"now": now})
        return None

    def clear(self, counter):
        with db.engine.begin() as connection:
            connection.execute(CLEAR, {"counter": _row_key(counter)})


class LibraryCounters:
    """Counters in a store of the ``limits`` library (Redis, or one process's memory)."""

    def __init__(self, uri, strategy):
        self.limiter = STRATEGIES[strategy](storage_from_string(uri))

    def hit_all(self, counters, forget):
        for index, (limit, identifiers) in enumerate(counters):
            if not self.limiter.hit(limit, *identifiers):
                if index in forget:
                    self.clear(forget[index])
                reset_at = self.limiter.get_window_stats(limit, *identifiers).reset_time
                return index, max(1, math.ceil(reset_at - time.time()))
        return None

    def clear(self, counter):
        limit, identifiers = counter
        self.limiter.clear(limit, *identifiers)


def _store():
    return current_app.extensions[EXTENSION]


def _count(counters, error_type, forget=None):
    """Hit each ``(limit, identifiers)`` in turn, stopping at the first that is full; ``forget``
    maps an index to a counter to clear when that one is full.

    :raise error_type: one was full; ``Retry-After`` is when it has room again.
    """
    if not _enabled():
        return
    try:
        full = _store().hit_all(counters, forget or {})
    except Exception as error:  # any store error (database or Redis down, timeout, ...)
        _storage_failed(error)
        return
    if full is not None:
        index, seconds = full
        raise error_type(seconds, index)


ADDRESS, PAIR, ACCOUNT = range(3)


def _login_counters(username):
    address, account = request.remote_addr or "", _account(username)
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
        # Refused for the account's sake (attempts from many addresses), this attempt was never
        # checked, so it is no failure of this address: the pair counter is cleared. Counting it
        # would let a crowd of strangers push the owner into the long pair limit by retrying.
        _count(counters, LoginThrottledError, forget={ACCOUNT: counters[PAIR]})
    except LoginThrottledError:
        metrics.record_login_throttled()  # this attempt is answered 429
        raise


def login_succeeded(username):
    """Forget this address's failed attempts on ``username`` (the pair counter)."""
    if _enabled():
        _clear(_login_counters(username)[PAIR])


def _clear(counter):
    try:
        _store().clear(counter)
    except Exception as error:
        _storage_failed(error)


def registration():
    """Count a registration from this request's address; call it before the password is hashed.

    :raise RegistrationThrottledError:
    """
    _count([_counter("REGISTER_LIMIT_PER_ADDRESS", "register-address", request.remote_addr or "")],
           RegistrationThrottledError)


def password_reset(account):
    """Count a password-reset request for ``account`` (the username or address given) from this
    request's address; call it before any work.

    :raise PasswordResetThrottledError: ``PASSWORD_RESET_LIMIT_PER_ADDRESS`` or
        ``PASSWORD_RESET_LIMIT_PER_ACCOUNT`` is used up.
    """
    _count([_counter("PASSWORD_RESET_LIMIT_PER_ADDRESS", "reset-address", request.remote_addr or ""),
            _counter("PASSWORD_RESET_LIMIT_PER_ACCOUNT", "reset-account", _account(account))],
           PasswordResetThrottledError)


def init_app(app):
    uri = app.config["RATELIMIT_STORAGE_URI"]
    app.extensions[EXTENSION] = (LibraryCounters(uri, app.config["RATELIMIT_STRATEGY"]) if uri
                                 else DatabaseCounters())
