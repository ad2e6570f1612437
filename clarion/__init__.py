"""Code generated from proto/ by `make proto` (grpcio-tools); clients may import it."""
