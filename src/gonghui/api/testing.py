"""Tests that call the production WSGI application (`gonghui.wsgi.application`: the API's
fast lane in front of Django), the way gunicorn does, inside a test's transaction."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.core import signals
from django.db import close_old_connections
from django.test import Client, RequestFactory

from gonghui.accounts.services import issue_api_token


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


class DjangoNotCalled(AssertionError):
    pass


def not_django(environ: dict[str, Any], start_response: Any) -> Any:
    """Stands in for Django behind a LaneApplication: proves the lane answered alone."""
    raise DjangoNotCalled(environ["PATH_INFO"])


class BearerApi:
    """A client that sends one user's bearer token (`user`'s new one, or `token`) with
    every request: through Django's test client, or (`wsgi=True`) to the production WSGI
    application as a server does, where the API's fast lane serves a phone's hot calls."""

    def __init__(self, user: Any = None, token: str | None = None, *, wsgi: bool = False) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {token or issue_api_token(user=user)}"}
        self.wsgi = wsgi

    def get(self, url: str, params: dict[str, Any] | None = None) -> Any:
        if self.wsgi:
            query = f"?{urlencode(params, doseq=True)}" if params else ""
            return call_wsgi(_production_application(), "GET", url + query, headers=self.headers)
        return self.client.get(url, params or {}, headers=self.headers)

    def _send(self, method: str, url: str, body: Any) -> Any:
        raw = json.dumps(body if body is not None else {})
        if self.wsgi:
            return call_wsgi(
                _production_application(),
                method.upper(),
                url,
                body=raw.encode(),
                headers=self.headers,
            )
        return getattr(self.client, method)(
            url, raw, content_type="application/json", headers=self.headers
        )

    def post(self, url: str, body: Any = None) -> Any:
        return self._send("post", url, body)

    def put(self, url: str, body: Any = None) -> Any:
        return self._send("put", url, body)

    def delete(self, url: str) -> Any:
        return self.client.delete(url, headers=self.headers)

    def upload(self, url: str, data: dict[str, Any]) -> Any:
        return self.client.post(url, data, headers=self.headers)


def _production_application() -> Callable[..., Iterable[bytes]]:
    from gonghui.wsgi import application  # the module sets Django up: imported when used

    return application
