"""What makes input valid: one definition shared by the admin forms, the pages and the API.

Each ``clean_*`` function takes a raw value and returns it cleaned, or raises
``ValueError`` with a message fit to show next to the field. A field's function carries the JSON
Schema that says the same in the API's document (``json_schema``), and each JSON request body is
a ``Body``: the API validates with it and the document's request schemas are made from it, so
the two cannot list different fields, bounds or requirements.
"""
import re
import unicodedata
import dataclasses
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
EMAIL_MAX = 254
# The HTML standard's "valid email address": what a browser's type=email field accepts. ASCII
# only, no quotes, spaces, commas or angle brackets, so an address is safe in a mail header.
EMAIL_RE = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+")
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


# One-line text with something besides spaces (clean_text), as a JSON Schema pattern: no control
# characters, not blank once trimmed. (Lone surrogates are refused too, but ECMA regexes cannot name them.)
_CHAR = r"[^\u0000-\u001f\u007f-\u009f]"
PLAIN_TEXT = rf"^{_CHAR}*[^\s\u0000-\u001f\u007f-\u009f]{_CHAR}*$"


def json_schema(schema):
    """Attach to a ``clean_*`` function the JSON Schema of the values it accepts, for the API's document."""
    def attach(clean):
        clean.schema = schema
        return clean
    return attach


def _text_schema(max_length):
    return {"type": "string", "minLength": 1, "maxLength": max_length, "pattern": PLAIN_TEXT}


def _integer_schema(low, high):
    return {"type": "integer", "minimum": low, "maximum": high}


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


@json_schema(_text_schema(NAME_MAX))
def clean_name(value):
    return clean_text(value, NAME_MAX)


@json_schema(_text_schema(CATEGORY_MAX))
def clean_category(value):
    return clean_text(value, CATEGORY_MAX)


