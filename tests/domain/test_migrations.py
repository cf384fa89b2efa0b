"""``flask db upgrade`` on an empty database gives exactly the models' schema, CHECKs included."""
import warnings
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError

from support.harness import flask_cli, fresh_database, migrated_database, server_env
from support.shop import BACKENDS, require_backend
from sweetshop.extensions import db

# Every test runs ``flask db upgrade`` (or downgrade) as a process.
pytestmark = pytest.mark.slow

# Indexes that migrations create on PostgreSQL only (features SQLite lacks, e.g. partial or
# trigram indexes) and that the models therefore do not declare. Each must be named here:
# the comparison ignores these names on PostgreSQL and nothing else.
POSTGRES_ONLY_INDEXES = {"ix_sweets_name_trgm", "ix_sweets_category_lower_id", "ix_sweets_price",
                         "ix_sweets_on_sale_name", "ix_sweets_on_sale_created",
                         "ix_sweets_on_sale_category_name", "ix_stock_movements_created_at_brin"}


def schema_differences(connection):
    """What autogenerate would write to bring the database to the models (empty when equal)."""
    dialect = connection.dialect.name

    def include_object(obj, name, type_, reflected, compare_to):
        if type_ == "table" and name == "alembic_version":
            return False
        if type_ == "index" and dialect == "postgresql" and reflected and compare_to is None:
            return name not in POSTGRES_ONLY_INDEXES
        return True

    context = MigrationContext.configure(connection, opts={
        "compare_type": True, "include_object": include_object})
    with warnings.catch_warnings():
        # SQLite's indexes on an expression (lower(name)) cannot be reflected, so there the
        # comparison skips them, saying so; tests below prove them by what they refuse.
        warnings.filterwarnings("ignore", ".*expression-based index")
        return compare_metadata(context, db.metadata)


@pytest.fixture
def migrated(backend, tmp_path):
    """An engine on a fresh database after ``flask db upgrade``."""
    with migrated_database(backend, tmp_path) as url:
        engine = create_engine(url)
        yield engine
        engine.dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def migrated_with_rows(request, tmp_path_factory):
    """One migrated database per backend for this module, holding a sweet and a user."""
    require_backend(request.param)
    with migrated_database(request.param, tmp_path_factory.mktemp("migrated")) as url:
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO sweets (name, category, price, quantity, created_at, updated_at) "
                "VALUES ('Good', 'C', 1.50, 5, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
            connection.execute(text(
                "INSERT INTO users (username, username_key, password_hash, is_admin, created_at) "
                "VALUES ('alice', 'alice', 'x', false, CURRENT_TIMESTAMP)"))
        yield engine
        engine.dispose()


def test_upgrade_gives_exactly_the_models_schema(migrated):
    with migrated.connect() as connection:
        assert schema_differences(connection) == []
        tables = set(inspect(connection).get_table_names())
    assert tables == {table.name for table in db.metadata.sorted_tables} | {"alembic_version"}


@pytest.mark.parametrize("statement", [
    "INSERT INTO sweets (name, category, price, quantity, created_at, updated_at) "
    "VALUES ('Bad', 'C', 1.00, -1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    "INSERT INTO sweets (name, category, price, quantity, created_at, updated_at) "
    "VALUES ('Bad', 'C', 0, 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    "INSERT INTO sweets (name, category, price, quantity, created_at, updated_at) "
    "VALUES ('Bad', 'C', -0.01, 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    "UPDATE sweets SET quantity = quantity - 6",
    "UPDATE sweets SET price = 0",
    "INSERT INTO users (username, username_key, password_hash, is_admin, created_at) "
    "VALUES ('ALICE', 'alice', 'x', false, CURRENT_TIMESTAMP)",
    "INSERT INTO stock_movements (sweet_id, kind, change, balance, created_at) "
    "VALUES (999, 'restock', 1, 1, CURRENT_TIMESTAMP)",
    # Migration 0004: no two sweets on sale share a name, in any case.
    "INSERT INTO sweets (name, category, price, quantity, created_at, updated_at) "
    "VALUES ('GOOD', 'C', 1.00, 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    "INSERT INTO orders (user_id, status, created_at) VALUES (1, 'shipped', CURRENT_TIMESTAMP)",
    "INSERT INTO orders (user_id, status, created_at) VALUES (999, 'placed', CURRENT_TIMESTAMP)",
    "INSERT INTO stock_movements (sweet_id, kind, change, balance, created_at, order_id) "
    "VALUES (1, 'return', 1, 6, CURRENT_TIMESTAMP, 999)",
    # Migration 0009: an order's times follow its status.
    "INSERT INTO orders (user_id, status, created_at) VALUES (1, 'ready', CURRENT_TIMESTAMP)",
    "INSERT INTO orders (user_id, status, created_at) VALUES (1, 'collected', CURRENT_TIMESTAMP)",
    "INSERT INTO orders (user_id, status, created_at) VALUES (1, 'cancelled', CURRENT_TIMESTAMP)",
    "INSERT INTO orders (user_id, status, created_at, collected_at) "
    "VALUES (1, 'placed', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    "INSERT INTO orders (user_id, status, created_at, cancelled_at, collected_at) "
    "VALUES (1, 'cancelled', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
])
def test_database_constraints_refuse_bad_rows(migrated_with_rows, statement):
    """The migrated schema guards the invariants by itself, whatever the code does."""
    with pytest.raises(IntegrityError):
        with migrated_with_rows.begin() as connection:
            connection.execute(text(statement))
    with migrated_with_rows.connect() as connection:
        assert connection.execute(text("SELECT name, price, quantity FROM sweets")).all() == [
            ("Good", Decimal("1.50"), 5)]
        assert connection.scalar(text("SELECT count(*) FROM users")) == 1
        assert connection.scalar(text("SELECT count(*) FROM stock_movements")) == 0


