"""The dashboard's ASGI app: routes, the session gate in front of them, and security headers."""

from __future__ import annotations

import urllib.parse
from collections.abc import Awaitable, Callable
from importlib import resources

from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from tether.dashboard import actions
from tether.dashboard.context import Ctx, notice
from tether.dashboard.html import fmt, page
from tether.dashboard.pages_instance import instance_page
from tether.dashboard.pages_list import instances_page
from tether.dashboard.pages_ops import operations_page, workflows_page
from tether.dashboard.security import (
    Gate,
    Session,
    clear_cookie_header,
    cookie_header,
    safe_next,
    same_origin,
)
from tether.dashboard.source import NO_ENGINE, Source
from tether.errors import TetherError

MAX_FORM_BYTES = 1 << 20
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}

Page = Callable[[Ctx], Awaitable[tuple[int, str]]]
Post = Callable[[Ctx, FormData], Awaitable[Response]]


FORM_PROBLEM = "The form could not be read: send it as application/x-www-form-urlencoded UTF-8."


async def read_form(request: Request, max_fields: int) -> FormData | None:
    """An URL-encoded form body (what the pages' forms send); None when it is not one."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return None
    try:
        text = (await request.body()).decode("utf-8")
        pairs = urllib.parse.parse_qsl(text, keep_blank_values=True, max_num_fields=max_fields)
    except (UnicodeDecodeError, ValueError):
        return None
    return FormData([(k, v) for k, v in pairs])


def _html(status: int, text: str) -> HTMLResponse:
    return HTMLResponse(text, status_code=status, headers=HEADERS)


def _plain_page(status: int, title: str, message: str, kind: str = "error") -> HTMLResponse:
    body = fmt("<h1>{t}</h1>{n}", t=title, n=notice(kind, message))
    return _html(status, page(title, body, section="", csrf="", source_note="", logout=False))


class Dashboard:
    def __init__(self, source: Source) -> None:
        self.source = source
        self.gate = Gate(source.api_token)

    # -- the gate ------------------------------------------------------------------------------
    def _admit(self, request: Request) -> tuple[Session | None, bool]:
        """(session, by header); a None session means: not signed in."""
        by_header = self.gate.header_ok(request)
        session = self.gate.session(request)
        if session is None and (by_header or not self.gate.needs_login):
            session = self.gate.new_session()
        return session, by_header

    def _finish(
        self, response: Response, session: Session, request: Request, by_header: bool
    ) -> Response:
        if session.fresh and not by_header:
            response.headers.append("set-cookie", cookie_header(self.gate, session, request))
        return response

    def get(self, handler: Page) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            session, by_header = self._admit(request)
            if session is None:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(
                    "/dashboard/login?" + urllib.parse.urlencode({"next": target}), 303
                )
            ctx = Ctx(self.source, request, session.csrf, logout=self.gate.needs_login)
            status, text = await handler(ctx)
            return self._finish(_html(status, text), session, request, by_header)

        return endpoint

    def post(self, handler: Post) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if not same_origin(request):
                return _plain_page(403, "Refused", "This request came from another site.")
            session, by_header = self._admit(request)
            if session is None:
                return _plain_page(401, "Sign in first", "Your session has ended: sign in again.")
            form = await read_form(request, actions.MAX_BULK + 20)
            if form is None:
                return _plain_page(400, "Bad request", FORM_PROBLEM)
            given = form.get("csrf")
            if not by_header and not self.gate.csrf_ok(
                session, given if isinstance(given, str) else None
            ):
                return _plain_page(
                    403,
                    "Refused",
                    "The form's security token is missing or stale: reload the page and try again.",
                )
            ctx = Ctx(self.source, request, session.csrf, logout=self.gate.needs_login)
            return self._finish(await handler(ctx, form), session, request, by_header)

        return endpoint

    # -- login -----------------------------------------------------------------------------------
    async def login_form(self, request: Request) -> Response:
        return self._login_page(request.query_params.get("next"), None, 200)

    def _login_page(self, target: str | None, error: str | None, status: int) -> Response:
        body = fmt(
            '<section class="login"><h1>Sign in</h1><p>This tether requires its API token.</p>'
            "{err}"
            '<form method="post" action="/dashboard/login"><input type="hidden" name="next" '
            'value="{next}"><label>API token<input type="password" name="token" '
            'autocomplete="current-password" autofocus></label>'
            '<button type="submit">Sign in</button></form></section>',
            err=notice("error", error) if error else "",
            next=safe_next(target),
        )
        return _html(
            status, page("Sign in", body, section="", csrf="", source_note="", logout=False)
        )

    async def login(self, request: Request) -> Response:
        if not same_origin(request):
            return _plain_page(403, "Refused", "This request came from another site.")
        form = await read_form(request, 10)
        if form is None:
            return _plain_page(400, "Bad request", FORM_PROBLEM)
        token = form.get("token")
        target = form.get("next")
        target = target if isinstance(target, str) else None
        if not self.gate.needs_login:
            return RedirectResponse(safe_next(target), 303)
        if not isinstance(token, str) or not self.gate.token_ok(token):
            return self._login_page(target, "That is not this tether's API token.", 401)
        session = self.gate.new_session()
        response = RedirectResponse(safe_next(target), 303)
        response.headers.append("set-cookie", cookie_header(self.gate, session, request))
        return response

    async def logout(self, ctx: Ctx, form: FormData) -> Response:
        response = RedirectResponse(
            "/dashboard/login" if self.gate.needs_login else "/dashboard/", 303
        )
        response.headers.append("set-cookie", clear_cookie_header())
        return response

    # -- actions ---------------------------------------------------------------------------------
    async def act(self, ctx: Ctx, form: FormData) -> Response:
        return await self._action(ctx, form, bulk=False)

    async def bulk(self, ctx: Ctx, form: FormData) -> Response:
        return await self._action(ctx, form, bulk=True)

    async def _action(self, ctx: Ctx, form: FormData, *, bulk: bool) -> Response:
        engine = self.source.engine
        if engine is None:
            return _plain_page(409, "Read-only", NO_ENGINE, "info")
        try:
            action = actions.parse_action(form, bulk=bulk)
            if form.get("confirm") != "1":
                body = actions.confirmation(ctx, action, bulk=bulk)
                return _html(200, ctx.page("Confirm", body, section="instances"))
            if bulk:
                done, failed = await actions.run_bulk(engine, action)
                body = actions.bulk_result(action, done, failed)
                return _html(200, ctx.page("Done", body, section="instances"))
            instance_id = action.instance_ids[0]
            created = await actions.run_one(engine, action, instance_id, wait=True)
        except TetherError as exc:
            body = fmt(
                '<h1>Could not do that</h1>{n}<p><a class="button secondary" '
                'href="javascript:history.back()">Back</a></p>',
                n=notice("error", exc.message),
            )
            return _html(
                exc.http_status if exc.http_status < 500 else 500,
                ctx.page("Error", body, section="instances"),
            )
        _, past = actions.VERBS[action.op]
        if action.op == "purge":
            return RedirectResponse("/dashboard/instances", 303)
        target = created or instance_id
        return RedirectResponse(
            "/dashboard/instance?" + urllib.parse.urlencode({"id": target, "done": past}), 303
        )

    # -- assembly --------------------------------------------------------------------------------
    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        suffix = name[name.rfind(".") :] if "." in name else ""
        if "/" in name or suffix not in STATIC_TYPES:
            return Response("not found", 404)
        try:
            data = resources.files("tether.dashboard").joinpath("static", name).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            return Response("not found", 404)
        return Response(
            data,
            media_type=STATIC_TYPES[suffix],
            headers={"Cache-Control": "max-age=300", "X-Content-Type-Options": "nosniff"},
        )

    async def root(self, request: Request) -> Response:
        return RedirectResponse("/dashboard/instances", 303)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/", self.root, methods=["GET"]),
            Route("/instances", self.get(instances_page), methods=["GET"]),
            Route("/instance", self.get(instance_page), methods=["GET"]),
            Route("/workflows", self.get(workflows_page), methods=["GET"]),
            Route("/operations", self.get(operations_page), methods=["GET"]),
            Route("/login", self.login_form, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.post(self.logout), methods=["POST"]),
            Route("/act", self.post(self.act), methods=["POST"]),
            Route("/bulk", self.post(self.bulk), methods=["POST"]),
            Route("/static/{name}", self.static, methods=["GET"]),
        ]


def build_dashboard(source: Source) -> Starlette:
    """The dashboard as an app to mount at ``/dashboard``."""
    return Starlette(routes=Dashboard(source).routes())
