"""knowledge: articles, chunks, full-text index, embedding sets, vectors, import jobs

Revision ID: 0002
Revises: 0001

The vector tables (vec0, one per embedding set, sized to its embedder's dimensions) are
created by chatmina.knowledge.index when a set is created, not here: their shape depends
on the configured embedder.
"""

import sqlalchemy as sa
from alembic import op

import chatmina.storage.db

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('articles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('source_url', sa.String(length=2000), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('origin', sa.String(length=1000), nullable=True),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', chatmina.storage.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', chatmina.storage.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('workspace_id', 'origin')
    )
    op.create_index('ix_articles_workspace_updated', 'articles', ['workspace_id', 'updated_at'])
    op.create_table('article_tags',
    sa.Column('article_id', sa.Integer(), nullable=False),
    sa.Column('tag', sa.String(length=50), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['article_id'], ['articles.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('article_id', 'tag')
    )
    op.create_index('ix_article_tags_workspace_tag', 'article_tags', ['workspace_id', 'tag'])
    op.create_table('chunks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('article_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('heading_path', sa.Text(), nullable=False),
    sa.Column('start_offset', sa.Integer(), nullable=False),
    sa.Column('end_offset', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['article_id'], ['articles.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_chunks_article_id', 'chunks', ['article_id'])
    op.create_index('ix_chunks_workspace_id', 'chunks', ['workspace_id'])
    op.create_table('embedding_sets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('spec', sa.String(length=500), nullable=False),
    sa.Column('dimensions', sa.Integer(), nullable=False),
    sa.Column('config_encrypted', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('error', sa.String(length=500), nullable=False),
    sa.Column('created_at', chatmina.storage.db.UTCDateTime(), nullable=False),
    sa.Column('completed_at', chatmina.storage.db.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('chunk_vectors',
    sa.Column('set_id', sa.Integer(), nullable=False),
    sa.Column('chunk_id', sa.Integer(), nullable=False),
    sa.Column('vector', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['chunk_id'], ['chunks.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['set_id'], ['embedding_sets.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('set_id', 'chunk_id'),
    sqlite_with_rowid=False
    )
    op.create_table('import_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('label', sa.String(length=300), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('imported', sa.Integer(), nullable=False),
    sa.Column('updated', sa.Integer(), nullable=False),
    sa.Column('skipped', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('created_at', chatmina.storage.db.UTCDateTime(), nullable=False),
    sa.Column('finished_at', chatmina.storage.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_import_jobs_workspace_created', 'import_jobs', ['workspace_id', 'created_at'])
    op.create_table('import_results',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=1000), nullable=False),
    sa.Column('outcome', sa.String(length=10), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('article_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['article_id'], ['articles.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['job_id'], ['import_jobs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_import_results_job_id', 'import_results', ['job_id'])
    # BM25 over chunks. Contentless (the text already lives in chunks; no second copy) with
    # delete support. The `scope` column holds "w<workspace id>" and "s<status>" tokens so a
    # query is restricted to one workspace by the index itself, not by filtering afterwards.
    op.execute(
        "CREATE VIRTUAL TABLE chunks_fts USING fts5("
        "scope, title, headings, body, content='', contentless_delete=1, "
        "tokenize='porter unicode61 remove_diacritics 2')"
    )
    # The ranking used by ORDER BY rank: title matches count most, the scope column not at all.
    op.execute("INSERT INTO chunks_fts(chunks_fts, rank) VALUES ('rank', 'bm25(0.0, 3.0, 2.0, 1.0)')")
    # Deleting a chunk (directly, or through an article's or workspace's cascade) removes
    # its full-text row in the same transaction.
    op.execute(
        "CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN "
        "DELETE FROM chunks_fts WHERE rowid = old.id; END"
    )
