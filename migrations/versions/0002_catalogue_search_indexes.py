"""Catalogue indexes on PostgreSQL: trigram name search, category, price; a no-op on SQLite.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 22:10:00

Name search is ``name ILIKE '%text%'``, which no B-tree can serve; a pg_trgm GIN index
can. Category is matched as ``lower(category) = ...`` and results are ordered by id, so
the index on (lower(category), id) yields the first page of a category without sorting.
SQLite has no trigram index, and an embedded shop's catalogue is small enough to scan,
so these exist on PostgreSQL only; tests/domain/test_migrations.py names them as such.
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

INDEXES = ("ix_sweets_name_trgm", "ix_sweets_category_lower_id", "ix_sweets_price")


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    # A trusted extension since PostgreSQL 13: the database owner may create it.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_index("ix_sweets_name_trgm", "sweets", ["name"], postgresql_using="gin",
                    postgresql_ops={"name": "gin_trgm_ops"})
    op.create_index("ix_sweets_category_lower_id", "sweets", [sa.text("lower(category)"), "id"])
    op.create_index("ix_sweets_price", "sweets", ["price"])


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in INDEXES:
        op.drop_index(name, table_name="sweets")
    # pg_trgm stays: dropping an extension could break objects outside this schema.
