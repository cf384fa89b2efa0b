"""Customer pages: the catalogue, buying, and the customer's own purchases."""
from . import photos  # noqa: F401  (adds the photo routes)
from .views import bp

__all__ = ["bp"]
