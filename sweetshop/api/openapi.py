"""The OpenAPI 3 document of the JSON API; tests keep it and the routes in step.

The JSON request bodies' schemas are not written here: they come from the bodies the API
validates with (``rules.Body``), so the document cannot promise other fields or bounds.
"""
from functools import cache

from config import Config

from ..rules import (ALLERGENS, CATEGORY_MAX, DESCRIPTION_MAX, ID_MAX, NAME_MAX, NEW_ORDER, NEW_SWEET,
                     ORDER_STATUSES, PRICE_BOUND_MAX, PURCHASE, REGISTER, RESTOCK, SORTS, STOCK_COUNT,
                     SWEET_CHANGES, clean_email, clean_password)


def _ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema):
    return {"application/json": {"schema": schema}}


def _error(description):
    return {"description": description, "content": _json(_ref("Error"))}


def _ok(description, schema=None):
    response = {"description": description}
    if schema is not None:
        response["content"] = _json(schema)
    return response


ERRORS = {
    "401": _error("Missing, unknown, expired or revoked bearer token"),
    "403": _error("Not authorized (admins only)"),
    "404": _error("No such sweet on sale"),
    "413": _error("Request body too large"),
    "415": _error("The body is not of the media type this operation takes"),
    "422": _error("Invalid input; `errors` names each field"),
    "429": _error("Too many attempts; see Retry-After"),
    "503": _error("Database unavailable; see Retry-After"),
}


def _errors(*codes):
    return {code: ERRORS[code] for code in codes}


SECURED = [{"bearer": []}]
SWEET_ID = {"name": "sweet_id", "in": "path", "required": True,
            "schema": {"type": "integer", "minimum": 1, "maximum": 2147483647}}
USER_ID = {"name": "user_id", "in": "path", "required": True,
           "schema": {"type": "integer", "minimum": 1, "maximum": 2147483647}}
