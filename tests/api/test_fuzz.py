"""Fuzzing: schemathesis against the OpenAPI document, and random stock-operation sequences.

schemathesis generates requests (valid and invalid) for every operation in
``/api/openapi.json`` and runs all its checks on the in-process app: no 5xx, and every
status, header and body as the document says. A hypothesis state machine drives random
purchases, orders, cancels, restocks, edits, archives and restores through the domain
functions and checks the one stock rule after every step.
"""
import uuid
from decimal import Decimal

import hypothesis.strategies as st
import pytest
import schemathesis
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import negative_data_rejection
from hypothesis import HealthCheck, given, settings
from hypothesis.stateful import (Bundle, RuleBasedStateMachine, initialize, invariant, multiple, rule,
                                 run_state_machine_as_test)
from sqlalchemy import select

from sweetshop import accounts, catalog, inventory, orders as order_domain
from sweetshop.errors import (IdempotencyKeyReusedError, OrderAlreadyCancelledError, OrderKeyReusedError,
                              OrderNotFoundError, OrderShortError, OrderSweetsMissingError, OutOfStockError,
                              StockLimitError, SweetNotFoundError)
from sweetshop.api import openapi
from sweetshop.extensions import db
from sweetshop.models import Sweet
from sweetshop.rules import STOCK_MAX

CASES_PER_OPERATION = 15  # 27 operations: a few hundred cases per backend
# Some schema-valid requests are refused, with the status codes docs/api.md gives:
# - by what the shop holds: 400 "Username already registered", 400 "Out of stock", 422 for
#   an Idempotency-Key reused with other parameters;
#   400 "Insufficient stock" and 404 "Sweet not found" for an order, 422 for the name of a
#   sweet on sale (create, rename, restore, import), 409 "Order already cancelled";
# - by rules JSON Schema cannot state: 422 when min_price > max_price, 422 for a quantity
#   written as 3.0 or 1e3 (JSON Schema counts those as integers; the API wants integer literals),
#   422 for a search text (sweets' name and category, users' q) with control characters inside,
#   422 for an order listing one sweet twice, 422 for a password on the shipped list of
#   common passwords, 422 for a CSV import whose text is not a valid file (any string is
#   schema-valid), and 422 for a ledger export whose `since` is after its `until`;
# - 409 for a stock count whose `seen` is not the current stock;
# - a mailed link's token the shop never sent (400 "Invalid or expired link"), an address another
#   account has (400), a wrong current password (403), and 422 for an address whose syntax JSON
#   Schema's plain string cannot state.
# Every other schema-valid request must be accepted (or be 401/403/404, schemathesis' default).
CONFIG = """
[[operations]]
include-name = "POST /api/auth/register"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "422"]

[[operations]]
include-name = "POST /api/sweets/{sweet_id}/purchase"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "422"]

[[operations]]
include-name = "GET /api/sweets/search"
checks.positive_data_acceptance.expected-statuses = ["2xx", "422"]

[[operations]]
include-name = "GET /api/users"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "422"]

[[operations]]
include-name = "POST /api/sweets"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "422"]

[[operations]]
include-name = "POST /api/sweets/{sweet_id}/restore"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "422"]

[[operations]]
include-name = "PUT /api/sweets/{sweet_id}"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "422"]

[[operations]]
include-name = "PATCH /api/sweets/{sweet_id}"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "422"]

[[operations]]
include-name = "POST /api/orders"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "404", "422"]

[[operations]]
include-name = "POST /api/orders/{order_id}/cancel"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409"]

[[operations]]
include-name = "POST /api/sweets/{sweet_id}/restock"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "422"]

[[operations]]
include-name = "POST /api/sweets/{sweet_id}/count"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422"]

[[operations]]
include-name = "GET /api/export/ledger.csv"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "422"]

[[operations]]
include-name = "PUT /api/auth/me/email"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "422", "429"]

[[operations]]
include-name = "POST /api/auth/verify-email"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400"]

[[operations]]
include-name = "POST /api/auth/password-reset/confirm"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "422"]

[[operations]]
include-name = "POST /api/sweets/import"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "422"]
"""


OPERATIONS = [(path, method.upper()) for path, item in openapi.PATHS.items()
              for method in item if method != "parameters"]


