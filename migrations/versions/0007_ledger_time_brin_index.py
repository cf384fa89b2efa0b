"""A BRIN index on the ledger's created_at, on PostgreSQL: the sales report and the ledger
export read a range of days; a no-op on SQLite.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 07:45:00

The ledger is append-only, so rows lie on disk in created_at order and a BRIN index (the
smallest and lowest and highest time of each block range) lets a 30-day report skip the
blocks of older days. It costs the hot purchase path next to nothing: unlike a B-tree, an
insert into the table's last block range (left unsummarised until VACUUM) does not touch
the index, and at worst widens one range's summary. SQLite
gets none: an embedded shop's ledger is small enough to scan. tests/domain/test_migrations.py
names it as PostgreSQL-only.
"""
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

NAME = "ix_stock_movements_created_at_brin"


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.create_index(NAME, "stock_movements", ["created_at"], postgresql_using="brin")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index(NAME, table_name="stock_movements")
