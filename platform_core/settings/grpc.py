"""The gRPC API server (`manage.py grpcserver`)."""

from .api import API_MAX_BODY_BYTES
from .env import env

GRPC_PORT = env.int("GRPC_PORT", default=50051)
GRPC_BIND_ADDRESS = env.str("GRPC_BIND_ADDRESS", default="127.0.0.1")
# Calls served at once (threads; each holds its own database connection).
GRPC_MAX_WORKERS = env.int("GRPC_MAX_WORKERS", default=8)
# Largest request or response message; a bigger one fails with RESOURCE_EXHAUSTED.
GRPC_MAX_MESSAGE_BYTES = env.int("GRPC_MAX_MESSAGE_BYTES", default=API_MAX_BODY_BYTES)
# On SIGTERM: calls in flight get this long to finish; new ones are refused at once.
GRPC_GRACE_SECONDS = env.float("GRPC_GRACE_SECONDS", default=10.0)
