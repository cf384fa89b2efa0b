"""Orders and their lines; ledger rows linked to orders; unique names among sweets on sale.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 07:20:00

An order is a basket bought in one go: its lines' purchase rows in the stock
ledger carry its id, and cancelling writes 'return' rows (a positive change) carrying it too.

No two sweets on sale may share a name without regard to case: a partial unique index on
lower(name) WHERE archived_at IS NULL (both SQLite and PostgreSQL have partial expression
indexes). A shop that already has such twins keeps the oldest one's name; each later twin
gets " (#<id>)" appended, so the upgrade never fails and nothing is lost.
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

KEYED = sa.text("idempotency_key IS NOT NULL")
ON_SALE = sa.text("archived_at IS NULL")
NAME_MAX = 100


def upgrade():
    op.create_table(
        'orders',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('idempotency_key', sa.String(length=64), nullable=True),
        sa.CheckConstraint("status IN ('placed', 'cancelled')", name=op.f('ck_orders_status_known')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_orders_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_orders')),
    )
    op.create_index(op.f('ix_orders_user_id'), 'orders', ['user_id'])
    op.create_index('uq_orders_user_key', 'orders', ['user_id', 'idempotency_key'], unique=True,
                    postgresql_where=KEYED, sqlite_where=KEYED)
    op.create_table(
        'order_lines',
        sa.Column('order_id', sa.Integer(), nullable=False),
        sa.Column('sweet_id', sa.Integer(), nullable=False),
        sa.Column('quantity', sa.Integer(), nullable=False),
        sa.Column('unit_price', sa.Numeric(precision=10, scale=2), nullable=False),
        sa.CheckConstraint('quantity BETWEEN 1 AND 1000', name=op.f('ck_order_lines_quantity_in_range')),
        sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_lines_order_id_orders')),
        sa.ForeignKeyConstraint(['sweet_id'], ['sweets.id'], name=op.f('fk_order_lines_sweet_id_sweets')),
        sa.PrimaryKeyConstraint('order_id', 'sweet_id', name=op.f('pk_order_lines')),
    )
    with op.batch_alter_table('stock_movements') as batch_op:
        batch_op.add_column(sa.Column('order_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(op.f('fk_stock_movements_order_id_orders'), 'orders',
                                    ['order_id'], ['id'])
        batch_op.create_index(op.f('ix_stock_movements_order_id'), ['order_id'])

    _rename_twins_on_sale()
    op.create_index('uq_sweets_name_on_sale', 'sweets', [sa.text('lower(name)')], unique=True,
                    postgresql_where=ON_SALE, sqlite_where=ON_SALE)


def _rename_twins_on_sale():
    """Give every later sweet on sale whose name repeats an earlier one's a distinct name."""
    connection = op.get_bind()
    rows = connection.execute(sa.text(
        "SELECT id, name, lower(name) FROM sweets WHERE archived_at IS NULL ORDER BY id")).all()
    seen = set()
    for sweet_id, name, key in rows:
        if key not in seen:
            seen.add(key)
            continue
        suffix = f" (#{sweet_id})"
        connection.execute(sa.text("UPDATE sweets SET name = :name WHERE id = :id"),
                           {"name": name[:NAME_MAX - len(suffix)] + suffix, "id": sweet_id})


def downgrade():
    op.drop_index('uq_sweets_name_on_sale', table_name='sweets')
    with op.batch_alter_table('stock_movements') as batch_op:
        batch_op.drop_index(op.f('ix_stock_movements_order_id'))
        batch_op.drop_constraint(op.f('fk_stock_movements_order_id_orders'), type_='foreignkey')
        batch_op.drop_column('order_id')
    op.drop_table('order_lines')
    op.drop_index('uq_orders_user_key', table_name='orders')
    op.drop_index(op.f('ix_orders_user_id'), table_name='orders')
    op.drop_table('orders')
