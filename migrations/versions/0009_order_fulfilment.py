"""Order fulfilment (click and collect): the states 'ready' and 'collected', with their times.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 20:40:00

An order goes placed -> ready (packed, waiting on the shelf) -> collected (handed over), or is
cancelled from placed or ready. ``ready_at`` and ``collected_at`` say when. A second CHECK keeps
the times in step with the status, so no code path can leave an order "collected" without a
collection time or hold a collection time on a cancelled order.

On SQLite the CHECKs change by rebuilding the table (batch mode); the partial unique index on
(user_id, idempotency_key) is reflected with its WHERE clause and rebuilt with it.

The downgrade keeps every order: the old schema knows only 'placed' and 'cancelled', and a
ready or collected order was sold and not cancelled, which is what 'placed' meant there.
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

OLD_STATUSES = "status IN ('placed', 'cancelled')"
NEW_STATUSES = "status IN ('placed', 'ready', 'collected', 'cancelled')"
TIMES_MATCH_STATUS = ("(collected_at IS NOT NULL) = (status = 'collected') "
                      "AND (cancelled_at IS NOT NULL) = (status = 'cancelled') "
                      "AND (ready_at IS NOT NULL OR status <> 'ready')")


def upgrade():
    with op.batch_alter_table('orders') as batch_op:
        batch_op.add_column(sa.Column('ready_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('collected_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint(op.f('ck_orders_status_known'), type_='check')
        batch_op.create_check_constraint(op.f('ck_orders_status_known'), sa.text(NEW_STATUSES))
        batch_op.create_check_constraint(op.f('ck_orders_times_match_status'), sa.text(TIMES_MATCH_STATUS))


def downgrade():
    op.execute("UPDATE orders SET status = 'placed', ready_at = NULL, collected_at = NULL "
               "WHERE status IN ('ready', 'collected')")
    with op.batch_alter_table('orders') as batch_op:
        batch_op.drop_constraint(op.f('ck_orders_times_match_status'), type_='check')
        batch_op.drop_constraint(op.f('ck_orders_status_known'), type_='check')
        batch_op.create_check_constraint(op.f('ck_orders_status_known'), sa.text(OLD_STATUSES))
        batch_op.drop_column('collected_at')
        batch_op.drop_column('ready_at')
