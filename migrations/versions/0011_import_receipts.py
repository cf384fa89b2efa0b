"""import_receipts (a CSV import preview is applied at most once) and stock_movements.note (why a
stock count differed: breakage, theft, miscount or other).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 20:30:00

The receipt's token is unique, so the insert that claims a preview is what decides whether it
is applied: a second confirm of the same preview meets the constraint and changes nothing.
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'import_receipts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('created', sa.Integer(), nullable=False),
        sa.Column('updated', sa.Integer(), nullable=False),
        sa.Column('restocked_units', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_import_receipts_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_import_receipts')),
        sa.UniqueConstraint('token', name=op.f('uq_import_receipts_token')),
    )
    with op.batch_alter_table('stock_movements') as batch_op:
        batch_op.add_column(sa.Column('note', sa.String(length=16), nullable=True))


def downgrade():
    with op.batch_alter_table('stock_movements') as batch_op:
        batch_op.drop_column('note')
    op.drop_table('import_receipts')
