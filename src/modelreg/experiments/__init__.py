"""A/B experiments over models: a name used like a model name, whose requests are assigned
to arms (a model and a weight each) by a sticky key, and results with sound statistics.

- `schemas.py`, `service.py` (rows, lifecycle), `arms.py` (the arms' checks);
- `assignment.py` (key → arm, SHA-256), `table.py` (the in-memory routing table),
  `routing.py` (the hooks the gateway and the chat route call), `context.py` (the arm of
  the request being served, for the message and usage rows);
- `stats.py`, `results.py`, `feedback.py` (the results).

Nothing here imports `api/` or `web/`; only `context.py` is imported from below (chat/).
"""
