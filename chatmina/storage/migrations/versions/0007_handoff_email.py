"""widget_settings.notify_by_email: email the team when nobody watches the inbox

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (SQLite allows it with a default): no table copy, no reflection.
    op.add_column('widget_settings', sa.Column('notify_by_email', sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table('widget_settings', schema=None) as batch_op:
        batch_op.drop_column('notify_by_email')
