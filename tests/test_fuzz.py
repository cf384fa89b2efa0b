"""Fuzzing: schemathesis against the OpenAPI document, and random stock-operation sequences.

schemathesis generates requests (valid and invalid) for every operation in
``/api/openapi.json`` and runs all its checks on the in-process app: no 5xx, and every
status, header and body as the document says. A hypothesis state machine drives random
purchases, restocks, edits and archives through the domain functions and checks the one
stock rule after every step.
"""
import uuid
from decimal import Decimal

import hypothesis.strategies as st
import pytest
import schemathesis
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from hypothesis import HealthCheck, given, settings
from hypothesis.stateful import (Bundle, RuleBasedStateMachine, initialize, invariant, rule,
                                 run_state_machine_as_test)
from sqlalchemy import select

from sweetshop import accounts, inventory
from sweetshop.errors import (IdempotencyKeyReusedError, OutOfStockError, StockLimitError,
                              SweetNotFoundError)
from sweetshop.api import openapi
from sweetshop.extensions import db
from sweetshop.models import Sweet
from sweetshop.rules import STOCK_MAX

CASES_PER_OPERATION = 15  # 21 operations: a few hundred cases per backend
# Some schema-valid requests are refused, with the status codes SPEC section 3 sets:
# - by what the shop holds: 400 "Username already registered", 400 "Out of stock", 422 for
#   an Idempotency-Key reused with other parameters;
# - by rules JSON Schema cannot state: 422 when min_price > max_price, and 422 for a quantity
#   written as 3.0 or 1e3 (JSON Schema counts those as integers; the API wants integer literals);
#   422 for a CSV import whose text is not a valid file (any string is schema-valid);
# - 409 for a stock count whose `seen` is not the current stock.
# Every other schema-valid request must be accepted (or be 401/403/404, schemathesis' default).
CONFIG = """
[[operations]]
include-name = "POST /api/auth/register"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400"]

[[operations]]
include-name = "POST /api/sweets/{sweet_id}/purchase"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "422"]

[[operations]]
include-name = "GET /api/sweets/search"
checks.positive_data_acceptance.expected-statuses = ["2xx", "422"]

[[operations]]
include-name = "POST /api/sweets"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "422"]

[[operations]]
include-name = "POST /api/sweets/{sweet_id}/restock"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "422"]

[[operations]]
include-name = "POST /api/sweets/{sweet_id}/count"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422"]

[[operations]]
include-name = "POST /api/sweets/import"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "422"]
"""


OPERATIONS = [(path, method.upper()) for path, item in openapi.PATHS.items()
              for method in item if method != "parameters"]


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
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"})

    check()


# --- the stock rule under random operation sequences ------------------------------------------

class StockMachine(RuleBasedStateMachine):
    """Random sequences of domain operations; a model of the expected stock runs alongside."""

    sweets = Bundle("sweets")

    def __init__(self, app):
        super().__init__()
        self.app = app
        self.context = app.app_context()
        self.context.push()
        self.expected = {}  # sweet id -> quantity we expect (None once archived)
        self.keys = {}  # (user, key) -> (sweet id, quantity) of the sale it made
        suffix = uuid.uuid4().hex[:8]
        self.users = [accounts.register(f"u{n}{suffix}", "long enough 1").id for n in range(2)]

    def teardown(self):
        db.session.remove()
        self.context.pop()

    @initialize(target=sweets, quantity=st.integers(0, 30))
    def first_sweet(self, quantity):
        return self._create(quantity)

    @rule(target=sweets, quantity=st.integers(0, 30))
    def create(self, quantity):
        return self._create(quantity)

    def _create(self, quantity):
        sweet = inventory.create_sweet("Fuzz", "Fuzz", Decimal("1.00"), quantity)
        self.expected[sweet.id] = quantity
        return sweet.id

    @rule(sweet=sweets, user=st.integers(0, 1), quantity=st.integers(1, 12),
          key=st.none() | st.sampled_from(["k1", "k2", "k3"]))
    def purchase(self, sweet, user, quantity, key):
        user_id = self.users[user]
        before = self.expected[sweet]
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
                self.expected[sweet] = before - quantity
                self.keys[(user_id, key)] = (sweet, quantity)
                assert result.quantity == self.expected[sweet]

    @rule(sweet=sweets, quantity=st.integers(0, 40) | st.just(STOCK_MAX))
    def restock(self, sweet, quantity):
        before = self.expected[sweet]
        try:
            result = inventory.restock(sweet, None, quantity)
        except SweetNotFoundError:
            assert before is None
        except StockLimitError:
            assert before is not None and before + quantity > STOCK_MAX
        else:
            self.expected[sweet] = before + quantity
            assert result.quantity == self.expected[sweet]

    @rule(sweet=sweets, price=st.decimals("0.01", "999.99", places=2))
    def edit(self, sweet, price):
        try:
            inventory.update_sweet(sweet, name="Edited", price=price)
        except SweetNotFoundError:
            assert self.expected[sweet] is None

    @rule(sweet=sweets)
    def archive(self, sweet):
        try:
            inventory.archive_sweet(sweet)
        except SweetNotFoundError:
            assert self.expected[sweet] is None
        else:
            self.expected[sweet] = None

    @invariant()
    def stock_is_never_negative_and_always_the_ledger_sum(self):
        if not self.expected:
            return
        rows = db.session.execute(select(Sweet.id, Sweet.quantity, Sweet.archived_at)
                                  .where(Sweet.id.in_(self.expected))).all()
        db.session.rollback()
        for sweet_id, quantity, archived_at in rows:
            assert quantity >= 0
            if self.expected[sweet_id] is not None:
                assert quantity == self.expected[sweet_id] and archived_at is None
        # Only this run's sweets: earlier examples' sweets must not decide this one.
        assert [row for row in inventory.audit_stock() if row[0] in self.expected] == []


def test_random_stock_operations_keep_the_ledger_rule(app):
    run_state_machine_as_test(
        lambda: StockMachine(app),
        settings=settings(max_examples=25, stateful_step_count=20, deadline=None,
                          derandomize=True, suppress_health_check=list(HealthCheck)))
