"""The client address of the request being served, for the audit log."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponse

_ip: ContextVar[str | None] = ContextVar("gonghui_request_ip", default=None)


def current_ip() -> str | None:
    return _ip.get()


@contextmanager
def client_ip(ip: str | None) -> Iterator[None]:
    """The client address of the request served within."""
    token = _ip.set(ip)
    try:
        yield
    finally:
        _ip.reset(token)


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with client_ip(request.META.get("REMOTE_ADDR") or None):
            return self.get_response(request)
