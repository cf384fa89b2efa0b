"""``flask db upgrade`` on an empty database gives exactly the models' schema, CHECKs included."""
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError

from conftest import BACKENDS, flask_cli, migrated_database, require_backend, server_env
from sweetshop.extensions import db

# Indexes that migrations create on PostgreSQL only (features SQLite lacks, e.g. partial or
# trigram indexes) and that the models therefore do not declare. Each must be named here:
# the comparison ignores these names on PostgreSQL and nothing else.
POSTGRES_ONLY_INDEXES = {"ix_sweets_name_trgm", "ix_sweets_category_lower_id", "ix_sweets_price",
                         "ix_stock_movements_created_at_brin"}


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


def test_idempotency_index_covers_only_keyed_rows(migrated):
    """Migration 0003: the unique (user, key) index is partial, so keyless rows skip it."""
    with migrated.connect() as connection:
        index = next(index for index in inspect(connection).get_indexes("stock_movements")
                     if index["name"] == "uq_stock_movements_user_key")
    assert index["unique"] and index["column_names"] == ["user_id", "idempotency_key"]
    where = index["dialect_options"][f"{migrated.dialect.name}_where"]
    assert str(where).lower().replace("(", "").replace(")", "") == "idempotency_key is not null"
