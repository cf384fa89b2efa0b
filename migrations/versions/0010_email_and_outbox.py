"""Email: users' addresses, single-use mailed links, and the outbox of mails to send.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 20:40:00

users gains an optional email (unique without regard to case: a unique index on lower(email))
and whether it is verified. email_tokens holds the SHA-256 of every verification and
password-reset link. outbox holds every mail the shop has written, each row written in the
transaction of what caused it and claimed by one sender at a time (docs/email.md).
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users') as batch_op:
        batch_op.add_column(sa.Column('email', sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column('email_verified', sa.Boolean(), nullable=False,
                                      server_default=sa.text('false')))
        batch_op.add_column(sa.Column('email_verified_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index('uq_users_email_lower', 'users', [sa.text('lower(email)')], unique=True)

    op.create_table(
        'email_tokens',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('purpose', sa.String(length=16), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('password_fingerprint', sa.String(length=64), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_email_tokens_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_email_tokens')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_email_tokens_token_hash')),
    )
    op.create_index(op.f('ix_email_tokens_user_id'), 'email_tokens', ['user_id'])

    op.create_table(
        'outbox',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('to', sa.String(length=254), nullable=False),
        sa.Column('subject', sa.String(length=200), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('html', sa.Text(), nullable=False),
        sa.Column('message_id', sa.String(length=200), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('claimed_by', sa.String(length=64), nullable=True),
        sa.Column('last_error', sa.String(length=500), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed')",
                           name=op.f('ck_outbox_status_known')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
        sa.UniqueConstraint('message_id', name=op.f('uq_outbox_message_id')),
    )
    op.create_index('ix_outbox_status_due', 'outbox', ['status', 'next_attempt_at'])


def downgrade():
    op.drop_index('ix_outbox_status_due', table_name='outbox')
    op.drop_table('outbox')
    op.drop_index(op.f('ix_email_tokens_user_id'), table_name='email_tokens')
    op.drop_table('email_tokens')
    op.drop_index('uq_users_email_lower', table_name='users')
    with op.batch_alter_table('users') as batch_op:
        batch_op.drop_column('email_verified_at')
        batch_op.drop_column('email_verified')
        batch_op.drop_column('email')
