"""Serving a target: gunicorn for HTTP targets, a plain process for workers.

Everything that opens connections or starts threads is built in ``load()``, which gunicorn calls
in each worker process after the fork. ``all`` runs one gunicorn worker with threads, because the
in-memory bus lives inside one process.

API targets run gunicorn's ``gthread`` workers: a request holds a thread, not the process, and the
worker's main loop keeps beating while a long response is written, so an open event stream (notify's
inbox stream, up to ``XIESHANG_STREAM_MAX_SECONDS``) is not killed as a silent worker and leaves the
other threads serving. Each open stream holds one thread: ``XIESHANG_WEB_THREADS`` sets how many
requests, streams included, one worker serves at once, and the process's ``OpenStreams``
(``shared.streams``) gives streams at most ``XIESHANG_STREAM_MAX_OPEN`` of them (half by default,
always leaving two), so ``/healthz``, Open311 and every other request keep threads however many
streams are asked for. The gateway's proxied streams count there as well.

On SIGTERM a target drains within a bound the deployments grant it (``k8s/``: the pod's
``terminationGracePeriodSeconds``, compose: ``stop_grace_period``; both checked against these
constants by ``tests/unit/test_deploy_*.py``). An API target stops accepting, ends its open event
streams (the client reconnects with ``Last-Event-ID``, to another replica), finishes the requests in
flight within ``API_DRAIN_SECONDS``, then stops its relay, which publishes what those requests
committed. A worker stops consuming, applies and acks the burst in hand (the deliveries it had not
taken return to the queue when its channel closes), lets its other parts end their pass, and its
relay publishes what the burst emitted, within ``WORKER_DRAIN_SECONDS``. Nothing depends on the drain
for correctness: a process killed anyway leaves unacked messages to be redelivered (the inbox
dedupes them) and unpublished rows to the next relay.
"""

from __future__ import annotations

import json
import logging
import signal
import ssl
import threading
from http import HTTPStatus

from gunicorn import util
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger as GunicornLogger
from gunicorn.http import errors
from gunicorn.workers.gthread import ThreadWorker

from shared import metrics
from shared.config import Settings
from shared.http import KEEPALIVE_SECONDS, create_app
from shared.logs import JsonFormatter
from shared.periodic import stop_all
from shared.problems import PROBLEM_JSON, problem_body
from xieshang.platform import Platform
from xieshang.targets import Assembly, assemble

log = logging.getLogger("xieshang.server")
_assembly: Assembly | None = None

PRESTOP_SECONDS = 5  # k8s: an API pod keeps serving this long after it is told to stop (preStop)
API_DRAIN_SECONDS = 20  # gunicorn's graceful_timeout: in-flight requests, then the relay's last pass
WORKER_DRAIN_SECONDS = 20  # a worker's last burst, its parts' last passes, the relay's last pass


def build(settings: Settings, target: str) -> Assembly:
    assembly = assemble(Platform(settings), target)
    for component in assembly.background:
        component.start()
    return assembly


def shutdown(assembly: Assembly | None, timeout: float = API_DRAIN_SECONDS) -> None:
    """Stop the background parts (consumers first done with their burst, then the relays' last pass)
    and close the runtimes."""
    if assembly is None:
        return
    stop_all(assembly.background, timeout)
    assembly.platform.stop()


def _worker_exit(_server, _worker) -> None:
    shutdown(_assembly)


def _child_exit(_server, worker) -> None:
    metrics.mark_process_dead(worker.pid)


class JsonLogger(GunicornLogger):
    """gunicorn's own messages (start, worker exits) in the same JSON lines as the app's."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(JsonFormatter(cfg.proc_name))


# What gunicorn refuses before the application sees a request, by the status it deserves.
_REFUSALS: tuple[tuple[type[Exception] | tuple[type[Exception], ...], int, str], ...] = (
    ((errors.InvalidResponseHeader, errors.InvalidResponseHeaderName, errors.ConfigurationProblem), 500, ""),
    (errors.LimitRequestLine, 414, "请求地址过长"),
    (errors.LimitRequestHeaders, 431, "请求头过大或过多"),
    (errors.UnsupportedTransferCoding, 501, "不支持的传输编码"),
    (errors.ExpectationFailed, 417, "不支持的Expect请求头"),
    ((errors.ForbiddenProxyRequest, ssl.SSLError), 403, "请求被拒绝"),
    (errors.ParseException, 400, "HTTP请求格式不正确"),
)


def refusal(exc: Exception) -> tuple[int, str]:
    """The status and Chinese detail for an error gunicorn met handling a request."""
    for kinds, status, detail in _REFUSALS:
        if isinstance(exc, kinds):
            return status, detail
    return 500, ""


class ProblemWorker(ThreadWorker):
    """gunicorn's gthread worker, answering what gunicorn refuses itself (a request line or headers
    too long, a malformed request) in problem+json like every other error, instead of its HTML page.
    On SIGTERM it also ends the open event streams, which would otherwise hold their threads, and
    the worker's exit, until gunicorn's graceful timeout."""

    def handle_exit(self, sig, frame):
        super().handle_exit(sig, frame)
        if _assembly is not None:
            _assembly.platform.streams.close()

    def handle_error(self, req, client, addr, exc):
        status, detail = refusal(exc)
        if status == 500:
            self.log.exception("error handling request")
        else:
            self.log.warning("invalid request refused: %s %s", status, type(exc).__name__)
        body = json.dumps(problem_body(status, detail=detail or None), ensure_ascii=False).encode()
        head = (
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nConnection: close\r\n"
            f"Content-Type: {PROBLEM_JSON}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        try:
            util.write_nonblock(client, head.encode("latin-1") + body)
        except Exception:  # noqa: BLE001 - the client may be gone already
            self.log.debug("could not send the refusal")


class GunicornServer(BaseApplication):
    def __init__(self, settings: Settings, target: str, workers: int, threads: int | None = None):
        self.settings = settings
        self.target = target
        self.workers = workers
        self.threads = threads or settings.web_threads
        super().__init__()

    def load_config(self) -> None:
        options = {
            "bind": f"{self.settings.host}:{self.settings.port}",
            "workers": self.workers,
            "worker_class": "xieshang.server.ProblemWorker",
            "threads": self.threads,
            "timeout": 60,
            "graceful_timeout": API_DRAIN_SECONDS,
            "keepalive": KEEPALIVE_SECONDS,
            "accesslog": None,  # the app writes its own JSON access log
            "errorlog": "-",
            "logger_class": JsonLogger,
            # Several targets share a host in tests and compose; none needs the runtime control socket.
            "control_socket_disable": True,
            "worker_exit": _worker_exit,
            "child_exit": _child_exit,
            "proc_name": f"xieshang-{self.target}",
        }
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self):
        global _assembly
        _assembly = build(self.settings, self.target)
        return _assembly.http_entry


def run_worker(settings: Settings, target: str) -> None:
    """A process without public HTTP: consumers and relays, plus /healthz, /readyz and /metrics."""
    from werkzeug.serving import make_server

    assembly = build(settings, target)
    app = create_app(target, verifier=None, ready_checks=assembly.ready_checks)
    server = make_server(settings.host, settings.port, app, threaded=True)
    stopped = threading.Event()

    def stop(_signum, _frame):
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    log.info("worker started", extra={"target": target, "port": settings.port})
    stopped.wait()
    log.info("worker stopping", extra={"target": target})
    shutdown(assembly, WORKER_DRAIN_SECONDS)
    server.shutdown()  # /healthz answers while the parts drain
    log.info("worker stopped", extra={"target": target})