def _leaves_out_the_token(case):
    data = case.meta.phase.data if case.meta is not None else None
    named = [getattr(data, "parameter", None), *(m.parameter for m in getattr(data, "mutations", ()) or ())]
    return any(isinstance(name, str) and name.lower() == "authorization" for name in named)


@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_api_conforms_to_its_openapi_document(app, api, path, method):
    """Valid and invalid requests for one operation, every schemathesis check on each answer."""
    api.sweet(quantity=50)  # something for the id-taking operations to find
    with app.app_context():
        admin = accounts.find_user("admin")
    operation = schemathesis.openapi.from_wsgi(
        "/api/openapi.json", app, config=SchemathesisConfig.from_str(CONFIG))[path][method]
    strategy = st.one_of(*(operation.as_strategy(generation_mode=mode) for mode in GenerationMode))

    @given(case=strategy)
    @settings(max_examples=CASES_PER_OPERATION, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def check(case):
        # A fresh admin token per case: a generated logout must not disarm the cases after it.
        with app.app_context():
            token, _ = accounts.issue_token(admin)
        # A negative case whose invalid part includes leaving the Authorization header out is
        # not negative in that part once the token is on it: "it must be refused" no longer holds
        # for it (every other check still does).
        excluded = [negative_data_rejection] if _leaves_out_the_token(case) else []
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, excluded_checks=excluded)

    check()


# --- the stock rule under random operation sequences ------------------------------------------

