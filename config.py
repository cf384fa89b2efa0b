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
    # Sweet photos (sweetshop/photos.py): the upload routes alone accept bodies this large.
    PHOTO_MAX_BYTES = 5 * 1024 * 1024
    # Checked from the image header before any pixel is decoded: 24 MP is a good camera's
    # full frame, and at most ~100 MB of memory while one is decoded.
    PHOTO_MAX_PIXELS = 24_000_000
    PHOTO_SIZE = 1200          # longest side of the stored copy, in pixels
    PHOTO_THUMB_SIZE = 480     # longest side of the catalogue thumbnail
    USERS_PAGE_SIZE = 25
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
