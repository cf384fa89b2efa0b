"""throttle_counters: the login and registration throttle's counters, in the shared database.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 20:40:00

Every worker and host of one shop counts attempts in the same rows, so the throttle's limits
hold exactly however many processes serve the shop, with no other server to run.
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'throttle_counters',
        sa.Column('counter', sa.String(length=120), nullable=False),
        sa.Column('hits', sa.Integer(), nullable=False),
        sa.Column('expires_at', sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint('counter', name=op.f('pk_throttle_counters')),
    )
    op.create_index(op.f('ix_throttle_counters_expires_at'), 'throttle_counters', ['expires_at'])


def downgrade():
    op.drop_index(op.f('ix_throttle_counters_expires_at'), table_name='throttle_counters')
    op.drop_table('throttle_counters')
