"""The gateway application: its own routes plus path-prefix routing to the services."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from flask import Flask

from shared.http import create_app


class Router:
    """WSGI dispatcher: the longest matching path prefix picks the upstream; the rest is the gateway's."""

    def __init__(self, gateway: Flask, routes: Mapping[str, Callable]):
        self.gateway = gateway
        self.routes = sorted(routes.items(), key=lambda item: len(item[0]), reverse=True)

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        for prefix, upstream in self.routes:
            if path == prefix or path.startswith(prefix + "/"):
                return upstream(environ, start_response)
        return self.gateway(environ, start_response)


def create_gateway(upstreams: Mapping[str, Callable], ready_checks: Mapping[str, Callable[[], None]]) -> Router:
    """``upstreams`` maps a service name to a WSGI app (in process or ``HttpUpstream``)."""
    app = create_app("gateway", verifier=None, ready_checks=dict(ready_checks))
    routes = {f"/api/v1/{name}": upstream for name, upstream in upstreams.items()}
    if "intake" in upstreams:
        routes["/open311/v2"] = upstreams["intake"]
    if "tracking" in upstreams:
        routes["/public"] = upstreams["tracking"]
    router = Router(app, routes)
    router.flask = app
    return router
