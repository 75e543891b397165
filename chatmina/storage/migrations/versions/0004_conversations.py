"""conversations: visitors, widget settings, routing and handoff

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

import chatmina.storage.db

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('visitors',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=40), nullable=False),
    sa.Column('verified', sa.Boolean(), nullable=False),
    sa.Column('external_user_id', sa.String(length=200), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('locale', sa.String(length=20), nullable=False),
    sa.Column('first_seen', chatmina.storage.db.UTCDateTime(), nullable=False),
    sa.Column('last_seen', chatmina.storage.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('public_id'),
    sa.UniqueConstraint('workspace_id', 'external_user_id')
    )
    with op.batch_alter_table('visitors', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_visitors_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('widget_settings',
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=60), nullable=False),
    sa.Column('subtitle', sa.String(length=120), nullable=False),
    sa.Column('primary_color', sa.String(length=7), nullable=False),
    sa.Column('text_on_primary', sa.String(length=7), nullable=False),
    sa.Column('position', sa.String(length=5), nullable=False),
    sa.Column('avatar_url', sa.String(length=500), nullable=False),
    sa.Column('greeting', sa.Text(), nullable=False),
    sa.Column('suggestions', sa.JSON(), nullable=False),
    sa.Column('launcher_label', sa.String(length=60), nullable=False),
    sa.Column('default_locale', sa.String(length=20), nullable=False),
    sa.Column('strings', sa.JSON(), nullable=False),
    sa.Column('allowed_origins', sa.JSON(), nullable=False),
    sa.Column('identity_verification', sa.String(length=8), nullable=False),
    sa.Column('identity_secret_encrypted', sa.Text(), nullable=False),
    sa.Column('handoff_enabled', sa.Boolean(), nullable=False),
    sa.Column('updated_at', chatmina.storage.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id')
    )

    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('visitor_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('assignee_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('page_url', sa.String(length=2000), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('user_agent', sa.String(length=300), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('rating', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('rating_comment', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('resolved_at', chatmina.storage.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('unread', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('last_message_at', chatmina.storage.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('preview', sa.String(length=200), nullable=False, server_default=''))
        batch_op.create_foreign_key('fk_conversations_visitor_id_visitors', 'visitors', ['visitor_id'], ['id'], ondelete='CASCADE')
        batch_op.create_foreign_key('fk_conversations_assignee_id_users', 'users', ['assignee_id'], ['id'], ondelete='SET NULL')
        batch_op.create_index(batch_op.f('ix_conversations_visitor_id'), ['visitor_id'], unique=False)
        batch_op.create_index('ix_conversations_workspace_state', ['workspace_id', 'state', 'last_message_at'], unique=False)

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('client_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('feedback', sa.String(length=4), nullable=True))
        batch_op.add_column(sa.Column('author_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_messages_author_id_users', 'users', ['author_id'], ['id'], ondelete='SET NULL')
        batch_op.create_unique_constraint('uq_messages_conversation_client_id', ['conversation_id', 'client_id'])


def downgrade() -> None:
    raise NotImplementedError("migrations are append-only")
