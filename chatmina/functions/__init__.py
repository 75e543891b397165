"""AI Functions: the business's own endpoints the assistant may call during an answer."""