class StockMachine(RuleBasedStateMachine):
    """Random sequences of domain operations; a model of the expected stock runs alongside."""

    sweets = Bundle("sweets")
    orders = Bundle("orders")

    def __init__(self, app):
        super().__init__()
        self.app = app
        self.context = app.app_context()
        self.context.push()
        self.stock = {}  # sweet id -> quantity we expect
        self.on_sale = set()  # sweet ids not archived
        self.keys = {}  # (user, key) -> (sweet id, quantity) of the sale it made
        self.order_keys = {}  # (user, key) -> order id
        self.placed = {}  # order id -> (user id, sorted lines, cancelled?)
        suffix = uuid.uuid4().hex[:8]
        self.users = [accounts.register(f"u{n}{suffix}", "long enough 1").id for n in range(2)]

    def teardown(self):
        db.session.remove()
        self.context.pop()

    def _before(self, sweet):
        """What a sale of this sweet sees: its stock, or None when it is archived."""
        return self.stock[sweet] if sweet in self.on_sale else None

    @initialize(target=sweets, quantity=st.integers(0, 30))
    def first_sweet(self, quantity):
        return self._create(quantity)

    @rule(target=sweets, quantity=st.integers(0, 30))
    def create(self, quantity):
        return self._create(quantity)

    def _create(self, quantity):
        sweet = catalog.create_sweet(f"Fuzz {uuid.uuid4().hex}", "Fuzz", Decimal("1.00"), quantity)
        self.stock[sweet.id] = quantity
        self.on_sale.add(sweet.id)
        return sweet.id

    @rule(sweet=sweets, user=st.integers(0, 1), quantity=st.integers(1, 12),
          key=st.none() | st.sampled_from(["k1", "k2", "k3"]))
    def purchase(self, sweet, user, quantity, key):
        user_id = self.users[user]
        before = self._before(sweet)
        earlier = self.keys.get((user_id, key)) if key else None
        try:
            result = inventory.purchase(sweet, user_id, quantity, idempotency_key=key)
        except SweetNotFoundError:
            assert before is None and earlier is None
        except OutOfStockError as error:
            assert before is not None and before < quantity and earlier is None
            assert error.available == before
        except IdempotencyKeyReusedError:
            assert earlier is not None and earlier != (sweet, quantity)
        else:
            if earlier is not None:
                assert earlier == (sweet, quantity)  # a replay: stock untouched
            else:
                assert before is not None and before >= quantity
                self.stock[sweet] = before - quantity
                self.keys[(user_id, key)] = (sweet, quantity)
                assert result.quantity == self.stock[sweet]

    @rule(target=orders, lines=st.lists(st.tuples(sweets, st.integers(1, 12)), min_size=1, max_size=3,
                                        unique_by=lambda line: line[0]),
          user=st.integers(0, 1), key=st.none() | st.sampled_from(["o1", "o2"]))
    def place_order(self, lines, user, key):
        user_id, lines = self.users[user], sorted(lines)
        earlier = self.order_keys.get((user_id, key)) if key else None
        missing = [sweet for sweet, _ in lines if sweet not in self.on_sale]
        short = [{"sweet_id": sweet, "requested": n, "available": self.stock[sweet]}
                 for sweet, n in lines if sweet in self.on_sale and self.stock[sweet] < n]
        try:
            order = order_domain.place_order(user_id, lines, idempotency_key=key)
        except OrderKeyReusedError:
            assert earlier is not None and self.placed[earlier][1] != lines
        except OrderSweetsMissingError as error:
            assert earlier is None and error.missing == missing
        except OrderShortError as error:
            assert earlier is None and not missing and error.shortages == short
        else:
            if earlier is not None:
                assert order.id == earlier and self.placed[earlier][1] == lines  # a replay
                return multiple()
            assert not missing and not short
            for sweet, n in lines:
                self.stock[sweet] -= n
            self.placed[order.id] = (user_id, lines, False)
            if key:
                self.order_keys[(user_id, key)] = order.id
            assert [(item.sweet_id, item.quantity) for item in order.items] == lines
            return order.id
        return multiple()

    @rule(order=orders, user=st.integers(0, 1), admin=st.booleans())
    def cancel_order(self, order, user, admin):
        owner, lines, cancelled = self.placed[order]
        overflows = any(self.stock[sweet] + n > STOCK_MAX for sweet, n in lines)
        try:
            order_domain.cancel_order(order, self.users[user], admin, 1800)
        except OrderNotFoundError:
            assert not admin and self.users[user] != owner
        except OrderAlreadyCancelledError:
            assert (admin or self.users[user] == owner) and cancelled
        except StockLimitError:
            # Only PostgreSQL's 32-bit column can overflow; SQLite's integers are 64-bit.
            assert overflows and db.engine.dialect.name == "postgresql" and not cancelled
        else:
            assert (admin or self.users[user] == owner) and not cancelled
            for sweet, n in lines:  # back even to an archived sweet
                self.stock[sweet] += n
            self.placed[order] = (owner, lines, True)

    @rule(sweet=sweets, quantity=st.integers(0, 40) | st.just(STOCK_MAX))
    def restock(self, sweet, quantity):
        before = self._before(sweet)
        try:
            result = inventory.restock(sweet, None, quantity)
        except SweetNotFoundError:
            assert before is None
        except StockLimitError:
            assert before is not None and before + quantity > STOCK_MAX
        else:
            self.stock[sweet] = before + quantity
            assert result.quantity == self.stock[sweet]

    @rule(sweet=sweets, price=st.decimals("0.01", "999.99", places=2))
    def edit(self, sweet, price):
        try:
            catalog.update_sweet(sweet, name=f"Edited {sweet}", price=price)
        except SweetNotFoundError:
            assert sweet not in self.on_sale

    @rule(sweet=sweets)
    def archive(self, sweet):
        try:
            catalog.archive_sweet(sweet)
        except SweetNotFoundError:
            assert sweet not in self.on_sale
        else:
            self.on_sale.discard(sweet)

    @rule(sweet=sweets)
    def restore(self, sweet):
        try:
            result = catalog.restore_sweet(sweet)
        except SweetNotFoundError:
            assert sweet in self.on_sale
        else:
            assert sweet not in self.on_sale and result.quantity == self.stock[sweet]
            self.on_sale.add(sweet)

    @invariant()
    def stock_is_never_negative_and_always_the_ledger_sum(self):
        if not self.stock:
            return
        rows = db.session.execute(select(Sweet.id, Sweet.quantity, Sweet.archived_at)
                                  .where(Sweet.id.in_(self.stock))).all()
        db.session.rollback()
        for sweet_id, quantity, archived_at in rows:
            assert quantity == self.stock[sweet_id] >= 0
            assert (archived_at is None) == (sweet_id in self.on_sale)
        # Only this run's sweets: earlier examples' sweets must not decide this one.
        assert [row for row in inventory.audit_stock() if row[0] in self.stock] == []


def test_random_stock_operations_keep_the_ledger_rule(app):
    run_state_machine_as_test(
        lambda: StockMachine(app),
        settings=settings(max_examples=25, stateful_step_count=20, deadline=None,
                          derandomize=True, suppress_health_check=list(HealthCheck)))
