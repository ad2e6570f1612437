"""The gRPC server: `clarion.v1.Events`, the standard health service and server reflection.

One process, a pool of GRPC_MAX_WORKERS threads (each call runs on one, with that thread's
database connection), messages of at most GRPC_MAX_MESSAGE_BYTES either way. SIGTERM or
SIGINT stops it gracefully: health answers NOT_SERVING, new calls are refused, and calls in
flight get GRPC_GRACE_SECONDS to finish.
"""

from __future__ import annotations

import logging
import signal
import threading
from concurrent import futures
from dataclasses import dataclass

import grpc
from django.conf import settings
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from notifications.api import rpc as notifications_rpc

logger = logging.getLogger(__name__)


@dataclass
class RunningServer:
    server: grpc.Server
    health: health.HealthServicer
    port: int
    services: list[str]

    def stop(self, grace: float | None = None) -> None:
        """Refuse new calls, give those in flight `grace` seconds, and wait until stopped."""
        self.health.enter_graceful_shutdown()
        grace = settings.GRPC_GRACE_SECONDS if grace is None else grace
        self.server.stop(grace).wait()


def server_start(*, address: str | None = None, port: int | None = None) -> RunningServer:
    """Build and start the server on `address:port` (settings by default; port 0: any free)."""
    address = settings.GRPC_BIND_ADDRESS if address is None else address
    port = settings.GRPC_PORT if port is None else port
    limit = settings.GRPC_MAX_MESSAGE_BYTES
    server = grpc.server(
        futures.ThreadPoolExecutor(
            max_workers=settings.GRPC_MAX_WORKERS, thread_name_prefix="grpc"
        ),
        options=[
            ("grpc.max_receive_message_length", limit),
            ("grpc.max_send_message_length", limit),
            # grpcio sets SO_REUSEPORT by default: a second server on a taken port would
            # start and share its calls instead of failing.
            ("grpc.so_reuseport", 0),
        ],
    )
    services = notifications_rpc.add_to_server(server)
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ["", *services]:  # "": the server as a whole
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        [*services, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )
    target = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    try:
        bound = server.add_insecure_port(target)
    except RuntimeError as exc:  # grpcio raises it when the address cannot be bound
        raise OSError(f"cannot listen on {target}: {exc}") from exc
    if not bound:
        raise OSError(f"cannot listen on {target}")
    server.start()
    return RunningServer(server=server, health=health_servicer, port=bound, services=services)


def serve(*, address: str | None = None, port: int | None = None, announce=print) -> None:
    """Run the server until SIGTERM or SIGINT, then stop it gracefully."""
    stopping = threading.Event()
    received: list[int] = []

    def on_signal(signum, frame):  # noqa: ARG001
        received.append(signum)
        stopping.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    running = server_start(address=address, port=port)
    address = settings.GRPC_BIND_ADDRESS if address is None else address
    announce(f"gRPC server listening on {address}:{running.port} ({', '.join(running.services)})")
    stopping.wait()
    name = signal.Signals(received[0]).name
    announce(f"{name}: stopping; calls in flight get {settings.GRPC_GRACE_SECONDS:g} s")
    running.stop()
    announce("gRPC server stopped")
