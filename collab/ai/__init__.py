"""The AI participant: a room client that answers chat requests and streams code suggestions.

backend.py   the ModelBackend interface, backend specs and the entry-point registry
openai_backend.py  OpenAI and any OpenAI-compatible server (Ollama, vLLM, llama.cpp, LM Studio)
builtin.py   the zero-setup local completer (n-grams over the workspace's own text, no model)
context.py   what the model sees: thread, cursor file and selection, related files, within a budget
suggestions.py  suggestion entries: request, accept, reject; anchors and the watched region
limits.py    per-room request and token budgets
agent.py     the loop: watch the shared doc, call the model once per request, stream into the doc
"""
