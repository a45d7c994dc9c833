"""The API's fast lane: the few requests a crowd of phones sends at once, served without
Django's request cycle.

A worker's check-in (`POST /api/activities/{id}/check-in` with a code or a QR token) is the
one request hundreds of phones send within a minute. Its own work is three SQL statements;
going through Django's handler, eleven middlewares, URL resolving and ninja's parsing,
authentication and rendering cost more CPU than that work. `LaneApplication` sits in front
of Django's WSGI application (`gonghui.wsgi`) and answers such a request itself, calling
the same function the ninja view calls, with what the middlewares and ninja would have
given it:

- the bearer token, which the route reads itself (with what it reads anyway, in one
  statement), its use recorded (`token_used`, as `api.auth.BearerToken` does);
- the language (`core.locale.language_of`: the language cookie, else zh-hans) and the
  client address for the audit log (`core.request_context.client_ip`);
- Django's `request_started` / `request_finished` signals (database connections are
  checked and closed as after any request) and `got_request_exception` on a crash;
- the same JSON (ninja's encoder) and the same response headers as the full stack
  (security middleware, X-Frame-Options, Content-Language, Vary) — tests compare both.

A route may also be a `GET` (a contest's leaderboard), its query string validated by the
view's `Query` schema as its body would be.

Anything it does not recognise — another method or path, no bearer token, a body (or a
query) that does not validate against the route's ninja schema, an unknown token — goes
to Django unchanged (the body put back), so every error answer stays Django's and ninja's.
A route's handler may also hand a request on, but only before it has written anything.
A route may let identical requests in flight at once share one answer (`SameRequests`):
the check-in does, so that a retry storm — phones sending again while their first request
is still being answered — does not read and write everything again.

`GONGHUI_API_LANE=0` turns it off (every request then takes the full stack).
"""

from __future__ import annotations

import io
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

from django.conf import settings
from django.core import signals
from django.http import Http404
from django.utils import timezone, translation
from ninja.responses import NinjaJSONEncoder
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from gonghui.accounts.models import ApiToken
from gonghui.accounts.selectors import api_token_of
from gonghui.accounts.services import record_token_use
from gonghui.core.locale import language_of
from gonghui.core.request_context import client_ip

logger = logging.getLogger("django.request")

MAX_BODY = 16 * 1024  # a lane request is a few fields; anything larger takes the full stack


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any  # JSON-serialisable (ninja's encoder: datetimes as ISO 8601)


# A route's handler: (the bearer token as sent, the path's captured ids, the body as the
# route's schema, or None for a route without one) → the answer, or None to hand the
# request to Django (only before writing anything; an unknown token is handed on, for
# Django's answer). Http404 raised by a handler answers 404 as ninja does.
Handler = Callable[[str, tuple[int, ...], Any], Answer | None]


@dataclass(frozen=True)
class Route:
    method: str
    path: re.Pattern[str]  # on PATH_INFO; its groups are ids (digits)
    # The view's payload schema (None: the body is ignored); of a GET, its query schema.
    schema: type[BaseModel] | None
    handler: Handler


ROUTES: list[Route] = []


def route(
    method: str, path: str, schema: type[BaseModel] | None = None
) -> Callable[[Handler], Handler]:
    """Serve `method path` (a regular expression on PATH_INFO) in the lane, its JSON body
    validated by `schema` (the ninja view's payload schema) as ninja would; a GET's query
    string by `schema` (the view's `Query[...]` schema)."""

    def register(handler: Handler) -> Handler:
        ROUTES.append(Route(method, re.compile(path), schema, handler))
        return handler

    return register


def token_used(token: ApiToken) -> None:
    """A route's handler found `token` (with its active user): its use is recorded."""
    record_token_use(token, timezone.now())


def token_user(api_key: str) -> Any:
    """The active user of the bearer token `api_key`, its use recorded (as
    `api.auth.BearerToken` does); None when there is none (Django then answers)."""
    token = api_token_of(api_key)
    if token is None:
        return None
    token_used(token)
    return token.user


