"""The answer engine: prompts, the chat model, extractive answers and the tool-calling loop."""
