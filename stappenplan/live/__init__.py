"""Live worksheets: a Server-Sent Events stream per open worksheet (docs/deployment.md).

The Flask app decides who may listen (a signed, short-lived ticket per user and worksheet,
``tickets``) and writes every change; the database announces each change in the change's
own transaction (migration 0025: NOTIFY on PostgreSQL, ``live_events`` on SQLite); the
stream service (``service``, an ASGI app under uvicorn) passes those announcements -
ids and sequence numbers only - to the open pages, which fetch the news through the
existing change feed. Nothing here imports the Flask app or a domain package.
"""
