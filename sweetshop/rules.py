"""What makes input valid: one definition shared by the admin forms, the pages and the API.

Each ``clean_*`` function takes a raw value and returns it cleaned, or raises
``ValueError`` with a message fit to show next to the field.
"""
import re
import unicodedata
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path

from .errors import ValidationError

NAME_MAX = 100
CATEGORY_MAX = 50
DESCRIPTION_MAX = 2000
UNIT_MAX = 30
UNIT_DEFAULT = "each"
# The 14 allergens that UK and EU food law (Regulation 1169/2011, Annex II) names, in that
# wording and in alphabetical order: the values of the API's enum and the forms' choices.
ALLERGENS = ("celery", "cereals containing gluten", "crustaceans", "eggs", "fish", "lupin", "milk",
             "molluscs", "mustard", "peanuts", "sesame", "soya", "sulphites", "tree nuts")
# Catalogue orders: ``sort`` values of the page and the API; anything else is refused.
SORTS = ("name", "price", "-price", "newest")
FULL_NAME_MAX = 100
PRICE_MAX = Decimal("100000")
CENT = Decimal("0.01")
INITIAL_STOCK_MAX = 1_000_000
PURCHASE_MAX = 1000
RESTOCK_MAX = 1_000_000
# Stock never exceeds what a 32-bit INTEGER column holds.
STOCK_MAX = 2_147_483_647
USERNAME_RE = re.compile(r"[A-Za-z0-9_.-]{3,32}")
PASSWORD_MIN, PASSWORD_MAX = 8, 128
PASSWORD_HINT = f"{PASSWORD_MIN} to {PASSWORD_MAX} characters, and not one of the most common passwords."
COMMON_PASSWORDS_FILE = Path(__file__).parent / "data" / "common-passwords.txt"
IDEMPOTENCY_KEY_RE = re.compile(r"[\x20-\x7e]{1,64}")
# A plain decimal in ASCII digits: int() and Decimal() also take "1_000" and other scripts' digits.
DECIMAL_RE = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", re.ASCII)


def is_encodable(value):
    """Whether a string holds no lone surrogate (JSON can carry one; UTF-8 cannot)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_plain_text(value):
    """Whether a string is storable one-line text: encodable, no control characters.

    PostgreSQL refuses NUL in text and the UTF-8 codec refuses lone surrogates,
    so without this check such input would fail in the database instead of here.
    """
    return is_encodable(value) and not any(unicodedata.category(char) == "Cc" for char in value)


def check_plain_text(value):
    """Raise ValueError unless ``value`` is plain one-line text (see ``is_plain_text``)."""
    if not is_plain_text(value):
        raise ValueError("Must not contain control characters or invalid Unicode.")
    return value


def _string(value):
    if not isinstance(value, str):
        raise ValueError("Must be a string.")
    return value


def _at_most(max_length, value):
    if len(value) > max_length:
        raise ValueError(f"Must be at most {max_length} characters.")
    return value


def clean_text(value, max_length):
    value = check_plain_text(_string(value)).strip()
    if not value:
        raise ValueError("Must not be empty.")
    return _at_most(max_length, value)


def clean_name(value):
    return clean_text(value, NAME_MAX)


def clean_category(value):
    return clean_text(value, CATEGORY_MAX)


def clean_description(value):
    """Plain text of up to DESCRIPTION_MAX characters with its line breaks (``None`` is empty).

    Line breaks are kept (``\r\n`` becomes ``\n``) and tabs allowed; other control
    characters are refused as in one-line text.
    """
    if value is None:
        return ""
    value = _string(value).replace("\r\n", "\n").replace("\r", "\n")
    for line in value.split("\n"):
        check_plain_text(line.replace("\t", " "))
    return _at_most(DESCRIPTION_MAX, value.strip())


def clean_unit(value):
    """What the price buys, e.g. ``each``, ``per 100 g``, ``per bag``."""
    return clean_text(value, UNIT_MAX)


def clean_allergens(value):
    """A list of allergen names from ALLERGENS (any case), returned once each, sorted."""
    if not isinstance(value, (list, tuple)):
        raise ValueError("Must be a list of allergens.")
    chosen = set()
    for item in value:
        name = item.strip().lower() if isinstance(item, str) else None
        if name not in ALLERGENS:
            raise ValueError(f"Unknown allergen {item!r}; allowed: {', '.join(ALLERGENS)}.")
        chosen.add(name)
    return sorted(chosen)


def clean_sort(value):
    """A catalogue order (see SORTS); ``None`` and ``""`` mean the default, by id."""
    if value is None or value == "":
        return None
    if value not in SORTS:
        raise ValueError(f"Must be one of: {', '.join(SORTS)}.")
    return value


def to_decimal(value):
    """A JSON or form number as a finite Decimal; ``True`` and strings are not numbers here."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise ValueError("Must be a number.")
    value = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    if not value.is_finite():
        raise ValueError("Must be a finite number.")
    return value


