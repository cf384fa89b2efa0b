"""Staff pages: the stock table, sweet forms, restocking and each sweet's stock history."""
from .views import bp

__all__ = ["bp"]
