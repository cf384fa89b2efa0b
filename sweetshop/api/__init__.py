"""The JSON API under /api, for scripts and front ends; bearer tokens, never the session."""
from . import auth, meta, operations, orders, purchases, sweets  # noqa: F401  (each module adds its routes)
from .blueprint import bp  # noqa: F401
