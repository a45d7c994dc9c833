"""The HTTP API: django-ninja, OpenAPI at /api/openapi.json, docs at /api/docs."""

from ninja import NinjaAPI

from gonghui.api.auth import BearerToken, SessionAuth
from gonghui.api.errors import install_error_handlers

api = NinjaAPI(
    title="Gonghui API",
    version="1",
    description="Union tree, members and everything built on them. "
    "Authenticate with `POST /api/auth/token` and send `Authorization: Bearer <token>`, "
    "or use the session of a signed-in browser.",
    auth=[BearerToken(), SessionAuth()],
    urls_namespace="api",
)
install_error_handlers(api)

from gonghui.api import routes  # noqa: E402  (routes register themselves on `api`)

routes.register(api)
