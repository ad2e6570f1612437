"""`python -m notifications.stream [--host 127.0.0.1] [--port 8001]`: the inbox stream server."""

from __future__ import annotations

import argparse
import logging
import os

import uvicorn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("STREAM_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("STREAM_PORT", "8001")))
    args = parser.parse_args()
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(message)s"
    )
    uvicorn.run(
        "notifications.stream.app:app",
        host=args.host,
        port=args.port,
        lifespan="on",
        access_log=False,
        # Open streams never end by themselves: a stop closes them after this long.
        timeout_graceful_shutdown=3,
        backlog=4096,
    )


if __name__ == "__main__":
    main()
