"""Customer pages: the catalogue, buying, and the customer's own purchases."""
from .views import bp

__all__ = ["bp"]
