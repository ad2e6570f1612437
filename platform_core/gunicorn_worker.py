"""gunicorn's gthread worker, whose own error responses are the API's JSON error envelope.

gunicorn answers requests it cannot parse (an invalid header, an oversized request line, a
bad chunk) itself, before Django sees them, with a small HTML page written by
`gunicorn.util.write_error`; it has no setting for that page. This worker replaces that one
function in its own process, so every such answer is
`{"error": {"code", "message"}}` with `Content-Type: application/json`. The status codes and
the choice of which requests to refuse stay gunicorn's.
"""

from __future__ import annotations

import json

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker

# gunicorn's status → a stable code (the API's where one exists).
CODES = {
    400: "bad_request",
    403: "permission_denied",
    414: "uri_too_long",
    417: "expectation_failed",
    431: "headers_too_large",
    500: "internal_error",
    501: "not_implemented",
}


def json_error_response(status_int: int, reason: str, mesg: str) -> bytes:
    """The raw HTTP response for an error gunicorn answers itself."""
    if status_int >= 500:
        message = "An internal error occurred; it has been logged."
        if status_int == 501:
            message = f"Not implemented: {mesg}" if mesg else "Not implemented."
    else:
        message = f"The request is malformed: {mesg}" if mesg else "The request is malformed."
    code = CODES.get(status_int, "bad_request" if status_int < 500 else "internal_error")
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    ).encode("latin-1")
    return head + body


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """`gunicorn.util.write_error`, answering in the JSON error envelope."""
    util.write_nonblock(sock, json_error_response(status_int, reason, mesg))


class JsonErrorThreadWorker(ThreadWorker):
    """gthread; gunicorn's own error pages are JSON (see the module docstring)."""

    def init_process(self):
        # Every thread of this process writes its errors through this one function, and only
        # gunicorn calls it: set once, before the worker serves.
        util.write_error = write_json_error
        super().init_process()
