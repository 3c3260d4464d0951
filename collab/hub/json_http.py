"""JSON over HTTP for the hub's small API: reading a bounded JSON object, answering an error.

Every POST handler reads its body through ``read_json_object``, so each has a size cap that holds
whether or not the client sends Content-Length (a chunked body is counted as it arrives).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def read_json_object(request: Request, max_bytes: int) -> dict[str, Any] | JSONResponse:
    """The request's JSON object (an empty body reads as ``{}``), or the error answer to send."""
    too_big = error_response(413, f"request body over {max_bytes} bytes")
    try:
        if int(request.headers.get("content-length") or 0) > max_bytes:
            return too_big
    except ValueError:
        return error_response(400, "bad Content-Length")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            return too_big
    try:
        data = json.loads(bytes(body) or b"{}")
    except ValueError:
        return error_response(400, "body must be JSON")
    return data if isinstance(data, dict) else error_response(400, "body must be a JSON object")
