"""users.session_version: the generation of a user's page sessions.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 07:30:00

A page session names the user and the generation it was made in; logging out and changing the
password move the generation on, so every session cookie made before (and any copy of one) is
refused on the server, not only forgotten by the browser.
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users') as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), nullable=False, server_default='0'))


def downgrade():
    with op.batch_alter_table('users') as batch_op:
        batch_op.drop_column('session_version')