def test_downgrade_to_base_and_upgrade_again(migrated):
    env = server_env(migrated.url.render_as_string(hide_password=False))
    down = flask_cli(env, "db", "downgrade", "base")
    assert down.returncode == 0, down.stderr
    with migrated.connect() as connection:
        assert set(inspect(connection).get_table_names()) <= {"alembic_version"}
    up = flask_cli(env, "db", "upgrade")
    assert up.returncode == 0, up.stderr
    with migrated.connect() as connection:
        assert schema_differences(connection) == []
    # The comparison is live: a missing index is reported.
    with migrated.begin() as connection:
        connection.execute(text("DROP INDEX ix_stock_movements_sweet_id_id"))
    with migrated.connect() as connection:
        assert [diff[0] for diff in schema_differences(connection)] == ["add_index"]


@pytest.mark.parametrize(("table", "name"), [("stock_movements", "uq_stock_movements_user_key"),
                                             ("orders", "uq_orders_user_key")])
def test_idempotency_index_covers_only_keyed_rows(migrated, table, name):
    """Migrations 0003 and 0004: the unique (user, key) indexes are partial, so keyless rows skip them."""
    with migrated.connect() as connection:
        index = next(index for index in inspect(connection).get_indexes(table) if index["name"] == name)
    assert index["unique"] and index["column_names"] == ["user_id", "idempotency_key"]
    where = index["dialect_options"][f"{migrated.dialect.name}_where"]
    assert str(where).lower().replace("(", "").replace(")", "") == "idempotency_key is not null"


def rows_refused(engine, *statements):
    """Whether the database refuses the statements, run in one transaction (then rolled back)."""
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.execute(text(statement))
    except IntegrityError:
        return True
    return False


NEW_ORDER = "INSERT INTO orders (id, user_id, status, created_at, idempotency_key) " \
            "VALUES ({id}, 1, 'placed', CURRENT_TIMESTAMP, {key})"
NEW_LINE = "INSERT INTO order_lines (order_id, sweet_id, quantity, unit_price) VALUES ({order}, 1, {n}, 1.50)"


def test_order_constraints(migrated_with_rows):
    """Migration 0004: lines hold 1 to 1000 units, each sweet once per order; keys are unique per user."""
    engine = migrated_with_rows
    for bad in (0, 1001):
        assert rows_refused(engine, NEW_ORDER.format(id=10, key="NULL"), NEW_LINE.format(order=10, n=bad))
    assert rows_refused(engine, NEW_ORDER.format(id=10, key="NULL"), NEW_LINE.format(order=10, n=1),
                        NEW_LINE.format(order=10, n=2))
    assert rows_refused(engine, NEW_ORDER.format(id=10, key="'k'"), NEW_ORDER.format(id=11, key="'k'"))
    # Orders without a key are not in the unique index; good rows go in.
    assert not rows_refused(engine, NEW_ORDER.format(id=10, key="NULL"), NEW_ORDER.format(id=11, key="NULL"),
                            NEW_LINE.format(order=10, n=1000), NEW_LINE.format(order=11, n=1))
    with engine.begin() as connection:
        assert connection.scalar(text("SELECT count(*) FROM order_lines")) == 2
        connection.execute(text("DELETE FROM order_lines"))
        connection.execute(text("DELETE FROM orders"))


SWEET_ROW = ("INSERT INTO sweets (name, category, price, quantity, created_at, updated_at, archived_at) "
             "VALUES (:name, 'C', 1.00, 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, :archived)")


def test_names_are_unique_only_among_sweets_on_sale(migrated):
    insert = SWEET_ROW
    with migrated.begin() as connection:
        for name, archived in [("Fudge", "2026-01-01"), ("FUDGE", "2026-01-02"), ("fudge", None)]:
            connection.execute(text(insert), {"name": name, "archived": archived})
    with pytest.raises(IntegrityError):
        with migrated.begin() as connection:
            connection.execute(text(insert), {"name": "fUDGe", "archived": None})
    # Putting an archived twin back on sale is refused too.
    with pytest.raises(IntegrityError):
        with migrated.begin() as connection:
            connection.execute(text("UPDATE sweets SET archived_at = NULL WHERE name = 'Fudge'"))