def clean_price(value):
    value = to_decimal(value)
    if value <= 0:
        raise ValueError("Must be greater than 0.")
    if value > PRICE_MAX:
        raise ValueError(f"Must be at most {PRICE_MAX}.")
    if value.quantize(CENT) != value:
        raise ValueError("Must have at most 2 decimal places.")
    return value.quantize(CENT)


PRICE_BOUND_MAX = Decimal("1e9")


def clean_price_bound(value):
    """A price filter (min or max): from 0 up, in whole cents.

    Cents, because prices are; and a bound like 1e-999999 would overflow PostgreSQL's numeric.
    """
    value = to_decimal(value)
    if not 0 <= value <= PRICE_BOUND_MAX:
        raise ValueError(f"Must be a number from 0 to {PRICE_BOUND_MAX:f}.")
    if value.quantize(CENT) != value:
        raise ValueError("Must have at most 2 decimal places.")
    # In cents: 0e-999999 equals 0, but its exponent would overflow PostgreSQL's numeric.
    return value.quantize(CENT)


def clean_count(value, low, high):
    """A whole number from ``low`` to ``high``; ``1.5``, ``"2"`` and ``true`` are refused."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("Must be an integer.")
    if not low <= value <= high:
        raise ValueError(f"Must be between {low} and {high}.")
    return value


def clean_initial_stock(value):
    return clean_count(value, 0, INITIAL_STOCK_MAX)


def clean_purchase_quantity(value):
    return clean_count(value, 1, PURCHASE_MAX)


def clean_restock_quantity(value):
    return clean_count(value, 0, RESTOCK_MAX)


ORDER_ITEMS_MAX = 50
ID_MAX = 2_147_483_647


def clean_sweet_id(value):
    return clean_count(value, 1, ID_MAX)


def clean_order_items(value):
    """An order's items, ``[{"sweet_id": id, "quantity": n}, ...]``, as ``[(sweet_id, quantity)]``.

    1 to ``ORDER_ITEMS_MAX`` items, each sweet at most once, each quantity a purchase quantity.

    :raise ValidationError: under ``items`` for the list as a whole, under ``items[i].field``
        for one item's field.
    """
    if not isinstance(value, list):
        raise ValidationError({"items": ["Must be a list of {\"sweet_id\", \"quantity\"} objects."]})
    if not 1 <= len(value) <= ORDER_ITEMS_MAX:
        raise ValidationError({"items": [f"Must hold 1 to {ORDER_ITEMS_MAX} items."]})
    rule = {"sweet_id": clean_sweet_id, "quantity": clean_purchase_quantity}
    errors, cleaned, seen = {}, [], set()
    for index, item in enumerate(value):
        where = f"items[{index}]"
        if not isinstance(item, dict):
            errors[where] = ["Must be an object with sweet_id and quantity."]
            continue
        try:
            fields = clean_fields(item, rule, required=("sweet_id", "quantity"))
        except ValidationError as error:
            errors.update({f"{where}.{field}": messages for field, messages in error.errors.items()})
            continue
        if fields["sweet_id"] in seen:
            errors[f"{where}.sweet_id"] = ["This sweet is in the order already; list each sweet once."]
        seen.add(fields["sweet_id"])
        cleaned.append((fields["sweet_id"], fields["quantity"]))
    if errors:
        raise ValidationError(errors)
    return cleaned


def clean_new_order(data):
    """An order's body, ``{"items": [...]}``, as ``[(sweet_id, quantity)]``.

    :raise ValidationError:
    """
    fields = clean_fields(data, {"items": lambda items: items}, required=("items",))
    return clean_order_items(fields["items"])


COUNT_MAX = 1_000_000


def clean_counted(value):
    """A stock count's counted quantity."""
    return clean_count(value, 0, COUNT_MAX)


