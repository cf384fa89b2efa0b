"""How counts and money read in messages, on the pages and from the command line."""


def plural(count, noun, nouns=None):
    """``1 unit``, ``2 units``, ``0 units``; ``nouns`` for an irregular plural."""
    return f"{count:,} {noun if count == 1 else nouns or noun + 's'}"


def money(amount, symbol="£"):
    """Always two decimals: ``£2.50``, ``£1,000.00``."""
    return f"{symbol}{amount:,.2f}"


def init_app(app):
    app.add_template_filter(plural)
