"""Tests that call the production WSGI application (`gonghui.wsgi.application`: the API's
fast lane in front of Django), the way gunicorn does, inside a test's transaction."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.core import signals
from django.db import close_old_connections
from django.test import RequestFactory


@dataclass
class WsgiResponse:
    status_code: int
    content: bytes
    headers: dict[str, str] = field(default_factory=dict)  # names lower-cased

    def json(self) -> Any:
        return json.loads(self.content)


@contextmanager
def _connections_kept() -> Iterator[None]:
    # As Django's test client does: the request signals must not close the connection
    # that holds the test's transaction.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def call_wsgi(
    application: Callable[..., Iterable[bytes]],
    method: str,
    path: str,
    *,
    body: bytes = b"",
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
    **environ: Any,
) -> WsgiResponse:
    request = RequestFactory().generic(
        method, path, data=body, content_type=content_type, headers=headers or {}, **environ
    )
    started: list[Any] = []

    def start_response(status: str, response_headers: list[tuple[str, str]], *exc: Any) -> None:
        started.append((status, response_headers))

    with _connections_kept():
        result = application(request.environ, start_response)
        try:
            content = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
    status, response_headers = started[0]
    return WsgiResponse(
        int(status.split()[0]), content, {k.lower(): v for k, v in response_headers}
    )
