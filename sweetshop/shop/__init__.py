"""Customer pages: the catalogue, a sweet's page and photos, the basket, placing orders, receipts and
the customer's orders."""
from . import order_views, photo_views  # noqa: F401  (their pages register on the same blueprint)
from .views import bp

__all__ = ["bp"]
