"""functions: AI Function definitions and call log

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

import chatmina.storage.db

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ai_functions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('parameters', sa.JSON(), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('method', sa.String(length=8), nullable=False),
    sa.Column('timeout_seconds', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('only_verified', sa.Boolean(), nullable=False),
    sa.Column('headers_encrypted', sa.Text(), nullable=False),
    sa.Column('secret_encrypted', sa.Text(), nullable=False),
    sa.Column('previous_secret_encrypted', sa.Text(), nullable=False),
    sa.Column('previous_secret_expires_at', chatmina.storage.db.UTCDateTime(), nullable=True),
    sa.Column('secret_rotated_at', chatmina.storage.db.UTCDateTime(), nullable=False),
    sa.Column('created_at', chatmina.storage.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', chatmina.storage.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('workspace_id', 'name', name='uq_ai_functions_name')
    )
    op.create_table('function_calls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('function_id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.Integer(), nullable=True),
    sa.Column('message_id', sa.String(length=64), nullable=False),
    sa.Column('call_id', sa.String(length=200), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('is_test', sa.Boolean(), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('latency_ms', sa.Double(), nullable=False),
    sa.Column('error', sa.String(length=500), nullable=False),
    sa.Column('arguments_encrypted', sa.Text(), nullable=False),
    sa.Column('response_encrypted', sa.Text(), nullable=False),
    sa.Column('created_at', chatmina.storage.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['function_id'], ['ai_functions.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('function_calls', schema=None) as batch_op:
        batch_op.create_index('ix_function_calls_function_created', ['function_id', 'created_at'], unique=False)
        batch_op.create_index('ix_function_calls_workspace_created', ['workspace_id', 'created_at'], unique=False)


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only")
