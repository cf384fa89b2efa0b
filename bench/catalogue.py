"""Benchmark data: sweets loaded straight into PostgreSQL in one statement each, ledger included.

Every sweet gets its initial-stock ledger row, so ``flask audit-stock`` stays clean.
"""
import random

ADJECTIVES = ["Crunchy", "Chewy", "Fizzy", "Sour", "Creamy", "Dark", "Salted", "Giant", "Tiny",
              "Golden", "Smoky", "Spiced", "Frozen", "Toasted", "Zesty", "Velvet", "Rocky", "Double",
              "Wild", "Honeyed"]
FLAVOURS = ["Mint", "Cherry", "Lemon", "Cola", "Vanilla", "Caramel", "Raspberry", "Liquorice",
            "Hazelnut", "Coconut", "Ginger", "Orange", "Apple", "Banana", "Blackcurrant", "Toffee",
            "Rhubarb", "Strawberry", "Peach", "Aniseed", "Marzipan", "Pistachio", "Butterscotch",
            "Bubblegum", "Grape"]
KINDS = ["Drops", "Chews", "Bonbons", "Fudge", "Truffles", "Lollies", "Bars", "Gums", "Mallows",
         "Humbugs", "Buttons", "Twists", "Bites", "Jellies", "Crisps"]
CATEGORIES = ["Chocolate", "Candy", "Gummies", "Fudge", "Toffee", "Liquorice", "Mints", "Jelly",
              "Marshmallow", "Lollipops", "Nougat", "Brittle", "Caramels", "Sherbet", "Rock",
              "Pastilles", "Pralines", "Fondant", "Halva", "Turkish Delight"]


def _text_array(words):
    return "ARRAY[" + ", ".join("'" + word.replace("'", "''") + "'" for word in words) + "]"


def load_sweets(cursor, count, quantity, name_prefix=""):
    """Insert ``count`` sweets with ``quantity`` units each and their ledger rows; their ids.

    Names combine an adjective, a flavour, a kind and a serial number, so substrings range
    from very common ("Mint") to unique ("Mint Drops 4711"); prices spread over 0.10-50.00.
    """
    seed = random.Random(count).random()
    cursor.execute("SELECT setseed(%s)", (seed,))
    cursor.execute(f"""
        WITH words AS (
            SELECT {_text_array(ADJECTIVES)} AS adjectives, {_text_array(FLAVOURS)} AS flavours,
                   {_text_array(KINDS)} AS kinds, {_text_array(CATEGORIES)} AS categories),
        new AS (
            INSERT INTO sweets (name, category, price, quantity, created_at, updated_at)
            SELECT %(prefix)s || adjectives[1 + (n * 7) %% {len(ADJECTIVES)}] || ' '
                       || flavours[1 + (n * 13) %% {len(FLAVOURS)}] || ' '
                       || kinds[1 + (n * 3) %% {len(KINDS)}] || ' ' || n,
                   categories[1 + n %% {len(CATEGORIES)}],
                   round((0.10 + random() * 49.90)::numeric, 2), %(quantity)s, now(), now()
            FROM words, generate_series(1, %(count)s) AS n
            RETURNING id, quantity, created_at)
        INSERT INTO stock_movements (sweet_id, kind, change, balance, created_at)
        SELECT id, 'initial', quantity, quantity, created_at FROM new
        RETURNING sweet_id""", {"prefix": name_prefix, "quantity": quantity, "count": count})
    return sorted(row[0] for row in cursor.fetchall())
