"""The durable work queue and ``postroom worker``.

Copies wait in the ``deliveries`` table, other work (error emails, pruning, later Sent folder
reconciliation, webhooks, polling) in ``jobs``; workers claim due rows with ``FOR UPDATE SKIP
LOCKED`` on PostgreSQL, so any number of workers on any number of hosts share the work through
the database the operator already runs (no separate broker). See docs/queue.md.
"""
