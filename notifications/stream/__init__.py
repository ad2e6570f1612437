"""The real-time inbox process: Server-Sent Events under uvicorn, with no ORM on its path.

`python -m notifications.stream --port 8001` serves `GET /api/v1/inbox/{subscriber_id}/stream`.
`hosts` finds a request's tenant from its Host header (one raw psycopg query, cached), `hub`
holds one Redis pub/sub connection for every open stream of the process, `app` is the ASGI
application. It reads Django's settings module for its configuration, never the ORM.
"""
