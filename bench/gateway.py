"""Gateway benchmark: intake's write path and a read, through the gateway against straight to intake.

Real processes, started the way ``tests/integration/test_separate_processes.py`` starts them:
``xieshang run --target intake-api`` (its gunicorn workers plus its outbox relay, on PostgreSQL and
RabbitMQ) and ``xieshang run --target gateway`` with ``XIESHANG_INTAKE_URL`` pointing at it, each
with ``XIESHANG_WEB_CONCURRENCY`` gunicorn workers. Both share one data directory, so they verify
the same token; the gateway's rate limit is set far above what the bench sends.

Two kinds of request, each sent straight to intake ("direct") and through the gateway:

- write: ``POST /api/v1/intake/proposals`` (a proposal for community 341702001001; intake stores
  it and its ``intake.proposal.submitted`` event in one transaction, the relay publishes it);
- read: ``GET /api/v1/intake/proposals?community=341702001001&limit=20``, the list's first page
  (the 20 newest proposals of the community, of the thousands the writes created).

A closed-loop load generator (``threads`` client threads, each with its own keep-alive
``http.client`` connection, opened before the clock starts) sends a fixed number of requests per
phase and notes each request's latency (send to last body byte). The phases are interleaved:
after a warm-up of both paths, every round runs write direct, write gateway, read direct, read
gateway, the order of direct and gateway swapped every other round, so noise hits both. Throughput
is the median of the rounds; the ratio is the median of the rounds' own gateway/direct ratios (the
writes grow the table the list reads, so reads slow from round to round; within a round both paths
read the same table); latency percentiles pool all rounds. Added latency is gateway minus
direct at the same percentile; under saturation that includes the queueing the gateway's own CPU
use causes, so it is reported a second time with one client at a time (no queueing).

At the end the proposals in intake's database are counted against the writes answered 201.
The load generator is Python on the same machine (as are PostgreSQL and RabbitMQ): it competes
for the same cores. CPU time per request of each process group (from /proc) is reported so the
cost of each hop is visible.
"""

from __future__ import annotations

import contextlib
import cProfile
import http.client
import itertools
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import text

from bench.bus import print_profile
from bench.infra import ScratchDatabases, bus_admin, group_processes, processes, run_id
from bench.results import RESULTS, peak_rss, record
from shared.auth import TokenIssuer
from shared.config import load_settings
from shared.db import Database
from shared.division_registry import upsert
from shared.divisions import REFERENCE_CSV, parse_csv
from shared.keys import KeyStore
from shared.principal import Principal

PROJECT_ROOT = Path(__file__).resolve().parents[1]
COMMUNITY = "341702001001"  # 烟柳园社区 (sample code)
PROPOSALS_PATH = "/api/v1/intake/proposals"
PAGE = 20
LIST_TARGET = f"{PROPOSALS_PATH}?community={COMMUNITY}&limit={PAGE}"
WRITE_GOAL = 0.8
READ_GOAL = 0.6
ADDED_P99_GOAL_MS = 2.0
WARMUP = 200  # requests per kind and path before the first round
RATE_LIMIT = 10_000_000  # requests per minute per client at the gateway: never the bottleneck here
KINDS = ("write", "read")
PATHS = ("direct", "gateway")
START_TIMEOUT = 90.0
REQUEST_TIMEOUT = 30.0

TITLES = (
    "小区{n}号楼门前路灯不亮,夜间出行不便",
    "{n}号楼旁垃圾分类投放点异味严重",
    "菜市场周边早高峰占道经营,希望协商解决",
    "河道{n}段漂浮垃圾长期无人清理",
)
DESCRIPTIONS = (
    "居民反映情况已持续两周,希望社区协调物业尽快处理。",
    "夏季气温高,异味影响周边住户开窗通风,建议增加清运频次。",
)


def say(text: str) -> None:
    print(text, flush=True)


def proposal_bodies(count: int = 16) -> list[bytes]:
    return [
        json.dumps(
            {
                "community_code": COMMUNITY,
                "title": TITLES[i % len(TITLES)].format(n=i + 1),
                "description": DESCRIPTIONS[i % len(DESCRIPTIONS)],
                "category": "environment",
            },
            ensure_ascii=False,
        ).encode()
        for i in range(count)
    ]


