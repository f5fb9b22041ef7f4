"""Load generator for OpenAI-compatible LLM endpoints (the ``serve`` kind and ``capplan bench serve``).

An async HTTP client (httpx) streams /v1/completions or /v1/chat/completions under a load mode
(synchronous, fixed concurrency, constant/Poisson/gamma arrivals with an optional concurrency cap) and
records every request's scheduled and actual send, first-token and chunk times, token counts and
errors. Metric definitions live in capplan.results.serving. It never imports capplan.serving: the
reference server is measured over HTTP like any other endpoint.
"""
