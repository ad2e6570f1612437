"""The API's JSON parser: refuses what would reach the database or the renderer as a 500.

Every API body goes through here before a view sees it, so each refusal is a 400 with a
stable code and the path of the offending value, before any query runs:

- `too_deep`: objects and arrays nested deeper than `API_MAX_JSON_DEPTH`. Checked by a scan
  of the text before parsing, because `json.loads` itself recurses (10,000 levels is a
  RecursionError).
- `invalid_number`: `NaN`, `Infinity`, `-Infinity`, and numbers that overflow a double
  (`1e400` parses to `inf`); PostgreSQL's `jsonb` and every JSON client refuse them.
- `invalid_characters`: control characters (Unicode category Cc: U+0000–U+001F, U+007F–U+009F)
  other than tab, line feed and carriage return, and unpaired surrogates, in any key or string
  value. PostgreSQL text cannot hold U+0000, and an unpaired surrogate cannot be encoded.

A body larger than `API_MAX_BODY_BYTES` is a 413, however it was sent.
"""

from __future__ import annotations

import codecs
import json
import math
import re

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from platform_core.errors import ApplicationError, ErrorKind

# The fields of one refusal, at most: the envelope stays small whatever the body holds.
MAX_REPORTED_FIELDS = 20

_BRACKETS_AS_PARENS = bytes.maketrans(b"[{]}", b"(())")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
# Escapes that may decode to a refused character: \b, \f, and \u escapes of C0, DEL, C1 and
# surrogate code points. With a raw DEL or C1 character (`_MAYBE_RAW_C1`), a hint only
# (`\\u0000` is an escaped backslash): the walk over the parsed value decides.
_MAYBE_REFUSED_ESCAPE = re.compile(rb"\\(?:[bf]|u(?:00[01]|007f|00[89]|d[89a-f]))", re.IGNORECASE)
_MAYBE_RAW_C1 = re.compile(rb"\xc2[\x80-\x9f]")
_REFUSED = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


class _NonFinite(float):
    """A number the body holds that is not finite; found by the walk, refused with its path."""


def _outside_strings(raw: bytes) -> bytes:
    """`raw` without its string literals (so brackets inside strings do not count)."""
    if b'"' not in raw:
        return raw
    # Escaped backslashes first, then escaped quotes: what is left of a string has no quote.
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    return b"".join(unescaped.split(b'"')[::2])


def _nesting(raw: bytes, limit: int) -> str:
    """Whether the brackets of UTF-8 JSON `raw` are "ok", "too_deep" or "unbalanced", unparsed.

    Each pass removes the innermost pairs, so a balanced body is empty after as many passes as
    it is deep; C-speed bytes operations, at most `limit` passes.
    """
    if raw.count(b"[") + raw.count(b"{") <= limit:  # the common case: too few to nest that deep
        return "ok"
    parens = _outside_strings(raw).translate(_BRACKETS_AS_PARENS, _NOT_BRACKETS)
    if b"(" * (limit + 1) in parens:  # the usual attack: a run of openers
        return "too_deep"
    for _ in range(limit):
        shorter = parens.replace(b"()", b"")
        if len(shorter) == len(parens):
            break
        parens = shorter
    if b"()" in parens:
        return "too_deep"
    return "unbalanced" if parens else "ok"


def _may_hold_refused_characters(raw: bytes) -> bool:
    return (
        (b"\\" in raw and _MAYBE_REFUSED_ESCAPE.search(raw) is not None)
        or b"\x7f" in raw
        or (b"\xc2" in raw and _MAYBE_RAW_C1.search(raw) is not None)
    )


def _refused_char(value: str) -> str | None:
    match = _REFUSED.search(value)
    return f"U+{ord(match.group()):04X}" if match else None


def _problems(value):
    """(path, code, message) for every refused key, string or number in `value`, in order."""
    stack = [("", value)]
    while stack:
        where, node = stack.pop()
        if isinstance(node, dict):
            children = []
            for key, sub in node.items():
                if (char := _refused_char(key)) is not None:
                    yield where, "invalid_characters", f"A key holds the character {char}."
                children.append((f"{where}.{key}" if where else key, sub))
            stack.extend(reversed(children))
        elif isinstance(node, list):
            stack.extend(
                (f"{where}.{index}" if where else str(index), node[index])
                for index in range(len(node) - 1, -1, -1)
            )
        elif isinstance(node, str):
            if (char := _refused_char(node)) is not None:
                yield where, "invalid_characters", f"Holds the character {char}."
        elif isinstance(node, _NonFinite):
            yield where, "invalid_number", "Not a finite number."


MESSAGES = {
    "invalid_number": "The body holds a number that is not finite (NaN, Infinity, out of range).",
    "invalid_characters": (
        "The body holds a control character or an unpaired surrogate; only tab, line feed and "
        "carriage return are allowed."
    ),
}


def _refuse_problems(data, codes: set[str]) -> None:
    """Raise the error of the first refused value in `data` whose code is in `codes`, if any."""
    code = None
    fields: dict[str, list[str]] = {}
    for path, problem, message in _problems(data):
        if problem not in codes or code not in (None, problem):
            continue
        code = problem
        fields.setdefault(path or "non_field_errors", []).append(message)
        if len(fields) >= MAX_REPORTED_FIELDS:
            break
    if code is not None:
        raise ApplicationError(code, MESSAGES[code], kind=ErrorKind.VALIDATION, fields=fields)


def parse_json_body(raw: bytes, encoding: str = "utf-8"):
    """The value of a JSON body, or an ApplicationError / ParseError saying why not."""
    try:
        text = codecs.decode(raw, encoding)
    except (LookupError, UnicodeDecodeError) as exc:
        raise ParseError(f"The body is not valid {encoding}.") from exc
    utf8 = raw if codecs.lookup(encoding).name == "utf-8" else text.encode("utf-8", "surrogatepass")
    limit = settings.API_MAX_JSON_DEPTH
    nesting = _nesting(utf8, limit)
    if nesting == "too_deep":
        raise ApplicationError(
            "too_deep",
            f"The body nests objects and arrays deeper than {limit} levels.",
            kind=ErrorKind.VALIDATION,
        )
    if nesting == "unbalanced":
        raise ParseError("JSON parse error - unbalanced brackets.")
    non_finite: list[float] = []

    def parse_float(literal: str) -> float:
        value = float(literal)
        if math.isfinite(value):
            return value
        non_finite.append(value)
        return _NonFinite(value)

    def parse_constant(literal: str) -> float:  # NaN, Infinity, -Infinity
        non_finite.append(float(literal))
        return _NonFinite(literal)

    try:
        data = json.loads(text, parse_float=parse_float, parse_constant=parse_constant)
    except json.JSONDecodeError as exc:
        raise ParseError(f"JSON parse error - {exc}") from exc
    except ValueError as exc:  # an integer longer than Python reads (4,300 digits)
        raise ApplicationError(
            "invalid_number",
            "The body holds an integer too long to read.",
            kind=ErrorKind.VALIDATION,
        ) from exc
    codes = {"invalid_number"} if non_finite else set()
    if _may_hold_refused_characters(utf8):
        codes.add("invalid_characters")
    if codes:
        _refuse_problems(data, codes)
    return data


class JSONParser(BaseParser):
    """application/json, with the refusals above; the API's only parser."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding") or "utf-8"
        limit = settings.API_MAX_BODY_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise RequestDataTooBig(f"The request body is larger than {limit} bytes.")
        return parse_json_body(raw, encoding)
