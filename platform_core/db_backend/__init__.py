"""The database backend: django-tenants' PostgreSQL backend, and the prepared statements the
hot paths run through it (`run_prepared`)."""
