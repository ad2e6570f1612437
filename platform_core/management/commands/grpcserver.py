from django.core.management.base import BaseCommand, CommandError

from platform_core.rpc.server import serve


class Command(BaseCommand):
    help = (
        "Serve the gRPC API (clarion.v1.Events, health, reflection) on GRPC_BIND_ADDRESS:"
        "GRPC_PORT until SIGTERM."
    )

    def add_arguments(self, parser):
        parser.add_argument("--address", help="bind address (default GRPC_BIND_ADDRESS)")
        parser.add_argument("--port", type=int, help="port (default GRPC_PORT; 0: any free one)")

    def handle(self, *args, **options):
        def announce(message: str) -> None:
            self.stdout.write(message)
            self.stdout.flush()

        try:
            serve(address=options["address"], port=options["port"], announce=announce)
        except OSError as exc:
            raise CommandError(str(exc)) from exc
