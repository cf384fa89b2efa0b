"""Settings: the defaults of each environment, and how the factory reads the process environment.

This module holds defaults only and reads nothing at import; :func:`load` is called by
``create_app()``, so an app made after a change to the environment sees the change. There
is one naming scheme: a setting ``NAME`` below is read from ``SWEETSHOP_<NAME>`` (for
example ``SWEETSHOP_TOKEN_TTL_SECONDS=3600``). Two are also read under the names every host
and tool uses for them: ``SECRET_KEY`` and ``DATABASE_URL`` (for ``SQLALCHEMY_DATABASE_URI``);
the ``SWEETSHOP_`` name wins when both are set. ``SWEETSHOP_CONFIG`` picks the environment:
``production`` (the default), ``development`` or ``testing``.
"""
import os

GENERATE_SECRET = "python -c 'import secrets; print(secrets.token_hex(32))'"
# Setting -> the conventional environment variable also read for it.
CONVENTIONAL_NAMES = {"SECRET_KEY": "SECRET_KEY", "SQLALCHEMY_DATABASE_URI": "DATABASE_URL"}


def database_url(url):
    """Map a plain ``postgresql://`` URL to the driver this project installs.

    SQLAlchemy 2.1 reads a bare ``postgresql://`` as psycopg 3, which we do not
    ship; ``postgres://`` (as some hosts hand it out) is accepted too.
    """
    if not url:
        return None
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix):]
    return url


