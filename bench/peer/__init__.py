"""The trigger benchmark's peer: a bare Django + DRF project that validates the trigger's
body and inserts one row, served by the same gunicorn shape on the same PostgreSQL."""