# -- CPU accounting ---------------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def group_cpu(pgid: int) -> float:
    """CPU seconds (user + system) of the live processes of process group ``pgid``."""
    return sum(int(fields[11]) + int(fields[12]) for _, fields in group_processes(pgid)) / _TICK  # utime, stime


# The machine's shared servers by their processes' command names (RabbitMQ's Erlang VM and its helpers).
SERVERS = {"postgresql": (b"postgres",), "rabbitmq": (b"beam.smp", b"erl_child_setup", b"inet_gethost", b"epmd")}


def servers_cpu() -> dict[str, float]:
    """CPU seconds (user + system) of the live processes of each of ``SERVERS``; a backend that ends
    between two readings takes its share to ``other``."""
    cpu = dict.fromkeys(SERVERS, 0.0)
    for _pid, command, fields in processes():
        for name, commands in SERVERS.items():
            if command in commands:
                cpu[name] += (int(fields[11]) + int(fields[12])) / _TICK
    return cpu


def cpu_spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds between two readings of named parts and ``machine`` (``machine_busy``): each part's,
    and ``other``, the machine's busy time none of them accounts for (PostgreSQL, RabbitMQ, the kernel's
    loopback traffic, other processes)."""
    spent = {name: after[name] - before[name] for name in before}
    machine = spent.pop("machine")
    return spent | {"other": max(0.0, machine - sum(spent.values()))}


def machine_busy() -> float:
    """CPU seconds spent busy by the whole machine (all cores) since boot."""
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice; guest time is inside user.
    return (sum(values[:8]) - values[3] - values[4]) / _TICK


# -- the processes --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Servers:
    """The targets as processes, each in its own process group (gunicorn's workers go with it)."""

    def __init__(self, env: dict[str, str], logs: Path):
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("XIESHANG_", "PROMETHEUS_"))}
        self.env = {**inherited, **env, "PYTHONPATH": str(PROJECT_ROOT)}
        self.logs = logs
        self.logs.mkdir(parents=True, exist_ok=True)
        self.running: dict[str, subprocess.Popen] = {}

    def start(self, target: str, **extra: str) -> str:
        port = free_port()
        with (self.logs / f"{target}.log").open("w") as log:
            self.running[target] = subprocess.Popen(
                [sys.executable, "-m", "xieshang.cli", "run", "--target", target],
                cwd=PROJECT_ROOT,
                env={**self.env, **extra, "PORT": str(port)},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT
        while not self._ready(url, target):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{target} not ready after {START_TIMEOUT:.0f}s:\n{self.tail(target)}")
            time.sleep(0.2)
        return url

    def _ready(self, url: str, target: str) -> bool:
        if self.running[target].poll() is not None:
            raise RuntimeError(f"{target} exited with {self.running[target].returncode}:\n{self.tail(target)}")
        parts = urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=2)
        try:
            conn.request("GET", "/readyz")
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()

    def pgid(self, target: str) -> int:
        return self.running[target].pid  # start_new_session: the leader's pid is the group id

    def tail(self, target: str, chars: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return (self.logs / f"{target}.log").read_text(errors="replace")[-chars:]
        return ""

    def peaks(self) -> dict[str, int]:
        """Peak resident memory (bytes) of each running target's largest process."""
        return {target: peak_rss(process.pid) for target, process in self.running.items()}

    def stop_all(self) -> None:
        for process in self.running.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.running.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        self.running.clear()


# -- the load generator ---------------------------------------------------------------------------------


@dataclass
class Phase:
    kind: str
    path: str
    count: int
    threads: int
    seconds: float
    latencies: list[float]  # seconds, one per request
    cpu: dict[str, float]  # CPU seconds by process group during the phase
    reconnects: int = 0

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else float("inf")


class Load:
    """Sends ``count`` requests from ``threads`` threads, each with its own keep-alive connection."""

    def __init__(self, base_url: str, token: str, bodies: list[bytes]):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port
        self.token = token
        self.bodies = bodies

    def _connect(self) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=REQUEST_TIMEOUT)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def run(self, kind: str, count: int, threads: int) -> tuple[float, list[float], int]:
        """Return (seconds, latencies, reconnects); raise if any answer is not the expected one."""
        auth = f"Bearer {self.token}"
        write_headers = {"Authorization": auth, "Content-Type": "application/json"}
        read_headers = {"Authorization": auth}
        expected = 201 if kind == "write" else 200
        tickets = itertools.count()  # next() on a count is atomic under the GIL
        conns = [self._connect() for _ in range(threads)]
        latencies: list[list[float]] = [[] for _ in range(threads)]
        failures: list[str] = []
        reconnects = [0] * threads
        gate = threading.Barrier(threads + 1)
        finished = [0.0] * threads

        def request(conn: http.client.HTTPConnection, i: int) -> tuple[int, bytes]:
            if kind == "write":
                body = self.bodies[i % len(self.bodies)]
                conn.request("POST", PROPOSALS_PATH, body, write_headers)
            else:
                conn.request("GET", LIST_TARGET, headers=read_headers)
            response = conn.getresponse()
            return response.status, response.read()

        def worker(slot: int) -> None:
            conn, mine = conns[slot], latencies[slot]
            gate.wait()
            try:
                while (i := next(tickets)) < count:
                    started = time.perf_counter()
                    try:
                        status, data = request(conn, i)
                    except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                        # The server closed the keep-alive connection: reconnect once, off the clock.
                        conn.close()
                        conn = conns[slot] = self._connect()
                        reconnects[slot] += 1
                        started = time.perf_counter()
                        status, data = request(conn, i)
                    mine.append(time.perf_counter() - started)
                    if status != expected:
                        failures.append(f"{status} {data[:300].decode(errors='replace')}")
                        break
            except Exception as exc:  # noqa: BLE001 - reported below, the phase fails
                failures.append(repr(exc))
            finally:
                finished[slot] = time.perf_counter()

        workers = [threading.Thread(target=worker, args=(n,), name=f"bench-client-{n}") for n in range(threads)]
        for thread in workers:
            thread.start()
        gate.wait()
        started = time.perf_counter()
        for thread in workers:
            thread.join()
        elapsed = max(finished) - started
        for conn in conns:
            conn.close()
        if failures:
            raise RuntimeError(f"{kind}: {len(failures)} failed request(s), first: {failures[0]}")
        flat = [latency for part in latencies for latency in part]
        if len(flat) != count:
            raise RuntimeError(f"{kind}: {len(flat)} answers for {count} requests")
        return elapsed, flat, sum(reconnects)