def test_upgrade_renames_twins_already_on_sale(backend, tmp_path):
    """A shop that had two sweets on sale with one name upgrades cleanly; the later one is renamed."""
    with fresh_database(backend, tmp_path) as url:
        env = server_env(url)
        assert flask_cli(env, "db", "upgrade", "0003").returncode == 0
        engine = create_engine(url)
        with engine.begin() as connection:
            for name, archived in [("Fudge", None), ("FUDGE", None), ("fudge", "2026-01-01"),
                                   ("Toffee", None)]:
                connection.execute(text(SWEET_ROW), {"name": name, "archived": archived})
        upgraded = flask_cli(env, "db", "upgrade")
        assert upgraded.returncode == 0, upgraded.stderr
        with engine.connect() as connection:
            names = connection.execute(text("SELECT name FROM sweets ORDER BY id")).scalars().all()
        engine.dispose()
    assert names == ["Fudge", "FUDGE (#2)", "fudge", "Toffee"]


def test_name_index_is_on_lower_name_of_sweets_on_sale(migrated):
    """Migration 0004's index as the database holds it (SQLite keeps the statement as written)."""
    with migrated.connect() as connection:
        if migrated.dialect.name == "postgresql":
            definition = connection.scalar(text(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'uq_sweets_name_on_sale'"))
        else:
            definition = connection.scalar(text(
                "SELECT sql FROM sqlite_master WHERE name = 'uq_sweets_name_on_sale'"))
    definition = definition.lower().replace("(", "").replace(")", "").replace('"', "")
    assert "unique index uq_sweets_name_on_sale on" in definition
    assert "lowername" in definition.replace(" ", "") and "where archived_at is null" in definition


def test_downgrade_of_0005_keeps_the_name_index_of_0004(migrated):
    """0005's downgrade rebuilds ``sweets`` on SQLite (drop_column), which loses indexes on an
    expression; 0004's unique lower(name) index must be there after it, and still refuse twins."""
    env = server_env(migrated.url.render_as_string(hide_password=False))
    down = flask_cli(env, "db", "downgrade", "0004")
    assert down.returncode == 0, down.stderr
    with migrated.connect() as connection:
        assert "description" not in {c["name"] for c in inspect(connection).get_columns("sweets")}
    with migrated.begin() as connection:
        connection.execute(text(SWEET_ROW), {"name": "Fudge", "archived": None})
    with pytest.raises(IntegrityError):
        with migrated.begin() as connection:
            connection.execute(text(SWEET_ROW), {"name": "FUDGE", "archived": None})


ORDER_IN = ("INSERT INTO orders (id, user_id, status, created_at, ready_at, collected_at, idempotency_key) "
            "VALUES (:id, 1, :status, CURRENT_TIMESTAMP, :ready, :collected, :key)")


def test_downgrade_of_0009_keeps_every_order_and_the_key_index(migrated):
    """0009's downgrade folds ready and collected orders into 'placed' (sold, not cancelled), and
    SQLite's table rebuild, both ways, keeps the partial unique (user, key) index."""
    with migrated.begin() as connection:
        connection.execute(text("INSERT INTO users (username, username_key, password_hash, is_admin, "
                                "created_at) VALUES ('alice', 'alice', 'x', false, CURRENT_TIMESTAMP)"))
        now = connection.scalar(text("SELECT CURRENT_TIMESTAMP"))
        for id_, status, ready, collected in ((101, "placed", None, None), (102, "ready", now, None),
                                              (103, "collected", now, now)):
            connection.execute(text(ORDER_IN), {"id": id_, "status": status, "ready": ready,
                                                "collected": collected, "key": f"k{id_}"})
    env = server_env(migrated.url.render_as_string(hide_password=False))
    down = flask_cli(env, "db", "downgrade", "0007")
    assert down.returncode == 0, down.stderr
    with migrated.connect() as connection:
        assert connection.execute(text("SELECT id, status FROM orders ORDER BY id")).all() == [
            (101, "placed"), (102, "placed"), (103, "placed")]
        assert "ready_at" not in {c["name"] for c in inspect(connection).get_columns("orders")}
    assert rows_refused(migrated, "INSERT INTO orders (user_id, status, created_at, idempotency_key) "
                                  "VALUES (1, 'placed', CURRENT_TIMESTAMP, 'k101')")
    up = flask_cli(env, "db", "upgrade")
    assert up.returncode == 0, up.stderr
    with migrated.connect() as connection:
        assert schema_differences(connection) == []
        index = next(index for index in inspect(connection).get_indexes("orders")
                     if index["name"] == "uq_orders_user_key")
        assert index["unique"] and index["dialect_options"][f"{migrated.dialect.name}_where"] is not None
    assert rows_refused(migrated, "INSERT INTO orders (user_id, status, created_at, idempotency_key) "
                                  "VALUES (1, 'placed', CURRENT_TIMESTAMP, 'k102')")
    assert rows_refused(migrated, "UPDATE orders SET status = 'shipped' WHERE id = 101")
    assert not rows_refused(migrated, "INSERT INTO orders (user_id, status, created_at) "
                                      "VALUES (1, 'placed', CURRENT_TIMESTAMP)")
