"""The knowledge base: articles, import, chunking, embeddings and hybrid search."""
