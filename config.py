"""Settings for each environment, read from the process environment.

Pick one with SWEETSHOP_CONFIG=development|testing|production (default development).
Any setting below can also be overridden with an environment variable named
SWEETSHOP_<SETTING>, for example SWEETSHOP_TOKEN_TTL_SECONDS=3600.
"""
import os


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
    SECRET_KEY = os.environ.get("SECRET_KEY")
    # None means "SQLite in the instance folder", resolved by the factory.
    SQLALCHEMY_DATABASE_URI = database_url(os.environ.get("DATABASE_URL"))
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}

    # OWASP ASVS: pbkdf2-sha256 with at least 600,000 iterations.
    PASSWORD_HASH_METHOD = "pbkdf2:sha256:600000"
    TOKEN_TTL_SECONDS = 24 * 3600
    LOW_STOCK_THRESHOLD = 5

    MAX_CONTENT_LENGTH = 64 * 1024
    LOG_LEVEL = "INFO"

    # Failed-login throttle (sweetshop/throttle.py). memory:// is per process; in production
    # use redis://host:6379/0 so every worker and host shares the counters.
    RATELIMIT_STORAGE_URI = "memory://"
    # A moving window has no boundary at which a guesser may fire two windows' worth at once.
    RATELIMIT_STRATEGY = "moving-window"
    RATELIMIT_KEY_PREFIX = "sweetshop"
    LOGIN_LIMIT_PER_ACCOUNT = "5 per minute"
    LOGIN_LIMIT_PER_ADDRESS = "20 per minute"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"

    # Pages: no inline script or style anywhere, so the policy can forbid both.
    CONTENT_SECURITY_POLICY = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
    CATALOGUE_PAGE_SIZE = 12
    PURCHASES_PAGE_SIZE = 50
    CURRENCY_SYMBOL = "£"
    # The shop's days (sales report, ledger export dates) start at midnight here.
    SHOP_TIMEZONE = "Europe/London"
    # Sales report: a sweet is on the reorder list with fewer days of cover than this
    # (or, when none sold in the last 14 days, with LOW_STOCK_THRESHOLD units or fewer).
    REORDER_COVER_DAYS = 14
    # CSV import (page, API and CLI): the largest file and the most rows accepted.
    IMPORT_MAX_BYTES = 2 * 1024 * 1024
    IMPORT_MAX_ROWS = 10_000
    # GET /metrics answers only "Authorization: Bearer <this>"; unset means 404 for everyone.
    METRICS_TOKEN = None


class DevelopmentConfig(Config):
    SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-not-secret")


class TestingConfig(Config):
    TESTING = True
    SECRET_KEY = "testing"
    # Cheap hashing keeps the suite fast; production strength is tested explicitly.
    PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"


class ProductionConfig(Config):
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}