# -- the bench --------------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation; values in seconds, result in ms."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return (ordered[low] + (ordered[high] - ordered[low]) * (rank - low)) * 1000


@dataclass
class Figures:
    requests: int  # per kind and path, over all rounds
    rounds: int
    threads: int
    workers: int
    latency_requests: int
    phases: list[Phase] = field(default_factory=list)  # the loaded rounds
    single: list[Phase] = field(default_factory=list)  # one client at a time

    def of(self, kind: str, path: str, single: bool = False) -> list[Phase]:
        return [p for p in (self.single if single else self.phases) if p.kind == kind and p.path == path]

    def rate(self, kind: str, path: str) -> float:
        return statistics.median(p.rate for p in self.of(kind, path))

    def ratio(self, kind: str) -> float:
        """Median over the rounds of gateway/direct throughput within a round (same table size, same noise)."""
        pairs = zip(self.of(kind, "direct"), self.of(kind, "gateway"), strict=True)
        return statistics.median(via.rate / direct.rate for direct, via in pairs)

    def latencies(self, kind: str, path: str, single: bool = False) -> list[float]:
        return [latency for p in self.of(kind, path, single) for latency in p.latencies]

    def cpu_per_request(self, kind: str, path: str) -> dict[str, float]:
        """Milliseconds of CPU per request by process group, over all loaded rounds."""
        phases = self.of(kind, path)
        count = sum(p.count for p in phases)
        groups = {name for p in phases for name in p.cpu}
        return {name: sum(p.cpu.get(name, 0.0) for p in phases) / count * 1000 for name in groups}


