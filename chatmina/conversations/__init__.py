"""Conversations: visitors' questions, the assistant's answers and agents' replies."""
