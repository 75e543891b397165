"""Running Chatmina: the data-directory lock, health checks and the operations commands."""
