"""Staff pages: the stock table, sweet forms, restocking, each sweet's stock history, and the
operations pages (sales report, CSV downloads and import, stock count)."""
from . import operations  # noqa: F401  (adds its routes to bp)
from .views import bp

__all__ = ["bp"]