def clean_seen(value):
    """The stock a count's form showed (any stock the column can hold)."""
    return clean_count(value, 0, STOCK_MAX)


def clean_username(value):
    if not isinstance(value, str) or not USERNAME_RE.fullmatch(value):
        raise ValueError("Must be 3 to 32 letters, digits, '_', '.' or '-'.")
    return value


@cache
def common_passwords():
    """The shipped list of the most common passwords, lower-cased (read once per process)."""
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("# "))


def clean_password(value):
    if not isinstance(value, str):
        raise ValueError("Must be a string.")
    if not is_encodable(value):
        raise ValueError("Must be valid Unicode text.")
    if any(unicodedata.category(char) == "Cc" for char in value):
        # NUL, tabs, newlines: invisible when typed, and some clients cut the text at them.
        raise ValueError("Must not contain control characters.")
    if not PASSWORD_MIN <= len(value) <= PASSWORD_MAX:
        raise ValueError(f"Must be {PASSWORD_MIN} to {PASSWORD_MAX} characters.")
    if value.lower() in common_passwords():
        raise ValueError("Is one of the most common passwords, which are guessed first: choose another.")
    return value


def clean_full_name(value):
    if value is None:
        return None
    if isinstance(value, str) and not value.strip():
        return None
    return clean_text(value, FULL_NAME_MAX)


def clean_self_registered_admin(value):
    """``is_admin`` on registration: ``false`` is accepted (older clients send it), ``true`` never."""
    if value is not False:
        raise ValueError("Registration never makes an admin; an admin can promote you.")
    return value


def clean_idempotency_key(value):
    if value is None:
        return None
    if not IDEMPOTENCY_KEY_RE.fullmatch(value):
        raise ValueError("Must be 1 to 64 printable ASCII characters.")
    return value


def parse_decimal(text):
    """A price typed into a form or a query string, as a finite Decimal (ASCII digits only)."""
    if not isinstance(text, str) or not DECIMAL_RE.fullmatch(text.strip()):
        raise ValueError("Must be a number.")
    try:
        return to_decimal(Decimal(text.strip()))
    except InvalidOperation:
        raise ValueError("Must be a number.") from None


def clean_day(text):
    """A date typed as ``YYYY-MM-DD`` (report and export ranges)."""
    text = text.strip() if isinstance(text, str) else ""
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text, re.ASCII):
        raise ValueError("Must be a date as YYYY-MM-DD.")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError("Must be a real date as YYYY-MM-DD.") from None


SWEET_FIELDS = {
    "name": clean_name,
    "category": clean_category,
    "price": clean_price,
    "description": clean_description,
    "unit": clean_unit,
    "allergens": clean_allergens,
}


def clean_fields(data, rules, required=(), refused=None):
    """Clean every field of ``data`` with its rule.

    :param rules: field name -> clean function; any other field is unknown and refused.
    :param required: fields that must be present.
    :param refused: field name -> message for fields that are known but never allowed.
    :raise ValidationError: listing every field that broke a rule.
    """
    if not isinstance(data, dict):
        raise ValidationError({}, "Request body must be a JSON object")
    refused = refused or {}
    errors, cleaned = {}, {}
    for field, value in data.items():
        if field in refused:
            errors[field] = [refused[field]]
        elif field not in rules:
            errors[field] = ["Unknown field."]
        else:
            try:
                cleaned[field] = rules[field](value)
            except ValueError as error:
                errors[field] = [str(error)]
    for field in required:
        if field not in data:
            errors[field] = ["Field required."]
    if errors:
        raise ValidationError(errors)
    return cleaned


def clean_new_sweet(data):
    """The fields of a sweet to create; all four are required (SPEC section 3).

    :raise ValidationError:
    """
    rules = dict(SWEET_FIELDS, quantity=clean_initial_stock)
    return clean_fields(data, rules, required=("name", "category", "price", "quantity"))


def clean_sweet_changes(data):
    """The fields of a sweet to change; stock is refused (it changes only by purchase and restock).

    :raise ValidationError:
    """
    return clean_fields(data, SWEET_FIELDS, refused={
        "quantity": "Stock changes only by purchase and restock.",
    })
