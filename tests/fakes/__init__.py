"""Fakes of the network's edge: real servers on 127.0.0.1 standing in for the ones
Chatmina talks to (an OpenAI-compatible API)."""
