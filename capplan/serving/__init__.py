"""A small OpenAI-compatible server (``capplan reference-server``): the project's GPT-like decoder with
random weights on CPU, or a scripted mode with exact TTFT/ITL, so users and tests can check a serving
client end to end before pointing it at production. Nothing in capplan.harness imports this package:
the load generator measures it over HTTP like any other endpoint."""
