"""Signed outbound HTTP: event webhooks (a durable queue) and the client AI Functions use."""
