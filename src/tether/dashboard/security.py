"""Who may use the dashboard, and protection of its actions against cross-site requests.

* A session is a signed cookie (``HttpOnly``, ``SameSite=Strict``, path ``/dashboard``):
  ``<id>.<issued s>.<mac>``. With an API token the signing key is derived from the token, a
  session is only issued by the login form (the token compared with ``hmac.compare_digest``) and
  lasts :data:`SESSION_SECONDS`; without one every visitor gets a session at once, signed with a
  key that lives as long as the process.
* A request carrying the right ``dapr-api-token`` header is let in without a session (scripts).
* Every change is a POST that carries the session's CSRF token (an HMAC of the session id) and,
  when the browser says where it comes from (``Origin``, else ``Referer``), comes from this host.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import urllib.parse
from dataclasses import dataclass

from starlette.requests import Request

COOKIE = "tether_dashboard"
SESSION_SECONDS = 12 * 3600
TOKEN_HEADER = "dapr-api-token"


@dataclass(frozen=True, slots=True)
class Session:
    session_id: str
    csrf: str
    fresh: bool  # issued by this request: the cookie must be set on the response


class Gate:
    def __init__(self, api_token: str | None) -> None:
        self.token = api_token.encode() if api_token else None
        secret = self.token if self.token is not None else secrets.token_bytes(32)
        self._key = hmac.new(secret, b"tether-dashboard-session", hashlib.sha256).digest()

    @property
    def needs_login(self) -> bool:
        return self.token is not None

    def _mac(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()

    def _csrf(self, session_id: str) -> str:
        return self._mac("csrf|" + session_id)

    def token_ok(self, given: str) -> bool:
        return self.token is not None and hmac.compare_digest(given.encode(), self.token)

    def header_ok(self, request: Request) -> bool:
        given = request.headers.get(TOKEN_HEADER)
        return given is not None and self.token_ok(given)

    def new_session(self) -> Session:
        session_id = secrets.token_urlsafe(18)
        return Session(session_id, self._csrf(session_id), fresh=True)

    def cookie_value(self, session: Session) -> str:
        body = f"{session.session_id}.{int(time.time())}"
        return f"{body}.{self._mac(body)}"

    def session(self, request: Request) -> Session | None:
        raw = request.cookies.get(COOKIE, "")
        session_id, _, rest = raw.partition(".")
        issued, _, mac = rest.partition(".")
        if not (session_id and issued.isdigit() and mac):
            return None
        if not hmac.compare_digest(mac, self._mac(f"{session_id}.{issued}")):
            return None
        if self.token is not None and time.time() - int(issued) > SESSION_SECONDS:
            return None
        return Session(session_id, self._csrf(session_id), fresh=False)

    def csrf_ok(self, session: Session | None, given: str | None) -> bool:
        return (
            session is not None and given is not None and hmac.compare_digest(given, session.csrf)
        )


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another site."""
    host = request.headers.get("host", "")
    claimed = request.headers.get("origin")
    if claimed is None or claimed == "null":
        referer = request.headers.get("referer")
        if referer is None:
            return claimed is None  # no browser context at all (curl); the CSRF token decides
        claimed = referer
    parts = urllib.parse.urlsplit(claimed)
    return bool(parts.netloc) and parts.netloc == host


def cookie_header(gate: Gate, session: Session, request: Request) -> str:
    secure = "; Secure" if request.url.scheme == "https" else ""
    max_age = f"; Max-Age={SESSION_SECONDS}" if gate.needs_login else ""
    return (
        f"{COOKIE}={gate.cookie_value(session)}; Path=/dashboard; HttpOnly; "
        f"SameSite=Strict{max_age}{secure}"
    )


def clear_cookie_header() -> str:
    return f"{COOKIE}=; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age=0"


def safe_next(target: str | None) -> str:
    """Where to go after login: only a path inside the dashboard (never another site)."""
    if target and target.startswith("/dashboard/") and not target.startswith("//"):
        return target
    return "/dashboard/"
