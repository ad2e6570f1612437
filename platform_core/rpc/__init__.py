"""The gRPC API: the server (`manage.py grpcserver`) and what every call goes through."""