PAGING = [
    {"name": "skip", "in": "query",
     "schema": {"type": "integer", "minimum": 0, "maximum": 2147483647, "default": 0}},
    {"name": "limit", "in": "query",
     "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 100}},
]
# The catalogue's listings stop at a depth (the CATALOGUE_DEPTH_MAX setting): an OFFSET costs time in
# proportion to it, and a deeper sweet is found by narrowing the search, or in the CSV export.
CATALOGUE_PAGING = [
    {"name": "skip", "in": "query", "description": "At most CATALOGUE_DEPTH_MAX (default 10000); "
     "deeper is a 422: narrow the search, or download /api/export/sweets.csv.",
     "schema": {"type": "integer", "minimum": 0, "maximum": Config.CATALOGUE_DEPTH_MAX, "default": 0}},
    PAGING[1],
]
SORT = {"name": "sort", "in": "query",
        "description": "name (any case), price, -price (dearest first) or newest; ties by id",
        "schema": {"enum": list(SORTS)}}
# Price filters are prices too: at most 2 decimals.
PRICE_FILTER = {"type": "number", "minimum": 0, "maximum": float(PRICE_BOUND_MAX), "multipleOf": 0.01}

EMAIL = clean_email.schema
TOKEN = {"type": "string", "minLength": 1, "maxLength": 254}

SCHEMAS = {
    "Error": {
        "type": "object", "required": ["detail"],
        "properties": {
            "detail": {"type": "string"},
            "errors": {"type": "object",
                       "additionalProperties": {"type": "array", "items": {"type": "string"}}},
        },
    },
    "Sweet": {
        "type": "object",
        "required": ["id", "name", "category", "price", "quantity", "description", "unit", "allergens",
                     "photo_url"],
        "properties": {
            "id": {"type": "integer"}, "name": {"type": "string"},
            "category": {"type": "string"}, "price": {"type": "number"},
            "quantity": {"type": "integer", "minimum": 0},
            "description": {"type": "string", "maxLength": DESCRIPTION_MAX},
            "unit": {"type": "string", "description": "what the price buys, e.g. each, per 100 g"},
            "allergens": {"type": "array", "items": {"enum": list(ALLERGENS)}},
            "photo_url": {"type": ["string", "null"],
                          "description": "/photos/<sha256>.webp; the thumbnail adds -thumb"},
        },
    },
    "SweetCreate": NEW_SWEET.schema(),
    "SweetUpdate": SWEET_CHANGES.schema(),
    "User": {
        "type": "object", "required": ["id", "username", "full_name", "is_admin", "email", "email_verified"],
        "properties": {
            "id": {"type": "integer"}, "username": {"type": "string"},
            "full_name": {"type": ["string", "null"]}, "is_admin": {"type": "boolean"},
            "email": {"type": ["string", "null"]}, "email_verified": {"type": "boolean"},
        },
    },
    "Mail": {
        "type": "object",
        "required": ["id", "to", "subject", "status", "attempts", "last_error", "created_at", "sent_at"],
        "properties": {
            "id": {"type": "integer"}, "to": {"type": "string"}, "subject": {"type": "string"},
            "status": {"enum": ["pending", "sending", "sent", "failed"]},
            "attempts": {"type": "integer"}, "last_error": {"type": ["string", "null"]},
            "created_at": {"type": "string", "format": "date-time"},
            "sent_at": {"type": ["string", "null"], "format": "date-time"},
        },
    },
    "Register": REGISTER.schema(),
    "Login": {
        "type": "object", "required": ["username", "password"], "additionalProperties": False,
        "properties": {"username": {"type": "string", "minLength": 1},
                       "password": {"type": "string", "minLength": 1}},
    },
    "Token": {
        "type": "object", "required": ["access_token", "token_type", "expires_in"],
        "properties": {
            "access_token": {"type": "string"}, "token_type": {"const": "bearer"},
            "expires_in": {"type": "integer"},
        },
    },
    "SalesReport": {
        "type": "object", "required": ["days", "top", "reorder"],
        "properties": {
            "days": {"type": "array", "items": {
                "type": "object", "required": ["date", "units", "revenue"],
                "properties": {"date": {"type": "string", "format": "date"}, "units": {"type": "integer"},
                               "revenue": {"type": "number"}}}},
            "top": {"type": "array", "maxItems": 10, "items": {
                "type": "object", "required": ["sweet_id", "name", "units", "revenue"],
                "properties": {"sweet_id": {"type": "integer"}, "name": {"type": "string"},
                               "units": {"type": "integer"}, "revenue": {"type": "number"}}}},
            "reorder": {"type": "array", "items": {
                "type": "object", "required": ["sweet_id", "name", "quantity", "days_of_cover"],
                "properties": {"sweet_id": {"type": "integer"}, "name": {"type": "string"},
                               "quantity": {"type": "integer"},
                               "days_of_cover": {"type": ["number", "null"]}}}},
        },
    },
    "ImportResult": {
        "type": "object", "required": ["created", "updated", "restocked_units", "applied"],
        "properties": {"created": {"type": "integer"}, "updated": {"type": "integer"},
                       "restocked_units": {"type": "integer"}, "applied": {"type": "boolean"}},
    },
    "ImportRejected": {
        "type": "object", "required": ["detail", "rows"],
        "properties": {
            "detail": {"type": "string"},
            "rows": {"type": "array", "items": {
                "type": "object", "required": ["line", "field", "message"],
                "properties": {"line": {"type": ["integer", "null"]},
                               "field": {"enum": ["name", "category", "price", "quantity", None]},
                               "message": {"type": "string"}}}},
        },
    },
    "StockChanged": {
        "type": "object", "required": ["detail", "quantity"],
        "properties": {"detail": {"const": "Stock changed"}, "quantity": {"type": "integer"}},
    },
    "Purchase": {
        "type": "object",
        "required": ["id", "sweet_id", "sweet_name", "user_id", "username", "quantity",
                     "unit_price", "total", "purchased_at", "order_id"],
        "properties": {
            "id": {"type": "integer"}, "sweet_id": {"type": "integer"},
            "sweet_name": {"type": "string"}, "user_id": {"type": "integer"},
            "username": {"type": "string"}, "quantity": {"type": "integer"},
            "unit_price": {"type": "number"}, "total": {"type": "number"},
            "purchased_at": {"type": "string", "format": "date-time"},
            "order_id": {"type": ["integer", "null"],
                         "description": "The order this line belongs to; null for a single purchase"},
        },
    },
    "OrderCreate": NEW_ORDER.schema(),
    "OrderLine": {
        "type": "object", "required": ["sweet_id", "name", "quantity", "unit_price", "line_total"],
        "properties": {
            "sweet_id": {"type": "integer"}, "name": {"type": "string"},
            "quantity": {"type": "integer", "minimum": 1}, "unit_price": {"type": "number"},
            "line_total": {"type": "number"},
        },
    },
    "Order": {
        "type": "object",
        "required": ["id", "user_id", "status", "created_at", "cancelled_at", "ready_at", "collected_at",
                     "total", "items"],
        "properties": {
            "id": {"type": "integer"}, "user_id": {"type": "integer"},
            "status": {"enum": list(ORDER_STATUSES)},
            "created_at": {"type": "string", "format": "date-time"},
            "cancelled_at": {"type": ["string", "null"], "format": "date-time"},
            "ready_at": {"type": ["string", "null"], "format": "date-time"},
            "collected_at": {"type": ["string", "null"], "format": "date-time"},
            "total": {"type": "number"},
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/OrderLine"},
                      "description": "In ascending sweet_id"},
        },
    },
    "OrderStepRefused": {
        "type": "object", "required": ["detail", "status"],
        "properties": {"detail": {"type": "string"}, "status": {"enum": list(ORDER_STATUSES)}},
        "description": "The order is in another state now (`status`); nothing changed",
    },
    "PickList": {
        "type": "object", "required": ["sweets"],
        "properties": {"sweets": {"type": "array", "description": "By name", "items": {
            "type": "object", "required": ["sweet_id", "name", "units", "orders"],
            "properties": {"sweet_id": {"type": "integer"}, "name": {"type": "string"},
                           "units": {"type": "integer", "minimum": 1},
                           "orders": {"type": "integer", "minimum": 1}},
        }}},
    },
    "InsufficientStock": {
        "type": "object", "required": ["detail", "shortages"],
        "properties": {
            "detail": {"const": "Insufficient stock"},
            "shortages": {"type": "array", "items": {
                "type": "object", "required": ["sweet_id", "requested", "available"],
                "properties": {"sweet_id": {"type": "integer"}, "requested": {"type": "integer"},
                               "available": {"type": "integer"}},
            }},
        },
    },
    "SweetsMissing": {
        "type": "object", "required": ["detail", "missing"],
        "properties": {
            "detail": {"const": "Sweet not found"},
            "missing": {"type": "array", "items": {"type": "integer"}},
        },
    },
}

