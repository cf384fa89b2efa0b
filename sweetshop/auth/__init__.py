"""Account pages: register, log in, log out; and how Flask-Login finds the user of a session."""
from .views import bp

__all__ = ["bp"]
