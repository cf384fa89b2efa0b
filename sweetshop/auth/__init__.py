"""Account pages: register, log in, log out, the address and the password reset; and how
Flask-Login finds the user of a session."""
from . import email_views  # noqa: F401  (adds its routes to bp)
from .views import bp

__all__ = ["bp"]