class Config:
    SECRET_KEY = None  # required in production
    # None means "SQLite in the instance folder", resolved by the factory.
    SQLALCHEMY_DATABASE_URI = None
    SQLALCHEMY_ENGINE_OPTIONS = {}
    # A `SELECT 1` round trip at every pool checkout, to find connections that died while idle.
    # False leaves that to the request that meets one: SQLAlchemy invalidates the pool and the
    # request answers 503 (handlers.py); the next one reconnects. Overrides the engine options.
    POOL_PRE_PING = True
    # How long a SQLite writer waits for the write lock before "database is locked". The
    # server's shutdown bound is derived from it (sweetshop/serve.py), so it never cuts a wait off.
    SQLITE_BUSY_TIMEOUT_SECONDS = 30

    # OWASP ASVS: pbkdf2-sha256 with at least 600,000 iterations.
    PASSWORD_HASH_METHOD = "pbkdf2:sha256:600000"
    TOKEN_TTL_SECONDS = 24 * 3600
    # How long after placing an order its customer may still cancel it (admins: any time).
    ORDER_CANCEL_WINDOW_SECONDS = 1800
    LOW_STOCK_THRESHOLD = 5

    MAX_CONTENT_LENGTH = 64 * 1024
    # Sweet photos (sweetshop/photos.py): the upload routes alone accept bodies this large.
    PHOTO_MAX_BYTES = 5 * 1024 * 1024
    # Checked from the image header before any pixel is decoded: 24 MP is a good camera's
    # full frame, and at most ~100 MB of memory while one is decoded.
    PHOTO_MAX_PIXELS = 24_000_000
    PHOTO_SIZE = 1200          # longest side of the stored copy, in pixels
    PHOTO_THUMB_SIZE = 480     # longest side of the catalogue thumbnail
    USERS_PAGE_SIZE = 25
    LOG_LEVEL = "INFO"
    # How many proxies in front of the app append to X-Forwarded-For / X-Forwarded-Proto.
    # 0: none, so those headers come from the client and are ignored.
    TRUSTED_PROXIES = 0
    # `python -m sweetshop.serve` puts this nginx in front of granian (sweetshop/front.py), so a
    # worker only ever sees whole requests; "" serves with granian alone (behind your own
    # buffering proxy). A request body that stops arriving for this long is answered 408.
    FRONT_SERVER = "nginx"
    BODY_READ_TIMEOUT_SECONDS = 30

    # Login and registration throttle (sweetshop/throttle.py). Empty: the counters live in the
    # shop's database, shared by every worker and host. redis://host:6379/0 keeps them in Redis
    # instead (memory:// in one process's memory: never with several workers).
    RATELIMIT_STORAGE_URI = ""
    # The windowing of a Redis or memory store (the database's is a fixed window from the first
    # attempt). A moving window has no boundary at which a guesser may fire two windows' worth.
    RATELIMIT_STRATEGY = "moving-window"
    RATELIMIT_KEY_PREFIX = "sweetshop"
    # Each is counted before the password is hashed, so refused work costs no hashing.
    REGISTER_LIMIT_PER_ADDRESS = "20 per hour"
    LOGIN_ATTEMPT_LIMIT_PER_ADDRESS = "30 per minute"
    # Hard: failed logins (since the last success) for one account from one address.
    LOGIN_FAILURE_LIMIT_PER_ACCOUNT_AND_ADDRESS = "5 per 15 minutes"
    # Soft: every attempt on one account from anywhere; short, so it slows the owner, never locks.
    LOGIN_ATTEMPT_LIMIT_PER_ACCOUNT = "10 per minute"
    # Live API tokens a user may hold; a new one revokes the oldest beyond this.
    MAX_TOKENS_PER_USER = 10

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    # Seconds: a session cookie signed longer ago than this is refused (Flask's default is 31 days).
    PERMANENT_SESSION_LIFETIME = 12 * 3600
    # Strict-Transport-Security max-age in seconds; 0 sends no header (production sets a year).
    HSTS_MAX_AGE = 0

    # Pages: no inline script or style anywhere, so the policy can forbid both.
    CONTENT_SECURITY_POLICY = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
    CATALOGUE_PAGE_SIZE = 12
    # How deep the catalogue's listings go, in sweets (pages and /api/sweets, /api/sweets/search):
    # an OFFSET costs time in proportion to its depth, so deeper requests are refused with a hint
    # to narrow the search (or to download the catalogue as CSV) instead of served slowly.
    CATALOGUE_DEPTH_MAX = 10_000
    CURRENCY_SYMBOL = "£"
    # Times on the pages are shown in this zone (an IANA name, read with zoneinfo); the database keeps UTC.
    # The shop's days (sales report, ledger export dates) start at midnight here too.
    SHOP_TIMEZONE = "Europe/London"
    ORDERS_PAGE_SIZE = 20
    # Click and collect: where and when customers collect an order, and that they pay then. Shown as
    # plain text on the receipt and "My orders"; empty hides it.
    COLLECTION_NOTE = ("Collect your order at the shop counter, Monday to Saturday 9:00-17:00. "
                       "Pay when you collect.")
    # Sales report: a sweet is on the reorder list with fewer days of cover than this
    # (or, when none sold in the last 14 days, with LOW_STOCK_THRESHOLD units or fewer).
    REORDER_COVER_DAYS = 14
    # CSV import (page, API and CLI): the largest file and the most rows accepted.
    IMPORT_MAX_BYTES = 2 * 1024 * 1024
    IMPORT_MAX_ROWS = 10_000
    # GET /metrics answers only "Authorization: Bearer <this>"; unset means 404 for everyone.
    METRICS_TOKEN = None

    # Mail (sweetshop/outbox.py, docs/email.md). Unset MAIL_SERVER: nothing leaves the shop and
    # mails wait in the outbox, where admins read them at /admin/outbox.
    MAIL_SERVER = None
    MAIL_PORT = 587
    MAIL_SECURITY = "starttls"  # or "ssl" (TLS from the first byte, usually port 465) or "none"
    MAIL_USERNAME = None
    MAIL_PASSWORD = None
    MAIL_FROM = None  # required when MAIL_SERVER is set
    # A file of trusted certificate authorities for the mail server's TLS (a private authority);
    # unset: the system's.
    MAIL_CA_FILE = None
    # The shop's address as customers reach it: every link in a mail starts with it, never with
    # the Host a request named. Required in production when MAIL_SERVER is set.
    PUBLIC_URL = None
    MAIL_RETRY_MAX_SECONDS = 300  # the longest wait between two attempts at one mail
    MAIL_MAX_ATTEMPTS = 8
    # How long a sender's claim on a mail lasts; a sender that dies is replaced after it. It must
    # outlast one SMTP conversation (MAIL_TIMEOUT_SECONDS bounds each network wait).
    MAIL_LEASE_SECONDS = 120
    MAIL_TIMEOUT_SECONDS = 30
    # How often an idle sender looks for due mails (a mail leaves within this of its commit).
    MAIL_POLL_SECONDS = 1.0
    EMAIL_TOKEN_TTL_SECONDS = 86400
    PASSWORD_RESET_TTL_SECONDS = 3600
    # Password-reset requests, counted before any work like logins (sweetshop/throttle.py).
    PASSWORD_RESET_LIMIT_PER_ADDRESS = "20 per hour"
    PASSWORD_RESET_LIMIT_PER_ACCOUNT = "5 per hour"


class DevelopmentConfig(Config):
    SECRET_KEY = "dev-only-not-secret"


class TestingConfig(Config):
    TESTING = True
    SECRET_KEY = "testing"
    # Cheap hashing keeps the suite fast; production strength is tested explicitly.
    PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"


class ProductionConfig(Config):
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    HSTS_MAX_AGE = 365 * 24 * 3600


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def load(settings):
    """Fill ``settings`` (a Flask ``Config``) from the environment chosen by ``SWEETSHOP_CONFIG``,
    then from the conventional variables, then from every ``SWEETSHOP_<NAME>``.

    :raise RuntimeError: ``SWEETSHOP_CONFIG`` names no environment.
    """
    name = os.environ.get("SWEETSHOP_CONFIG", "production")
    if name not in CONFIGS:
        raise RuntimeError(f"SWEETSHOP_CONFIG must be one of {', '.join(CONFIGS)}, not {name!r}")
    settings.from_object(CONFIGS[name])
    settings["CONFIG"] = name  # the setting SWEETSHOP_CONFIG names, as the scheme says
    for setting, variable in CONVENTIONAL_NAMES.items():
        if os.environ.get(variable):
            settings[setting] = os.environ[variable]
    settings.from_prefixed_env("SWEETSHOP")
