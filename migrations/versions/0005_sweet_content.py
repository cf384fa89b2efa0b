"""Sweet content (description, unit, allergens, photo), the photos table, and sort indexes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 07:30:00

Existing sweets get an empty description, the unit "each" and no allergens (server
defaults, so the NOT NULL columns can be added to a table that has rows).

The catalogue can now be ordered by name (any case), price either way, or newest first,
always with the id as tie-breaker. On PostgreSQL the name and newest orders get a B-tree
that matches the query exactly: the expression and the id, over the sweets on sale only
(partial, WHERE archived_at IS NULL, as every catalogue query says), so a page is read
off the index in order instead of sorting the whole catalogue; likewise a category sorted
by name. Price needs none: 0002's index on price already serves both directions (a
(price, id) index measured no better, so it is not added). Measured at 100,000 sweets in
docs/BENCHMARKS.md. As in 0002, SQLite (the embedded default, with a small catalogue)
does without them.

On SQLite a batch operation that rebuilds ``sweets`` (the downgrade's drop_column does) loses
0004's unique index on lower(name), since an index on an expression cannot be reflected and
so is not copied; each batch here is therefore followed by putting that index back if it is
missing.
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

ON_SALE = sa.text("archived_at IS NULL")
SORT_INDEXES = {
    "ix_sweets_on_sale_name": [sa.text("lower(name)"), "id"],
    "ix_sweets_on_sale_created": ["created_at", "id"],
    # A category shown A-Z: without it the planner walks the name index hoping to meet the
    # category soon, which at 100,000 sweets took 0.4 s (docs/BENCHMARKS.md).
    "ix_sweets_on_sale_category_name": [sa.text("lower(category)"), sa.text("lower(name)"), "id"],
}


def _keep_unique_name_index():
    """Recreate 0004's uq_sweets_name_on_sale after a batch on sweets if SQLite's rebuild lost it."""
    connection = op.get_bind()
    if connection.dialect.name != "sqlite":
        return
    present = connection.scalar(sa.text(
        "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'uq_sweets_name_on_sale'"))
    if not present:
        op.create_index('uq_sweets_name_on_sale', 'sweets', [sa.text('lower(name)')], unique=True,
                        sqlite_where=ON_SALE)


def upgrade():
    with op.batch_alter_table('sweets') as batch_op:
        batch_op.add_column(sa.Column('description', sa.String(length=2000), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('unit', sa.String(length=30), nullable=False, server_default='each'))
        batch_op.add_column(sa.Column('allergens', sa.String(length=200), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('photo_hash', sa.String(length=64), nullable=True))
    _keep_unique_name_index()

    op.create_table(
        'photos',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('sweet_id', sa.Integer(), nullable=False),
        sa.Column('hash', sa.String(length=64), nullable=False),
        sa.Column('mime', sa.String(length=32), nullable=False),
        sa.Column('width', sa.Integer(), nullable=False),
        sa.Column('height', sa.Integer(), nullable=False),
        sa.Column('image', sa.LargeBinary(), nullable=False),
        sa.Column('thumb', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['sweet_id'], ['sweets.id'], name=op.f('fk_photos_sweet_id_sweets'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_photos')),
        sa.UniqueConstraint('sweet_id', name=op.f('uq_photos_sweet_id')),
    )
    op.create_index(op.f('ix_photos_hash'), 'photos', ['hash'])

    if op.get_bind().dialect.name == "postgresql":
        for name, columns in SORT_INDEXES.items():
            op.create_index(name, "sweets", columns, postgresql_where=ON_SALE)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for name in SORT_INDEXES:
            op.drop_index(name, table_name="sweets")
    op.drop_index(op.f('ix_photos_hash'), table_name='photos')
    op.drop_table('photos')
    with op.batch_alter_table('sweets') as batch_op:
        batch_op.drop_column('photo_hash')
        batch_op.drop_column('allergens')
        batch_op.drop_column('unit')
        batch_op.drop_column('description')
    _keep_unique_name_index()
