"""A RabbitMQ node of the fault suite's own, beside the machine's broker.

The suite stops and restarts this node (``rabbitmqctl stop_app`` / ``start_app``); the machine's
shared broker on 5672 is never touched. The node has its own name, AMQP and distribution ports
(below the kernel's ephemeral range, so an outgoing connection cannot hold them when the node
listens again), data and log directories under the suite's temporary directory, no plugins (no
management) and its own Erlang cookie (``HOME``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import uuid
from pathlib import Path

from kombu import Connection

from tests.support import wait_until

SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
CTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"
LOW_PORTS = range(20000, 32000, 7)  # below /proc/sys/net/ipv4/ip_local_port_range's 32768


def rabbitmq_available() -> str | None:
    """None when this node can be started here, else why not."""
    missing = [path for path in (SERVER, CTL) if not os.access(path, os.X_OK)]
    return f"RabbitMQ's scripts missing: {', '.join(missing)} (apt-get install rabbitmq-server)" if missing else None


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    with socket.socket() as sock:  # the distribution port listens on every interface
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def _free_pair() -> tuple[int, int]:
    offset = uuid.uuid4().int % len(LOW_PORTS)
    for port in [*LOW_PORTS[offset:], *LOW_PORTS[:offset]]:
        if _free(port) and _free(port + 1):
            return port, port + 1
    raise RuntimeError("no free pair of ports below the ephemeral range")


class OwnBroker:
    """``OwnBroker(directory).start()``; ``url``; ``stop_app()`` / ``start_app()``; ``stop()``."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.port, self.dist_port = _free_pair()
        self.node = f"xsfault{self.port}@localhost"
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}//"
        self.process: subprocess.Popen | None = None

    @property
    def env(self) -> dict[str, str]:
        d = self.directory
        return {
            **os.environ,
            "HOME": str(d),  # the Erlang cookie of this node and of the rabbitmqctl calls to it
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_BASE": str(d),
            "RABBITMQ_MNESIA_BASE": str(d / "mnesia"),
            "RABBITMQ_LOG_BASE": str(d / "log"),
            "RABBITMQ_PID_FILE": str(d / "node.pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "enabled_plugins"),
            "RABBITMQ_CONF_ENV_FILE": str(d / "rabbitmq-env.conf"),  # not the machine's (its NODENAME)
            "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq"),  # none: not the machine's listeners
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    def start(self) -> OwnBroker:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "enabled_plugins").write_text("[].\n")
        (self.directory / "rabbitmq-env.conf").write_text("")
        log = (self.directory / "server.out").open("w")
        self.process = subprocess.Popen(
            [SERVER], env=self.env, cwd=self.directory, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            # await_startup needs the node registered with epmd first: until then it fails at once.
            wait_until(self._pings, timeout=60, interval=0.5, what="the suite's RabbitMQ node to run")
            self.ctl("await_startup", timeout=120)
            self.wait_accepting()
        except BaseException:
            self.stop()  # a node that failed to come up is not left running
            raise
        return self

    def _pings(self) -> bool:
        try:
            self.ctl("ping", timeout=20)
        except AssertionError:
            if self.process is not None and self.process.poll() is not None:
                raise
            return False
        return True

    def ctl(self, *args: str, timeout: float = 60) -> str:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"the suite's RabbitMQ node exited:\n{self.log_tail()}")
        result = subprocess.run(
            [CTL, "-q", "-n", self.node, *args], env=self.env, capture_output=True, text=True, timeout=timeout,
            check=False,
        )  # fmt: skip
        assert result.returncode == 0, f"rabbitmqctl {' '.join(args)}: {result.stderr}{result.stdout}"
        return result.stdout

    def stop_app(self) -> None:
        """Stop the broker application (connections closed, port closed), the node staying up."""
        self.ctl("stop_app")

    def start_app(self) -> None:
        self.ctl("start_app")
        self.wait_accepting()

    def wait_accepting(self) -> None:
        def accepting() -> bool:
            try:
                with Connection(self.url, connect_timeout=2) as conn:
                    conn.ensure_connection(max_retries=1, timeout=2)
            except Exception:  # noqa: BLE001 - not yet
                return False
            return True

        wait_until(accepting, timeout=60, interval=0.2, what="the suite's RabbitMQ node to accept connections")

    def log_tail(self) -> str:
        out = self.directory / "server.out"
        return out.read_text(errors="replace")[-3000:] if out.exists() else ""

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            self.ctl("stop", timeout=60)
            self.process.wait(30)
        except (AssertionError, subprocess.TimeoutExpired):
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        shutil.rmtree(self.directory / "mnesia", ignore_errors=True)
