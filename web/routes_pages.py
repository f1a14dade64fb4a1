"""HTML pages, the widget script and static assets. Pages are static files; data comes
over REST and the sockets."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from hub.errors import HubError
from hub.untrusted import storable_text
from web.auth import COOKIE, check_same_origin, log_in, log_out
from web.routing_kit import mark_public, page_route, public_route
from web.state import HubState

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

# img-src https: only so an email's remote images can load in its sandboxed srcdoc frame
# (which inherits this policy) after the agent clicks "Load images"; the pages never put
# user-supplied markup anywhere else.
_PAGE_CSP = ("default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: https:;"
             " style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none';"
             " form-action 'self'")
_NO_STORE = {"Cache-Control": "no-store"}


def page_file(name: str) -> FileResponse:
    """A page of web/templates with the pages' security headers."""
    return FileResponse(TEMPLATES / name, media_type="text/html",
                        headers={"Content-Security-Policy": _PAGE_CSP,
                                 "X-Content-Type-Options": "nosniff",
                                 "Referrer-Policy": "same-origin", **_NO_STORE})


@public_route("redirect to the inbox")
async def index(request: Request) -> Response:
    return RedirectResponse("/inbox", status_code=303)


@public_route("login form")
async def login_page(request: Request) -> Response:
    return page_file("login.html")


@public_route("login: checks the password")
async def login_submit(request: Request) -> Response:
    state: HubState = request.app.state.hub
    try:
        check_same_origin(state, request.headers.get("origin"))
        async with request.form(max_files=0, max_fields=4, max_part_size=4096) as form:
            email = str(form.get("email", ""))
            password = str(form.get("password", ""))
    except HubError:
        return RedirectResponse("/login?error=1", status_code=303)
    # Crafted text (NUL...) no browser form sends: a 400 naming the field, not a login try.
    storable_text(email, "email")
    storable_text(password, "password")
    try:
        token = await log_in(state, email, password)
    except HubError:
        return RedirectResponse("/login?error=1", status_code=303)
    resp = RedirectResponse("/inbox", status_code=303)
    resp.set_cookie(COOKIE, token, max_age=state.settings.session_ttl_s, httponly=True,
                    samesite="lax", secure=state.settings.cookie_secure, path="/")
    return resp


@public_route("ends the caller's own session (same origin)")
async def logout(request: Request) -> Response:
    state: HubState = request.app.state.hub
    check_same_origin(state, request.headers.get("origin"))
    await log_out(state, request.cookies.get(COOKIE))
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(COOKIE, path="/")
    return resp


@page_route("page.inbox")
async def inbox_page(request: Request) -> Response:
    return page_file("inbox.html")


@page_route("page.admin")
async def admin_page(request: Request) -> Response:
    """Settings: admins only (the API checks again on every call)."""
    return page_file("admin.html")


@public_route("demo shop page")
async def demo_page(request: Request) -> Response:
    return FileResponse(TEMPLATES / "demo.html", media_type="text/html")


@public_route("widget script embedded by customer sites")
async def widget_js(request: Request) -> Response:
    # Loaded cross-origin by customer sites: short cache so fixes roll out.
    return FileResponse(STATIC / "widget.js", media_type="text/javascript",
                        headers={"Cache-Control": "public, max-age=300",
                                 "X-Content-Type-Options": "nosniff"})


routes = [
    Route("/", index),
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login_submit, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/inbox", inbox_page),
    Route("/admin", admin_page),
    Route("/demo", demo_page),
    Route("/widget.js", widget_js),
    Mount("/static", app=mark_public(StaticFiles(directory=STATIC, check_dir=False),
                                    "static assets"), name="static"),
]