# Several lines: newlines and tabs allowed, other control characters not.
@json_schema({"type": ["string", "null"], "maxLength": DESCRIPTION_MAX,
              "pattern": r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$"})
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


@json_schema(_text_schema(UNIT_MAX))
def clean_unit(value):
    """What the price buys, e.g. ``each``, ``per 100 g``, ``per bag``."""
    return clean_text(value, UNIT_MAX)


@json_schema({"type": "array", "uniqueItems": True, "items": {"enum": list(ALLERGENS)}})
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


ORDER_STATUSES = ("placed", "ready", "collected", "cancelled")


def clean_order_status(value):
    """An order state to list (see ORDER_STATUSES); ``None`` and ``""`` mean every state."""
    if value is None or value == "":
        return None
    if value not in ORDER_STATUSES:
        raise ValueError(f"Must be one of: {', '.join(ORDER_STATUSES)}.")
    return value


def to_decimal(value):
    """A JSON or form number as a finite Decimal; ``True`` and strings are not numbers here."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise ValueError("Must be a number.")
    value = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    if not value.is_finite():
        raise ValueError("Must be a finite number.")
    return value


@json_schema({"type": "number", "exclusiveMinimum": 0, "maximum": float(PRICE_MAX), "multipleOf": 0.01})
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


@json_schema(_integer_schema(0, INITIAL_STOCK_MAX))
def clean_initial_stock(value):
    return clean_count(value, 0, INITIAL_STOCK_MAX)


@json_schema(_integer_schema(1, PURCHASE_MAX))
def clean_purchase_quantity(value):
    return clean_count(value, 1, PURCHASE_MAX)


@json_schema(_integer_schema(0, RESTOCK_MAX))
def clean_restock_quantity(value):
    return clean_count(value, 0, RESTOCK_MAX)


ORDER_ITEMS_MAX = 50
ID_MAX = 2_147_483_647


@json_schema(_integer_schema(1, ID_MAX))
def clean_sweet_id(value):
    return clean_count(value, 1, ID_MAX)


@dataclasses.dataclass(frozen=True)
class Body:
    """A JSON request body: each field's ``clean_*`` function, the fields that must be present,
    the known fields that are never allowed (with why), and the defaults of absent fields.

    ``clean`` validates a body; ``schema`` is its JSON Schema for the API's document. Any field
    not in ``rules`` is refused, and the schema says so (``additionalProperties: false``).
    """
    rules: dict
    required: tuple = ()
    refused: dict = dataclasses.field(default_factory=dict)
    defaults: dict = dataclasses.field(default_factory=dict)

    def clean(self, data):
        """:raise ValidationError: listing every field that broke a rule."""
        return {**self.defaults, **clean_fields(data, self.rules, self.required, self.refused)}

    def schema(self):
        properties = {name: dict(rule.schema) for name, rule in self.rules.items()}
        for name, value in self.defaults.items():
            properties[name]["default"] = value
        schema = {"type": "object", "additionalProperties": False, "properties": properties}
        if self.required:
            schema["required"] = list(self.required)
        return schema


ORDER_ITEM = Body({"sweet_id": clean_sweet_id, "quantity": clean_purchase_quantity},
                  required=("sweet_id", "quantity"))


@json_schema({"type": "array", "minItems": 1, "maxItems": ORDER_ITEMS_MAX,
              "description": "Each sweet at most once", "items": ORDER_ITEM.schema()})
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
    errors, cleaned, seen = {}, [], set()
    for index, item in enumerate(value):
        where = f"items[{index}]"
        if not isinstance(item, dict):
            errors[where] = ["Must be an object with sweet_id and quantity."]
            continue
        try:
            fields = ORDER_ITEM.clean(item)
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


NEW_ORDER = Body({"items": clean_order_items}, required=("items",))


def clean_new_order(data):
    """An order's body, ``{"items": [...]}``, as ``[(sweet_id, quantity)]``.

    The body's own fields are checked first (an unknown one is refused before any item is read),
    then the items, whose errors name ``items[i].field``.

    :raise ValidationError:
    """
    fields = clean_fields(data, dict.fromkeys(NEW_ORDER.rules, lambda value: value), NEW_ORDER.required)
    return clean_order_items(fields["items"])


COUNT_MAX = 1_000_000


@json_schema(_integer_schema(0, COUNT_MAX))
def clean_counted(value):
    """A stock count's counted quantity."""
    return clean_count(value, 0, COUNT_MAX)


@json_schema(_integer_schema(0, STOCK_MAX))
def clean_seen(value):
    """The stock a count's form showed (any stock the column can hold)."""
    return clean_count(value, 0, STOCK_MAX)


@json_schema({"type": "string", "pattern": f"^{USERNAME_RE.pattern}$"})
def clean_username(value):
    if not isinstance(value, str) or not USERNAME_RE.fullmatch(value):
        raise ValueError("Must be 3 to 32 letters, digits, '_', '.' or '-'.")
    return value


@cache
def common_passwords():
    """The shipped list of the most common passwords, lower-cased (read once per process)."""
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("# "))


@json_schema({"type": "string", "minLength": PASSWORD_MIN, "maxLength": PASSWORD_MAX,
              "pattern": rf"^{_CHAR}*$",
              "description": "No control characters, and not one of the 30,000 most common "
                             "passwords (in any case): those are refused with 422"})
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


@json_schema({"type": ["string", "null"], "maxLength": FULL_NAME_MAX})
def clean_full_name(value):
    if value is None:
        return None
    if isinstance(value, str) and not value.strip():
        return None
    return clean_text(value, FULL_NAME_MAX)


@json_schema({"type": ["string", "null"], "maxLength": EMAIL_MAX,
              "description": "An address (a verification link is mailed to it); null or empty for none"})
def clean_email(value):
    """An email address (surrounding spaces dropped), or None for none."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise ValueError("Must be a string.")
    value = value.strip()
    if len(value) > EMAIL_MAX or not EMAIL_RE.fullmatch(value):
        raise ValueError(f"Must be a valid email address of at most {EMAIL_MAX} characters.")
    return value


@json_schema({"const": False, "description": "Accepted for older clients; never true"})
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


DAY_FIRST, DAY_LAST = date(1900, 1, 1), date(2999, 12, 31)


def clean_day(text):
    """A date typed as ``YYYY-MM-DD`` (report and export ranges)."""
    text = text.strip() if isinstance(text, str) else ""
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text, re.ASCII):
        raise ValueError("Must be a date as YYYY-MM-DD.")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValueError("Must be a real date as YYYY-MM-DD.") from None
    # A shop's ledger lies well inside these; beyond them the day's midnight in the shop's zone
    # (and the day after ``until``) would fall outside what a date can hold.
    if not DAY_FIRST <= day <= DAY_LAST:
        raise ValueError(f"Must be a date from {DAY_FIRST} to {DAY_LAST}.")
    return day


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


# The JSON request bodies of the API.
NEW_SWEET = Body(dict(SWEET_FIELDS, quantity=clean_initial_stock),
                 required=("name", "category", "price", "quantity"), defaults={"unit": UNIT_DEFAULT})
# Stock is refused: it changes only by purchase and restock.
SWEET_CHANGES = Body(SWEET_FIELDS, refused={"quantity": "Stock changes only by purchase and restock."})
PURCHASE = Body({"quantity": clean_purchase_quantity}, defaults={"quantity": 1})
RESTOCK = Body({"quantity": clean_restock_quantity}, required=("quantity",))
STOCK_COUNT = Body({"counted": clean_counted, "seen": clean_seen}, required=("counted", "seen"))
REGISTER = Body({"username": clean_username, "password": clean_password, "full_name": clean_full_name,
                 "is_admin": clean_self_registered_admin, "email": clean_email},
                required=("username", "password"))
clean_new_sweet = NEW_SWEET.clean
clean_sweet_changes = SWEET_CHANGES.clean