class _InFlight:
    """One request being answered, and the identical ones waiting for its answer."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.answer: Answer | None = None  # None: the first one handed it on, or crashed
        self.waiting = 0


class SameRequests:
    """Identical requests in flight at once in this process get one answer: the first is
    served, the others wait for its answer. A retry storm is mostly that: a phone sending
    again while its first request is still being answered, a double tap on two phones.

    Only for a request whose answer to an identical request sent at the same moment is
    the same (a retry's): its `key` must name everything the answer depends on — the
    bearer token, the path, the body, the language. A waiting request is answered from
    a read taken at most one request's time before it came. When the first one hands
    its request on to Django or crashes, or does not answer within `wait_seconds`, each
    waiting one is served on its own."""

    def __init__(self, wait_seconds: float = 10.0) -> None:
        self._lock = threading.Lock()
        self._in_flight: dict[Any, _InFlight] = {}
        self.wait_seconds = wait_seconds

    def answer(self, key: Any, serve: Callable[[], Answer | None]) -> tuple[Answer | None, bool]:
        """`serve()`'s answer, or the answer of the identical request in flight: (answer,
        whether it was that one's)."""
        with self._lock:
            first = self._in_flight.get(key)
            if first is None:
                mine = self._in_flight[key] = _InFlight()
            else:
                first.waiting += 1
        if first is not None:
            if first.done.wait(self.wait_seconds) and first.answer is not None:
                return first.answer, True
            return serve(), False
        try:
            mine.answer = serve()
        finally:
            with self._lock:
                del self._in_flight[key]
            mine.done.set()
        return mine.answer, False

    def waiting(self) -> int:
        """How many requests wait for an identical one's answer now."""
        with self._lock:
            return sum(call.waiting for call in self._in_flight.values())


_INVALID = object()


def _payload(raw: bytes, content_type: str, schema: type[BaseModel] | None) -> Any:
    """The body as `schema`, or _INVALID for ninja to answer."""
    if schema is None:
        return None
    if content_type != "application/json":
        return _INVALID
    try:
        body = json.loads(raw)
    except ValueError:
        return _INVALID
    if not isinstance(body, dict):
        return _INVALID
    try:
        return schema.model_validate(body)
    except PydanticValidationError:
        return _INVALID


def _query(query_string: str, schema: type[BaseModel] | None) -> Any:
    """A GET's query string as `schema`, or _INVALID for ninja to answer (a name given
    twice too: ninja's reading of it is left to ninja)."""
    if schema is None:
        return None
    try:
        pairs = parse_qsl(query_string, keep_blank_values=True, strict_parsing=False)
    except ValueError:
        return _INVALID
    values = dict(pairs)
    if len(values) != len(pairs):
        return _INVALID
    try:
        return schema.model_validate(values)
    except PydanticValidationError:
        return _INVALID


def _headers(content_length: int, language: str) -> list[tuple[str, str]]:
    """The headers Django's middlewares put on the same JSON answer."""
    headers = [
        ("Content-Type", "application/json; charset=utf-8"),
        ("Content-Length", str(content_length)),
    ]
    if settings.X_FRAME_OPTIONS:
        headers.append(("X-Frame-Options", settings.X_FRAME_OPTIONS))
    headers.append(("Vary", "Accept-Language"))
    headers.append(("Content-Language", language))
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers.append(("X-Content-Type-Options", "nosniff"))
    if settings.SECURE_REFERRER_POLICY:
        policy = settings.SECURE_REFERRER_POLICY
        if not isinstance(policy, str):
            policy = ",".join(policy)
        headers.append(("Referrer-Policy", policy))
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        headers.append(("Cross-Origin-Opener-Policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY))
    return headers


def _cookie(environ: dict[str, Any], name: str) -> str | None:
    for part in environ.get("HTTP_COOKIE", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


class LaneApplication:
    """WSGI: the lane's routes here, everything else to `django_application`."""

    def __init__(self, django_application: Callable[..., Iterable[bytes]]) -> None:
        self.django_application = django_application
        import gonghui.api.urls  # noqa: F401 (the API's modules register their lane routes)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        found = self._match(environ) if settings.GONGHUI_API_LANE else None
        if found is None:
            return self.django_application(environ, start_response)
        lane_route, ids = found
        length = environ.get("CONTENT_LENGTH") or "0"
        if not length.isdigit() or int(length) > MAX_BODY:
            return self.django_application(environ, start_response)
        raw = environ["wsgi.input"].read(int(length)) if int(length) else b""
        answer, language = self._serve(environ, lane_route, ids, raw)
        if answer is None:  # handed on: Django reads the same body
            environ["wsgi.input"] = io.BytesIO(raw)
            return self.django_application(environ, start_response)
        out = json.dumps(answer.body, cls=NinjaJSONEncoder).encode()  # as ninja renders
        phrase = HTTPStatus(answer.status).phrase
        if 400 <= answer.status < 500:  # as Django logs a 4xx answer
            logger.warning("%s: %s", phrase, environ.get("PATH_INFO"))
        start_response(f"{answer.status} {phrase}", _headers(len(out), language))
        return [out]

    def _match(self, environ: dict[str, Any]) -> tuple[Route, tuple[int, ...]] | None:
        method = environ.get("REQUEST_METHOD")
        path = environ.get("PATH_INFO", "")
        for lane_route in ROUTES:
            if lane_route.method == method:
                matched = lane_route.path.fullmatch(path)
                if matched:
                    return lane_route, tuple(int(g) for g in matched.groups())
        return None

    def _serve(
        self, environ: dict[str, Any], lane_route: Route, ids: tuple[int, ...], raw: bytes
    ) -> tuple[Answer | None, str]:
        auth = environ.get("HTTP_AUTHORIZATION", "")
        scheme, _, key = auth.partition(" ")
        content_type = environ.get("CONTENT_TYPE", "").split(";")[0].strip()
        if scheme.lower() != "bearer" or not key.strip():
            return None, ""
        if lane_route.method == "GET":
            payload = _query(environ.get("QUERY_STRING", ""), lane_route.schema)
        else:
            payload = _payload(raw, content_type, lane_route.schema)
        if payload is _INVALID:
            return None, ""
        signals.request_started.send(sender=self.__class__, environ=environ)
        try:
            language = language_of(_cookie(environ, settings.LANGUAGE_COOKIE_NAME))
            with translation.override(language), client_ip(environ.get("REMOTE_ADDR") or None):
                return lane_route.handler(key.strip(), ids, payload), language
        except Http404:  # as ninja answers it
            return Answer(404, {"detail": "Not Found"}), language
        except Exception:
            signals.got_request_exception.send(sender=self.__class__, request=None)
            logger.exception("Internal Server Error: %s", environ.get("PATH_INFO"))
            return Answer(500, {"detail": "Internal server error"}), settings.LANGUAGE_CODE
        finally:
            signals.request_finished.send(sender=self.__class__)
