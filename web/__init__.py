"""The residents' web app at ``/``: light server-rendered pages (Simplified Chinese, mobile first)
with a little JavaScript, served by the gateway.

The pages are a client of the public API, like any app: each page asks the gateway's routes (in
the same process, the gateway's WSGI callable) with the browser's own session cookie and CSRF
token, so authentication, scope, rate limits and every rule stay where they are, and a refusal
is the same Chinese problem the API gives, shown beside the field it names. The pages hold no
state and import no service.
"""
