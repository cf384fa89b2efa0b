"""Request parsing, bearer authentication and serialisation shared by the API views."""
import json
import re
from decimal import Decimal
from functools import wraps

from flask import abort, g, request

from .. import accounts
from ..errors import ValidationError
from ..rules import clean_idempotency_key, clean_price_bound, clean_sort, parse_decimal
from ..shop.photo_views import photo_url

# OFFSET beyond a 32-bit integer is refused before it reaches the database.
SKIP_MAX = 2_147_483_647
INTEGER_RE = re.compile(r"[+-]?[0-9]+")


def _refuse_constant(name):
    raise ValueError(f"{name} is not a number")


def json_body(default=None):
    """The request body parsed as JSON, numbers with a fraction as exact Decimals.

    An empty body gives ``default``.

    :raise ValidationError: the body is not JSON (NaN and Infinity are not JSON either).
    """
    raw = request.get_data(cache=True)
    if not raw.strip() and default is not None:
        return default
    try:
        return json.loads(raw, parse_float=Decimal, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise ValidationError({}, "Request body must be valid JSON") from None


def query_int(name, default, low, high):
    """A whole-number query parameter within ``low``..``high``.

    :raise ValidationError:
    """
    text = request.args.get(name)
    if text is None:
        return default
    text = text.strip()
    # ASCII digits only: int() would also take "1_0" and other scripts' digits.
    value = int(text) if len(text) <= 12 and INTEGER_RE.fullmatch(text) else None
    if value is None or not low <= value <= high:
        raise ValidationError({name: [f"Must be an integer between {low} and {high}."]})
    return value


def paging(default_limit=100):
    """``(skip, limit)`` from the query string.

    :raise ValidationError:
    """
    return query_int("skip", 0, 0, SKIP_MAX), query_int("limit", default_limit, 1, 100)


def listed_user_id():
    """Whose rows a list shows: the caller's, or everybody's (None) when an admin asks with
    ``?all=true``.

    :raise 403: a customer asked for everybody's.
    """
    everyone = request.args.get("all", "").lower() in ("1", "true", "yes")
    if everyone and not g.user.is_admin:
        abort(403, "Not authorized")
    return None if everyone else g.user.id


def query_price(name):
    """An optional non-negative price from the query string.

    :raise ValidationError:
    """
    text = request.args.get(name)
    if text is None or not text.strip():
        return None
    try:
        value = clean_price_bound(parse_decimal(text))
    except ValueError as error:
        raise ValidationError({name: [str(error)]}) from None
    return value


def idempotency_key():
    """The request's optional ``Idempotency-Key`` header.

    :raise ValidationError: not 1 to 64 printable ASCII characters.
    """
    try:
        return clean_idempotency_key(request.headers.get("Idempotency-Key"))
    except ValueError as error:
        raise ValidationError({"Idempotency-Key": [str(error)]}) from None


def bearer_token():
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def auth_required(admin=False):
    """Let the view run only for a live bearer token (of an admin, if ``admin``); sets ``g.user``.

    :raise 401: no token, or one that is unknown, expired or revoked.
    :raise 403: ``admin`` and the user is not one.
    """
    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            authenticate(admin)
            return view(*args, **kwargs)
        return wrapper
    return decorator


def authenticate(admin=False, connection=None):
    """What ``auth_required`` checks, for a view that looks the token up on its own ``connection``;
    returns the user (also ``g.user``).

    :raise 401: no token, or one that is unknown, expired or revoked.
    :raise 403: ``admin`` and the user is not one.
    """
    token = bearer_token()
    if token is None:
        abort(401, "Not authenticated")
    user = accounts.user_for_token(token, connection)
    if user is None:
        abort(401, "Could not validate credentials")
    if admin and not user.is_admin:
        abort(403, "Not authorized")
    g.user, g.token = user, token
    return user


def query_sort():
    """The catalogue order from ``sort`` (see ``rules.SORTS``), or None for the default by id.

    :raise ValidationError:
    """
    try:
        return clean_sort(request.args.get("sort"))
    except ValueError as error:
        raise ValidationError({"sort": [str(error)]}) from None


def sweet_json(sweet):
    return {"id": sweet.id, "name": sweet.name, "category": sweet.category,
            "price": float(sweet.price), "quantity": sweet.quantity,
            "description": sweet.description, "unit": sweet.unit, "allergens": list(sweet.allergens),
            "photo_url": photo_url(sweet.photo_hash)}


def user_json(user):
    return {"id": user.id, "username": user.username, "full_name": user.full_name,
            "is_admin": user.is_admin, "email": user.email, "email_verified": bool(user.email_verified)}


def iso(moment):
    """An ISO 8601 time in UTC (as every stored time is read), ending in ``Z``."""
    return moment.isoformat().replace("+00:00", "Z")
