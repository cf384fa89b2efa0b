"""What makes input valid, tested on the rules themselves (no app, no database): every bad value of
the API's bad-input table that a rule refuses, and the good values next to each limit.

How a refusal reaches a client (a JSON 422 naming the field, nothing changed) is proven once per
route over HTTP in tests/api/test_api_errors.py.
"""
from datetime import date
from decimal import Decimal

import pytest

from sweetshop import rules
from sweetshop.errors import ValidationError

LONG = "x" * 101
INF = float("inf")

# (rule, value it refuses)
REFUSED = [
    # prices: JSON numbers only, finite, above 0, at most 100,000, whole cents
    *[(rules.clean_price, value) for value in (
        "abc", "1.50", True, None, INF, -INF, float("nan"), 1e400, Decimal("NaN"), 100000.01, 1.005,
        1e-400, 0, -2)],
    # initial stock, purchase and restock quantities: whole numbers in range, not true, not 1.0
    *[(rules.clean_initial_stock, value) for value in (
        2.5, 1e3, "5", True, None, -1, 10 ** 30, 2 ** 31, rules.INITIAL_STOCK_MAX + 1)],
    *[(rules.clean_purchase_quantity, value) for value in (
        0, rules.PURCHASE_MAX + 1, -1, "1", True, None, 1.5, INF)],
    *[(rules.clean_restock_quantity, value) for value in (
        -5, rules.RESTOCK_MAX + 1, "abc", True, None, 2.5, INF)],
    # one-line text: a string, not blank, not too long, no control characters or lone surrogates
    *[(rules.clean_name, value) for value in (LONG, "   ", "", 42, None, "Fu\x00dge", "\ud800", "a\nb")],
    (rules.clean_category, "c" * (rules.CATEGORY_MAX + 1)),
    (rules.clean_full_name, LONG),
    (rules.clean_full_name, "A\x00B"),
    # accounts
    *[(rules.clean_username, value) for value in ("ab", "a" * 33, "bad name", 12345, "café", None)],
    *[(rules.clean_password, value) for value in (
        "short", "p" * 129, None, "pass\udc80word", "pass\x00word1", "password", "Password1")],
    (rules.clean_self_registered_admin, True),
    # an idempotency key: 1 to 64 printable ASCII characters
    *[(rules.clean_idempotency_key, value) for value in ("k" * 65, "café", "", "tab\there")],
    # price filters typed into a query string
    *[(rules.parse_decimal, value) for value in ("abc", "1_0", "\uff11", "", "1e", None)],
    *[(rules.clean_price_bound, value) for value in (
        -1, Decimal("1e999999"), Decimal("1e-999999999"), Decimal("0.001"), INF, True)],
    (rules.clean_sort, "price desc"),
    (rules.clean_allergens, ["milk", "chocolate"]),
    (rules.clean_allergens, "milk"),
    (rules.clean_day, "2026-02-30"),
    (rules.clean_day, "4 Dec 2026"),
]


@pytest.mark.parametrize("rule, value", REFUSED,
                         ids=[f"{rule.__name__}-{value!r:.30}" for rule, value in REFUSED])
def test_a_rule_refuses_with_a_message_for_the_field(rule, value):
    with pytest.raises(ValueError) as refused:
        rule(value)
    assert str(refused.value)


# (rule, value, what it becomes)
ACCEPTED = [
    (rules.clean_price, 2.5, Decimal("2.50")),
    (rules.clean_price, 100000, Decimal("100000.00")),
    (rules.clean_price, 0.01, Decimal("0.01")),
    (rules.clean_initial_stock, 0, 0),
    (rules.clean_initial_stock, rules.INITIAL_STOCK_MAX, rules.INITIAL_STOCK_MAX),
    (rules.clean_purchase_quantity, rules.PURCHASE_MAX, rules.PURCHASE_MAX),
    (rules.clean_restock_quantity, 0, 0),
    (rules.clean_name, "  Fudge  ", "Fudge"),
    (rules.clean_name, "x" * rules.NAME_MAX, "x" * rules.NAME_MAX),
    (rules.clean_full_name, "   ", None),
    (rules.clean_username, "a.b-c_1", "a.b-c_1"),
    (rules.clean_password, "long enough 1", "long enough 1"),
    (rules.clean_self_registered_admin, False, False),
    (rules.clean_idempotency_key, None, None),
    (rules.clean_idempotency_key, "k" * 64, "k" * 64),
    (rules.parse_decimal, " 1.5 ", Decimal("1.5")),
    (rules.clean_price_bound, Decimal("0e-999999"), Decimal("0.00")),
    (rules.clean_sort, "", None),
    (rules.clean_allergens, ["Milk", "milk ", "eggs"], ["eggs", "milk"]),
    (rules.clean_description, "one\r\ntwo\tthree", "one\ntwo\tthree"),
    (rules.clean_day, "2026-12-04", date(2026, 12, 4)),
]


@pytest.mark.parametrize("rule, value, cleaned", ACCEPTED,
                         ids=[f"{rule.__name__}-{value!r:.30}" for rule, value, _ in ACCEPTED])
def test_a_rule_accepts_and_cleans(rule, value, cleaned):
    assert rule(value) == cleaned


def _refused_fields(clean, data):
    with pytest.raises(ValidationError) as refused:
        clean(data)
    return set(refused.value.errors)


@pytest.mark.parametrize("data, fields", [
    ({"name": "A", "category": "B"}, {"price", "quantity"}),
    ({"name": "New", "category": "Toffee", "price": 1.25, "quantity": 3, "colour": "red"}, {"colour"}),
    ({"name": "New", "category": "Toffee", "price": 1.25, "quantity": 3, "id": 1}, {"id"}),
    ({"name": 42, "category": "", "price": "abc", "quantity": -1}, {"name", "category", "price", "quantity"}),
])
def test_a_new_sweet_names_every_field_that_broke_a_rule(data, fields):
    assert _refused_fields(rules.clean_new_sweet, data) == fields


@pytest.mark.parametrize("data, fields", [
    ({"quantity": 50}, {"quantity"}),
    ({"name": "Ok", "quantity": 50}, {"quantity"}),
    ({"name": None}, {"name"}),
    ({"archived_at": None}, {"archived_at"}),
])
def test_changes_to_a_sweet_never_touch_its_stock_or_unknown_fields(data, fields):
    assert _refused_fields(rules.clean_sweet_changes, data) == fields


@pytest.mark.parametrize("clean", [rules.clean_new_sweet, rules.clean_sweet_changes, rules.clean_new_order])
@pytest.mark.parametrize("body", [None, [], "text", 1])
def test_a_body_that_is_not_an_object_is_refused_as_a_whole(clean, body):
    with pytest.raises(ValidationError) as refused:
        clean(body)
    assert refused.value.errors == {}


def test_the_clean_fields_are_returned_cleaned():
    assert rules.clean_new_sweet({"name": " Fudge ", "category": "Fudge", "price": 2, "quantity": 5}) == {
        "name": "Fudge", "category": "Fudge", "price": Decimal("2.00"), "quantity": 5, "unit": "each"}
