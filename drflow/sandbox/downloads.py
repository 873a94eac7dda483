"""Presigned download URLs for the sandbox: what AWS hands out as HTTPS links to S3, the sandbox serves itself.

Lambda's GetFunction (`Code.Location`) and GetLayerVersion (`Content.Location`), and ECR's
GetDownloadUrlForLayer answer with a URL that the caller fetches with a plain, unsigned GET. moto 5.2.5 gives
URLs that lead nowhere (or no URL at all); the shims (lambda_code.py, ecr_layers.py) give URLs under
`<sandbox>/_drflow/download/<kind>/...` instead, and the sandbox server answers them from moto's own backends
through the fetchers registered here. Test and sandbox code only.
"""

from __future__ import annotations

from typing import Any, Callable
from urllib.parse import quote, unquote

PREFIX = "/_drflow/download/"
_FETCHERS: dict[str, Callable[[list[str]], bytes | None]] = {}


def register(kind: str, fetch: Callable[[list[str]], bytes | None]) -> None:
    """`fetch(parts)` returns the bytes named by the URL's path parts after the kind, None when unknown."""
    _FETCHERS[kind] = fetch


def url(host: str, kind: str, *parts: str) -> str:
    """A download URL on the sandbox server (`host` as the request that asks for it named the server)."""
    return f"http://{host}{PREFIX}{kind}/" + "/".join(quote(p, safe="") for p in parts)


def handles(environ: dict[str, Any]) -> bool:
    return environ.get("PATH_INFO", "").startswith(PREFIX)


def serve(environ: dict[str, Any], start_response: Callable) -> list[bytes]:
    raw = (environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ["PATH_INFO"]).split("?", 1)[0]
    kind, *parts = raw[len(PREFIX):].split("/")  # the raw path: a quoted "/" in a name stays one part
    fetch = _FETCHERS.get(kind)
    body = fetch([unquote(p) for p in parts]) if fetch else None
    if body is None or environ.get("REQUEST_METHOD") != "GET":
        message = b"<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>"
        start_response("404 Not Found", [("Content-Type", "application/xml"), ("Content-Length", str(len(message)))])
        return [message]
    start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(body)))])
    return [body]