SWEET = _ref("Sweet")
SWEETS = {"type": "array", "items": SWEET}
ORDER = _ref("Order")
ORDER_ID = {"name": "order_id", "in": "path", "required": True,
            "schema": {"type": "integer", "minimum": 1, "maximum": ID_MAX}}
IDEMPOTENCY_KEY = {"name": "Idempotency-Key", "in": "header",
                   "schema": {"type": "string", "minLength": 1, "maxLength": 64,
                              "pattern": "^[\\x20-\\x7e]+$"}}

PATHS = {
    "/api/auth/register": {"post": {
        "summary": "Register a customer account",
        "requestBody": {"required": True, "content": _json(_ref("Register"))},
        "responses": {"201": _ok("Registered", _ref("User")),
                      "400": _error("Username or email already registered"), **_errors("413", "422", "429")},
    }},
    "/api/auth/login": {"post": {
        "summary": "Log in for a bearer token (form-encoded or JSON)",
        "requestBody": {"required": True, "content": {
            "application/x-www-form-urlencoded": {"schema": _ref("Login")},
            "application/json": {"schema": _ref("Login")},
        }},
        "responses": {"200": _ok("Logged in", _ref("Token")),
                      "401": _error("Incorrect username or password"),
                      **_errors("413", "422", "429")},
    }},
    "/api/auth/logout": {"post": {
        "summary": "Revoke the bearer token", "security": SECURED,
        "responses": {"204": _ok("Logged out"), **_errors("401")},
    }},
    "/api/auth/me": {"get": {
        "summary": "The logged-in user", "security": SECURED,
        "responses": {"200": _ok("The user", _ref("User")), **_errors("401")},
    }},
    "/api/sweets": {
        "get": {
            "summary": "Sweets on sale, ordered by id or by `sort`", "parameters": [*CATALOGUE_PAGING, SORT],
            "responses": {"200": _ok("Sweets", SWEETS), **_errors("422")},
        },
        "post": {
            "summary": "Add a sweet (admin)", "security": SECURED,
            "requestBody": {"required": True, "content": _json(_ref("SweetCreate"))},
            "responses": {"201": _ok("Created", SWEET), **_errors("401", "403", "413", "422")},
        },
    },
    "/api/sweets/search": {"get": {
        "summary": "Search sweets on sale; all filters combine",
        "parameters": [
            {"name": "name", "in": "query", "schema": {"type": "string", "maxLength": NAME_MAX}},
            {"name": "category", "in": "query",
             "schema": {"type": "string", "maxLength": CATEGORY_MAX}},
            {"name": "min_price", "in": "query", "schema": PRICE_FILTER},
            {"name": "max_price", "in": "query", "schema": PRICE_FILTER},
            *CATALOGUE_PAGING, SORT,
        ],
        "responses": {"200": _ok("Matching sweets", SWEETS), **_errors("422")},
    }},
    "/api/sweets/{sweet_id}": {
        "parameters": [SWEET_ID],
        "get": {"summary": "One sweet on sale",
                "responses": {"200": _ok("The sweet", SWEET), **_errors("404")}},
        "put": {"summary": "Edit any of name, category, price, description, unit, allergens (admin)",
                "security": SECURED,
                "requestBody": {"required": True, "content": _json(_ref("SweetUpdate"))},
                "responses": {"200": _ok("The sweet", SWEET),
                              **_errors("401", "403", "404", "413", "422")}},
        "patch": {"summary": "Edit any of name, category, price, description, unit, allergens (admin)",
                  "security": SECURED,
                  "requestBody": {"required": True, "content": _json(_ref("SweetUpdate"))},
                  "responses": {"200": _ok("The sweet", SWEET),
                                **_errors("401", "403", "404", "413", "422")}},
        "delete": {"summary": "Archive a sweet (admin)", "security": SECURED,
                   "responses": {"204": _ok("Archived"), **_errors("401", "403", "404")}},
    },
    "/api/sweets/{sweet_id}/photo": {
        "parameters": [SWEET_ID],
        "put": {"summary": "Set the sweet's photo: a JPEG, PNG or WebP as the whole body (admin)",
                "description": "Decoded and re-encoded (metadata and trailing data dropped); the "
                               "new photo gets a new URL and the old one's URL is 404.",
                "security": SECURED,
                "requestBody": {"required": True, "content": {
                    media: {"schema": {"type": "string", "format": "binary"}}
                    for media in ("image/jpeg", "image/png", "image/webp")}},
                "responses": {"200": _ok("The sweet with its new photo_url", SWEET),
                              "413": _error("Larger than PHOTO_MAX_BYTES (5 MB)"),
                              "422": _error("Not a JPEG, PNG or WebP image, damaged, or too many pixels"),
                              **_errors("401", "403", "404")}},
        "delete": {"summary": "Remove the sweet's photo (admin); its URL is 404 from then on",
                   "security": SECURED,
                   "responses": {"200": _ok("The sweet, photo_url null", SWEET),
                                 **_errors("401", "403", "404")}},
    },
    "/api/sweets/{sweet_id}/purchase": {"post": {
        "summary": "Buy units of a sweet; at most once per Idempotency-Key",
        "security": SECURED,
        "parameters": [SWEET_ID, IDEMPOTENCY_KEY],
        "requestBody": {"required": False, "content": _json(PURCHASE.schema())},
        "responses": {"200": _ok("The sweet after the purchase", SWEET),
                      "400": _error("Out of stock / Insufficient stock (nothing changed)"),
                      **_errors("401", "404", "413", "422")},
    }},
    "/api/sweets/{sweet_id}/restock": {"post": {
        "summary": "Add stock (admin)", "security": SECURED, "parameters": [SWEET_ID],
        "requestBody": {"required": True, "content": _json(RESTOCK.schema())},
        "responses": {"200": _ok("The sweet after the restock", SWEET),
                      **_errors("401", "403", "404", "413", "422")},
    }},
    "/api/sweets/{sweet_id}/restore": {"post": {
        "summary": "Put an archived sweet on sale again, with its stock and ledger (admin)",
        "security": SECURED, "parameters": [SWEET_ID],
        "responses": {"200": _ok("The sweet, on sale again", SWEET),
                      "404": _error("No such archived sweet"),
                      "422": _error("A sweet on sale has its name (`errors.name`)"),
                      **_errors("401", "403")},
    }},
    "/api/orders": {
        "get": {
            "summary": "The caller's orders, newest first (admins: all=1 for everyone's), "
                       "optionally of one status",
            "security": SECURED,
            "parameters": [*PAGING, {"name": "all", "in": "query", "schema": {"type": "string"}},
                           {"name": "status", "in": "query", "schema": {"enum": list(ORDER_STATUSES)}}],
            "responses": {"200": _ok("Orders", {"type": "array", "items": ORDER}),
                          "403": _error("all=1 by a customer"), **_errors("401", "422")},
        },
        "post": {
            "summary": "Place an order: every line is sold, or none; at most once per Idempotency-Key",
            "security": SECURED, "parameters": [IDEMPOTENCY_KEY],
            "requestBody": {"required": True, "content": _json(_ref("OrderCreate"))},
            "responses": {
                "201": {**_ok("Placed (or the first order again, for a repeated key)", ORDER),
                        "headers": {"Location": {"schema": {"type": "string"},
                                                 "description": "/api/orders/<id>"}}},
                "400": {"description": "Insufficient stock on some lines, every one listed "
                                       "(nothing changed)",
                        "content": _json(_ref("InsufficientStock"))},
                "404": {"description": "Some sweets are not on sale, every one listed (nothing changed)",
                        "content": _json(_ref("SweetsMissing"))},
                "422": _error("Invalid items, or the key was used with other items"),
                **_errors("401", "413"),
            },
        },
    },
    "/api/orders/{order_id}": {"get": {
        "summary": "One order (its owner or an admin)", "security": SECURED,
        "parameters": [ORDER_ID],
        "responses": {"200": _ok("The order", ORDER),
                      "404": _error("No such order (also another customer's)"), **_errors("401")},
    }},
    "/api/orders/{order_id}/cancel": {"post": {
        "summary": "Cancel a placed or ready order and put its units back (admin; or the owner "
                   "within the window)",
        "security": SECURED, "parameters": [ORDER_ID],
        "responses": {"200": _ok("The order, now cancelled", ORDER),
                      "403": _error("The owner's time to cancel has passed"),
                      "404": _error("No such order (also another customer's)"),
                      "409": {"description": "Order already cancelled, or already collected",
                              "content": _json(_ref("OrderStepRefused"))},
                      **_errors("401")},
    }},
    "/api/orders/{order_id}/ready": {"post": {
        "summary": "Mark a placed order packed and waiting for collection (admin)",
        "security": SECURED, "parameters": [ORDER_ID],
        "responses": {"200": _ok("The order, now ready", ORDER),
                      "404": _error("No such order"),
                      "409": {"description": "Order is not placed",
                              "content": _json(_ref("OrderStepRefused"))},
                      **_errors("401", "403")},
    }},
    "/api/orders/{order_id}/collect": {"post": {
        "summary": "Record that a placed or ready order was collected (admin)",
        "security": SECURED, "parameters": [ORDER_ID],
        "responses": {"200": _ok("The order, now collected", ORDER),
                      "404": _error("No such order"),
                      "409": {"description": "Order cannot be collected",
                              "content": _json(_ref("OrderStepRefused"))},
                      **_errors("401", "403")},
    }},
    "/api/orders/pick-list": {"get": {
        "summary": "What to pack: the sweets of every placed order, units summed, by name (admin)",
        "security": SECURED,
        "responses": {"200": _ok("The pick list", _ref("PickList")), **_errors("401", "403")},
    }},
    "/api/sweets/{sweet_id}/count": {"post": {
        "summary": "Record a stock count (admin): a compare-and-set against the stock the counter saw",
        "security": SECURED, "parameters": [SWEET_ID],
        "requestBody": {"required": True, "content": _json(STOCK_COUNT.schema())},
        "responses": {"200": _ok("The sweet after the count", SWEET),
                      "409": {"description": "The stock is no longer `seen`; nothing changed",
                              "content": _json(_ref("StockChanged"))},
                      **_errors("401", "403", "404", "413", "422")},
    }},
    "/api/sweets/import": {"post": {
        "summary": "Import a CSV of name,category,price[,quantity][,restock] (admin): new sweets, edits "
                   "and deliveries (stock moves only by restock), all or nothing; at most once per "
                   "Idempotency-Key",
        "security": SECURED,
        "parameters": [{"name": "dry_run", "in": "query", "schema": {"enum": ["0", "1", "true", "false"]},
                        "description": "1: check and report what would change; change nothing"},
                       {**IDEMPOTENCY_KEY, "description": "Applied at most once per admin and key: a repeat "
                        "answers 409 and changes nothing"}],
        "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}},
        "responses": {"200": _ok("Checked (and applied unless dry_run)", _ref("ImportResult")),
                      "409": _error("Applied already under this Idempotency-Key; nothing changed"),
                      "422": {"description": "Every bad line and field; nothing changed",
                              "content": _json({"anyOf": [_ref("ImportRejected"), _ref("Error")]})},
                      **_errors("401", "403", "413", "415")},
    }},
    "/api/reports/sales": {"get": {
        "summary": "Units and revenue per shop day, top 10 sweets, reorder list (admin)",
        "security": SECURED,
        "parameters": [{"name": "days", "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 366, "default": 30}}],
        "responses": {"200": _ok("The report", _ref("SalesReport")), **_errors("401", "403", "422")},
    }},
    "/api/export/sweets.csv": {"get": {
        "summary": "The catalogue with stock as CSV (admin; importable back)", "security": SECURED,
        "responses": {"200": {"description": "CSV attachment, streamed",
                              "content": {"text/csv": {"schema": {"type": "string"}}}},
                      **_errors("401", "403")},
    }},
    "/api/export/ledger.csv": {"get": {
        "summary": "The stock ledger as CSV for a range of shop days (admin)", "security": SECURED,
        "parameters": [{"name": name, "in": "query", "schema": {"type": "string", "format": "date"}}
                       for name in ("since", "until")],
        "responses": {"200": {"description": "CSV attachment, streamed",
                              "content": {"text/csv": {"schema": {"type": "string"}}}},
                      **_errors("401", "403", "422")},
    }},
    "/api/export/orders.csv": {"get": {
        "summary": "Every order as CSV, one row per order line (admin)", "security": SECURED,
        "responses": {"200": {"description": "CSV attachment, streamed",
                              "content": {"text/csv": {"schema": {"type": "string"}}}},
                      **_errors("401", "403")},
    }},
    "/api/purchases": {"get": {
        "summary": "The caller's purchases, newest first (admins: all=1 for everyone's)",
        "security": SECURED,
        "parameters": [*PAGING, {"name": "all", "in": "query", "schema": {"type": "string"}}],
        "responses": {"200": _ok("Purchases", {"type": "array", "items": _ref("Purchase")}),
                      **_errors("401", "403", "422")},
    }},
    "/api/users": {"get": {
        "summary": "Every user, by username; q matches username or full name (admin)",
        "security": SECURED,
        "parameters": [{"name": "q", "in": "query", "schema": {"type": "string", "maxLength": 100}},
                       *PAGING],
        "responses": {"200": _ok("Users", {"type": "array", "items": _ref("User")}),
                      **_errors("401", "403", "422")},
    }},
    "/api/users/{user_id}/admin": {
        "parameters": [USER_ID],
        "post": {"summary": "Make the user an admin (admin)", "security": SECURED,
                 "requestBody": {"required": False, "content": _json({
                     "type": "object", "additionalProperties": False,
                     "properties": {"is_admin": {"const": True}},
                     "description": "Optional; anything but {} or {\"is_admin\": true} is refused (422)"})},
                 "responses": {"200": _ok("The user", _ref("User")),
                               "404": _error("No such user"), **_errors("401", "403", "422")}},
        "delete": {"summary": "Revoke the user's admin rights (admin; never your own or the last admin's)",
                   "security": SECURED,
                   "responses": {"200": _ok("The user", _ref("User")),
                                 "404": _error("No such user"),
                                 "409": _error("Your own rights, or yours were revoked first"),
                                 **_errors("401", "403")}},
    },
    "/api/auth/me/email": {"put": {
        "summary": "Change your address (unverified until its mailed link is used)", "security": SECURED,
        "requestBody": {"required": True, "content": _json({
            "type": "object", "required": ["email", "password"], "additionalProperties": False,
            "properties": {"email": EMAIL, "password": {"type": "string", "minLength": 1}}})},
        "responses": {"200": _ok("The user", _ref("User")), "400": _error("Email already registered"),
                      "403": _error("Incorrect password"), **_errors("401", "413", "422", "429")},
    }},
    "/api/auth/verify-email": {"post": {
        "summary": "Confirm an address with the token of its mailed link",
        "requestBody": {"required": True, "content": _json({
            "type": "object", "required": ["token"], "additionalProperties": False,
            "properties": {"token": TOKEN}})},
        "responses": {"200": _ok("The user, verified", _ref("User")),
                      "400": _error("Invalid or expired link"), **_errors("413", "422")},
    }},
    "/api/auth/password-reset": {"post": {
        "summary": "Mail a password-reset link; the same answer whether or not the account exists",
        "requestBody": {"required": True, "content": _json({
            "type": "object", "additionalProperties": False, "minProperties": 1, "maxProperties": 1,
            "properties": {"email": TOKEN, "username": TOKEN}})},
        "responses": {"202": _ok("Accepted", _ref("Error")), **_errors("413", "422", "429")},
    }},
    "/api/auth/password-reset/confirm": {"post": {
        "summary": "Set a new password with a reset link's token; every session and token ends",
        "requestBody": {"required": True, "content": _json({
            "type": "object", "required": ["token", "password"], "additionalProperties": False,
            "properties": {"token": TOKEN, "password": clean_password.schema}})},
        "responses": {"200": _ok("Password changed", _ref("Error")),
                      "400": _error("Invalid or expired link"), **_errors("413", "422")},
    }},
    "/api/outbox": {"get": {
        "summary": "Mails the shop wrote, newest first (admin)", "security": SECURED,
        "parameters": [*PAGING, {"name": "status", "in": "query",
                                 "schema": {"enum": ["pending", "sending", "sent", "failed"]}}],
        "responses": {"200": _ok("Mails", {"type": "array", "items": _ref("Mail")}),
                      **_errors("401", "403", "422")},
    }},
    "/api/outbox/{mail_id}/retry": {"post": {
        "summary": "Send a failed mail again (admin)", "security": SECURED,
        "parameters": [{"name": "mail_id", "in": "path", "required": True,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 2147483647}}],
        "responses": {"200": _ok("The mail, pending again", _ref("Mail")), "404": _error("No such mail"),
                      "409": _error("Mail has not failed"), **_errors("401", "403")},
    }},
    "/api/health": {"get": {
        "summary": "Liveness after a database round trip",
        "responses": {"200": _ok("Healthy", {"type": "object", "required": ["status"],
                                             "properties": {"status": {"const": "ok"}}}),
                      **_errors("503")},
    }},
    "/api/openapi.json": {"get": {
        "summary": "This document", "responses": {"200": _ok("OpenAPI 3 document",
                                                             {"type": "object"})},
    }},
}


@cache
def openapi_document():
    return {
        "openapi": "3.1.0",
        "info": {"title": "Sweetshop API", "version": "1.0.0",
                 "description": "Catalogue, accounts and stock of a small sweet shop. "
                                "Errors are `{\"detail\": ...}`."},
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
