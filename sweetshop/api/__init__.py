"""The JSON API under /api, for scripts and front ends; bearer tokens, never the session."""
# Each module adds its routes to the blueprint.
from . import auth, meta, operations, orders, outbox, purchases, sweets, users  # noqa: F401
from .blueprint import bp  # noqa: F401