class GatewayBench:
    def __init__(self, servers: Servers, urls: dict[str, str], token: str, figures: Figures):
        self.servers = servers
        self.urls = urls
        self.figures = figures
        bodies = proposal_bodies()
        self.load = {path: Load(url, token, bodies) for path, url in urls.items()}
        self.written = 0  # writes answered 201

    def _cpu(self) -> dict[str, float]:
        return {
            "intake": group_cpu(self.servers.pgid("intake-api")),
            "gateway": group_cpu(self.servers.pgid("gateway")),
            "client": time.process_time(),
            "machine": machine_busy(),
        }

    def phase(self, kind: str, path: str, count: int, threads: int, quiet: bool = False) -> Phase:
        before = self._cpu()
        seconds, latencies, reconnects = self.load[path].run(kind, count, threads)
        after = self._cpu()
        cpu = cpu_spent(before, after)
        if kind == "write":
            self.written += count
        phase = Phase(kind, path, count, threads, seconds, latencies, cpu, reconnects)
        if not quiet:
            say(
                f"  {kind:5s}  {path:7s}  {count} in {seconds:5.2f}s = {phase.rate:6,.0f} req/s  "
                f"p50 {percentile(latencies, 50):5.1f} ms  p99 {percentile(latencies, 99):5.1f} ms"
                + (f"  ({reconnects} reconnects)" if reconnects else "")
            )
        return phase

    def run(self) -> Figures:
        figures = self.figures
        say(f"warm-up: {WARMUP} writes and {WARMUP} reads per path")
        for kind in KINDS:
            for path in PATHS:
                self.phase(kind, path, WARMUP, figures.threads, quiet=True)
        self.check_page()
        per_round = max(1, figures.requests // figures.rounds)
        for round_ in range(1, figures.rounds + 1):
            say(f"round {round_}/{figures.rounds} ({figures.threads} client threads)")
            order = PATHS if round_ % 2 else tuple(reversed(PATHS))
            for kind in KINDS:
                for path in order:
                    figures.phases.append(self.phase(kind, path, per_round, figures.threads))
        if figures.latency_requests:
            say(f"one client at a time: {figures.latency_requests} requests per kind and path")
            for kind in KINDS:
                for path in PATHS:
                    figures.single.append(self.phase(kind, path, figures.latency_requests, 1))
        return figures

    def check_page(self) -> None:
        """The read returns a full page through either path (the writes of the warm-up are there)."""
        for path, load in self.load.items():
            conn = http.client.HTTPConnection(load.host, load.port, timeout=REQUEST_TIMEOUT)
            try:
                conn.request("GET", LIST_TARGET, headers={"Authorization": f"Bearer {load.token}"})
                response = conn.getresponse()
                page = json.loads(response.read())
            finally:
                conn.close()
            if response.status != 200 or len(page.get("items", ())) != PAGE:
                raise RuntimeError(
                    f"read via {path}: {response.status}, {len(page.get('items', ()))} items, not {PAGE}"
                )

    def check_stored(self, database_url: str) -> None:
        """Every write answered 201 left exactly one proposal in intake's database."""
        db = Database(database_url, "intake")
        try:
            with db.sessions() as session:
                stored = session.execute(text("SELECT count(*) FROM proposal")).scalar_one()
        finally:
            db.dispose()
        if stored != self.written:
            raise RuntimeError(f"intake stored {stored} proposals for {self.written} writes answered 201")
        say(f"intake stored {stored} proposals, one per write answered 201")

    def profile(self, settings_env: dict[str, str], requests: int = 1000) -> None:
        """The gateway in this process (``Gateway`` + ``HttpUpstream`` to the running intake) under cProfile."""
        from werkzeug.test import EnvironBuilder

        from gateway.app import create_gateway
        from gateway.proxy import HttpUpstream
        from gateway.runtime import GatewayRuntime

        settings = load_settings(settings_env)
        runtime = GatewayRuntime(settings)
        upstream = HttpUpstream("intake", self.urls["direct"], read_timeout=settings.upstream_timeout)
        app = create_gateway(runtime, {"intake": upstream}, {"intake": upstream.openapi}, {})
        token = self.load["direct"].token
        bodies = proposal_bodies()

        def environ(kind: str, i: int) -> dict:
            headers = {"Authorization": f"Bearer {token}"}
            if kind == "write":
                return EnvironBuilder(
                    path=PROPOSALS_PATH,
                    method="POST",
                    data=bodies[i % len(bodies)],
                    content_type="application/json",
                    headers=headers,
                ).get_environ()
            return EnvironBuilder(
                path=PROPOSALS_PATH, query_string=LIST_TARGET.split("?", 1)[1], headers=headers
            ).get_environ()

        def start_response(status, _headers, _exc_info=None):
            statuses.append(int(status.split(" ", 1)[0]))

        try:
            for kind in KINDS:
                for i in range(WARMUP):  # connections, the merged OpenAPI document, SQL compilation
                    b"".join(app(environ(kind, i), lambda *_a: None))
                statuses: list[int] = []
                profiler = cProfile.Profile()
                cpu = wall = 0.0
                for i in range(requests):
                    env = environ(kind, i)
                    cpu_started, wall_started = time.thread_time(), time.perf_counter()
                    profiler.enable()
                    b"".join(app(env, start_response))
                    profiler.disable()
                    cpu += time.thread_time() - cpu_started
                    wall += time.perf_counter() - wall_started
                bad = [s for s in statuses if s >= 300]
                say(
                    f"\nprofile: {kind}, gateway in this process, {requests} requests one at a time: "
                    f"{cpu / requests * 1000:.2f} ms CPU (this thread, profiler on) and "
                    f"{wall / requests * 1000:.2f} ms wall per request" + (f"; {len(bad)} failed" if bad else "")
                )
                print_profile(profiler)
        finally:
            upstream.session.close()
            runtime.stop()


# -- report -----------------------------------------------------------------------------------------------


def _verdict(throughput_ok: bool, latency_ok: bool) -> str:
    missed = [what for what, ok in (("throughput", throughput_ok), ("added p99", latency_ok)) if not ok]
    return f"  BELOW GOAL ({', '.join(missed)})" if missed else ""


def report(figures: Figures, postgres: str, rabbitmq: str) -> str:
    per_round = max(1, figures.requests // figures.rounds)
    many = f"median of {figures.rounds}" if figures.rounds > 1 else "1 run"
    lines = [
        f"gateway benchmark (PostgreSQL {postgres} + RabbitMQ {rabbitmq}, {figures.workers} gunicorn workers each, "
        f"{figures.threads} client threads, {per_round} requests per phase, {figures.rounds} rounds)",
    ]
    for kind, goal in (("write", WRITE_GOAL), ("read", READ_GOAL)):
        direct_rate, gateway_rate = figures.rate(kind, "direct"), figures.rate(kind, "gateway")
        direct, via = figures.latencies(kind, "direct"), figures.latencies(kind, "gateway")
        ratio = figures.ratio(kind)
        added50 = percentile(via, 50) - percentile(direct, 50)
        added99 = percentile(via, 99) - percentile(direct, 99)
        lines.append(
            f"{kind:5s}  direct  {direct_rate:6,.0f} req/s  p50 {percentile(direct, 50):5.1f} ms  "
            f"p99 {percentile(direct, 99):5.1f} ms  [{many}]"
        )
        lines.append(
            f"{kind:5s}  gateway {gateway_rate:6,.0f} req/s  p50 {percentile(via, 50):5.1f} ms  "
            f"p99 {percentile(via, 99):5.1f} ms  ratio {ratio:.2f}x (goal >= {goal}x)  "
            f"added p50 {added50:.1f} ms  p99 {added99:.1f} ms (goal <= {ADDED_P99_GOAL_MS:g} ms)"
            f"{_verdict(ratio >= goal, added99 <= ADDED_P99_GOAL_MS)}"
        )
        record("gateway", f"{kind}s through the gateway against direct", ratio, "×", goal=goal, better="higher",
               note=f"{gateway_rate:,.0f} against {direct_rate:,.0f} per s, {figures.threads} clients")  # fmt: skip
        record("gateway", f"{kind}s: p99 the gateway adds", added99, "ms", goal=ADDED_P99_GOAL_MS)
    if figures.single:
        parts = []
        for kind in KINDS:
            direct, via = figures.latencies(kind, "direct", True), figures.latencies(kind, "gateway", True)
            parts.append(
                f"{kind} direct p50 {percentile(direct, 50):.1f} p99 {percentile(direct, 99):.1f}, "
                f"gateway p50 {percentile(via, 50):.1f} p99 {percentile(via, 99):.1f}, "
                f"added p50 {percentile(via, 50) - percentile(direct, 50):.1f} "
                f"p99 {percentile(via, 99) - percentile(direct, 99):.1f}"
            )
        lines.append(f"one client at a time ({figures.latency_requests} each, ms): " + "; ".join(parts))
    for kind in KINDS:
        cells = []
        for path in PATHS:
            cpu = figures.cpu_per_request(kind, path)
            total = sum(cpu.values())
            shown = " ".join(f"{name} {cpu[name]:.2f}" for name in ("intake", "gateway", "client", "other"))
            cells.append(f"{path}: {shown} = {total:.2f}")
        lines.append(f"CPU ms per {kind:5s}  " + "  |  ".join(cells))
    lines.append(
        "(ratio: median of the rounds' own gateway/direct ratios. "
        f"read = GET {LIST_TARGET}, a page of {PAGE}. The load generator is Python on this same "
        f"{os.cpu_count()}-core machine, as are PostgreSQL and RabbitMQ; CPU is per request, from /proc, and "
        f"\"other\" is theirs, the kernel's and any other process's.)"
    )
    return "\n".join(lines)


# -- set-up and clean-up ------------------------------------------------------------------------------------


def load_divisions(database_url: str) -> int:
    """Intake's replica of the registry, filled as replication from tracking would leave it."""
    import services.intake.spec

    divisions = parse_csv(REFERENCE_CSV.read_text(encoding="utf-8"))
    db = Database(database_url, "intake")
    try:
        with db.transaction() as session:
            upsert(session, services.intake.spec.SPEC.metadata.tables["division"], divisions)
    finally:
        db.dispose()
    return len(divisions)


def run(
    *,
    requests: int,
    rounds: int,
    threads: int,
    workers: int,
    latency_requests: int,
    amqp_url: str,
    database_url: str,
    profile: bool = False,
) -> Figures:
    from xieshang.platform import Platform

    rid = run_id()
    namespace = f"xsbench{rid}"
    scratch = ScratchDatabases(database_url)
    started = time.perf_counter()
    figures = Figures(requests, rounds, threads, workers, latency_requests)
    load_before = os.getloadavg()[0]
    try:
        with tempfile.TemporaryDirectory(prefix="xs-bench-gateway-") as data_dir:
            env = {
                "XIESHANG_DATA_DIR": data_dir,
                "XIESHANG_AMQP_URL": amqp_url,
                "XIESHANG_BUS_NAMESPACE": namespace,
                "XIESHANG_INTAKE_DATABASE_URL": scratch.create(f"xs_bench_{rid}_intake"),
                "XIESHANG_GATEWAY_DATABASE_URL": scratch.create(f"xs_bench_{rid}_gateway"),
                "XIESHANG_WEB_CONCURRENCY": str(workers),
                "XIESHANG_RATE_LIMIT": str(RATE_LIMIT),
                "XIESHANG_LOG_LEVEL": "WARNING",
            }
            settings = load_settings(env)
            platform = Platform(settings)
            platform.migrate(["intake", "gateway"])
            loaded = load_divisions(settings.database_url("intake"))
            keys = KeyStore(settings.keys_dir)
            keys.current()  # created here, before either process could race to create one
            token = TokenIssuer(keys).issue(Principal("bench", "community_worker", COMMUNITY), ttl=3600)
            say(
                f"gateway benchmark: {requests} writes and {requests} reads per path, {rounds} rounds, "
                f"{threads} client threads, {workers} gunicorn workers per target, namespace {namespace}, "
                f"databases xs_bench_{rid}_intake/_gateway, {loaded} divisions in intake's replica"
            )
            # Exit order: the processes stop, then the queues and exchange go, then the databases.
            with bus_admin(amqp_url, platform.topology) as admin:
                servers = Servers(env, Path(data_dir) / "logs")
                try:
                    intake = servers.start("intake-api")
                    gateway = servers.start("gateway", XIESHANG_INTAKE_URL=intake)
                    say(f"intake-api at {intake}, gateway at {gateway}")
                    bench = GatewayBench(servers, {"direct": intake, "gateway": gateway}, token, figures)
                    bench.run()
                    bench.check_stored(settings.database_url("intake"))
                    say("")
                    say(report(figures, scratch.server_version, admin.server_version))
                    RESULTS.peak_memory("gateway", servers.peaks())
                    say(
                        f"(1-minute load average before the run: {load_before:.2f}; other work on this machine "
                        "shows in the figures)"
                    )
                    if profile:
                        bench.profile(env)
                except BaseException:
                    for target in servers.running:
                        say(f"-- last lines of {target}'s log --\n{servers.tail(target, 2000)}")
                    raise
                finally:
                    servers.stop_all()
    finally:
        scratch.drop_all()
    say(f"(total {time.perf_counter() - started:.0f}s; processes stopped, scratch databases and bus names removed)")
    return figures
