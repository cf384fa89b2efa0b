"""Customer pages: the catalogue, the basket, placing orders, receipts and the customer's orders."""
from . import order_views  # noqa: F401  (its pages register on the same blueprint)
from .views import bp

__all__ = ["bp"]
