"""A real Kannel SMS gateway for integration tests: bearerbox, smsbox and fakesmsc as the carrier.

``Kannel(workdir, mo_url).start()`` renders ``deploy/kannel/kannel.conf.template`` on free ports,
starts bearerbox and smsbox, connects one long-running ``fakesmsc`` to the ``fake`` SMSC (the
carrier every MT goes to) and returns once bearerbox reports that SMSC online. Then:

- send through ``sendsms_url`` with ``username``/``password`` (or ``send()``), read what the carrier
  got with ``received()`` / ``wait_for()``;
- inject a resident's reply (MO) with ``reply()``: it reaches ``mo_url`` (the sms-service
  ``get-url``, where %p is the sender, %P the receiver, %a the text, %I Kannel's id);
- a ``dlr-url`` with ``dlr-mask=31`` is called twice per message, in either order: status 8
  (SMSC accepted, answer ``ACK/``) and status 1 (delivered).

Encoding of Chinese text (verified against Kannel 1.4.5):

- ``charset=UTF-8&coding=2`` with the text as url-encoded UTF-8 and
  ``charset=UTF-16BE&coding=2`` with the text as url-encoded UTF-16BE bytes put exactly the same
  UCS-2 bytes on the wire. The UTF-8 form is the recommended one (it is what ``send()`` uses):
  plain strings, no byte juggling, Kannel converts to UCS-2 itself.
- 70 UCS-2 characters fit one SMS; longer texts are split (``concatenation = true``) into parts of
  67 characters with a concatenation UDH (8-bit reference), at most ``max-messages = 10`` parts.
- Without ``coding=2`` the text goes out as 7-bit text (160 characters, 153 per part) and every
  Chinese character becomes ``?``: always send ``coding=2`` for Chinese.

What fakesmsc prints for each MT (``Got message N: <SENDER RECEIVER TYPE PAYLOAD>``):
``text <raw text>`` (7-bit), ``ucs-2 <url-encoded UCS-2 big-endian>``, ``data <url-encoded 8-bit>``
and, for every part of a concatenated message, ``udh <url-encoded UDH> data <url-encoded part>``
without the coding. Kannel's url encoding writes a 0x20 byte as ``+``. A ``udh`` message is
decoded as UCS-2 when all its parts have an even length of at most 134 bytes (Kannel's UCS-2 part
size; a 7-bit message's parts are 153 characters), otherwise as 7-bit text.

Residents' replies are injected on the second fake SMSC (``replies``): ASCII as ``text``,
anything else as ``ucs2`` with url-encoded UCS-2 bytes; ``mo-recode = true`` makes smsbox pass
both to the sms-service as UTF-8.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import string
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.support import free_port

BEARERBOX = "/usr/sbin/bearerbox"
SMSBOX = "/usr/sbin/smsbox"
FAKESMSC = "/usr/lib/kannel/test/fakesmsc"
TEMPLATE = Path(__file__).resolve().parents[1] / "deploy" / "kannel" / "kannel.conf.template"
INSTALL_COMMAND = "sudo deploy/kannel/install.sh  (apt-get install kannel kannel-extras)"
SERVICE_NUMBER = "106900"  # the platform's sender number in tests
UCS2_PART_BYTES = 134  # 140 octets minus the 6-octet concatenation UDH

_GOT = re.compile(rb"Got message \d+: <(.*)>\s*$")


@dataclass(frozen=True)
class Sms:
    """One message as the carrier received it, concatenated parts already joined."""

    sender: str
    receiver: str
    text: str
    parts: int


def kannel_available() -> str | None:
    """None when the Kannel binaries this harness starts are installed, else why not."""
    missing = [path for path in (BEARERBOX, SMSBOX, FAKESMSC) if not os.access(path, os.X_OK)]
    if missing:
        return f"Kannel binaries missing: {', '.join(missing)}; install with: {INSTALL_COMMAND}"
    return None


def _wait(predicate: Callable[[], object], timeout: float, what: str, check: Callable[[], None] = lambda: None):
    deadline = time.monotonic() + timeout
    while True:
        check()
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _stop(proc: subprocess.Popen | None, timeout: float = 10.0) -> None:
    """Terminate a process started with start_new_session=True, with its whole process group."""
    if proc is None:
        return
    if proc.stdin:
        with contextlib.suppress(OSError):
            proc.stdin.close()
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout)


def _unquote(data: bytes) -> bytes:
    return urllib.parse.unquote_to_bytes(data.replace(b"+", b" "))


def _concatenation(udh: bytes) -> tuple[int, int, int] | None:
    """(reference, total, sequence) from a UDH's concatenation element, if it has one."""
    pos, end = 1, 1 + (udh[0] if udh else 0)
    while pos + 1 < min(end, len(udh)):
        iei, length = udh[pos], udh[pos + 1]
        value = udh[pos + 2 : pos + 2 + length]
        if iei == 0x00 and length == 3:
            return value[0], value[1], value[2]
        if iei == 0x08 and length == 4:
            return int.from_bytes(value[:2], "big"), value[2], value[3]
        pos += 2 + length
    return None


def _decode(kind: str, payloads: list[bytes]) -> str:
    data = b"".join(payloads)
    if kind == "udh":
        ucs2 = all(len(p) % 2 == 0 and len(p) <= UCS2_PART_BYTES for p in payloads)
        kind = "ucs-2" if ucs2 else "text"
    if kind == "ucs-2":
        return data.decode("utf-16-be", errors="replace")
    if kind == "data":
        return data.decode("latin-1")
    return data.decode("utf-8", errors="replace")


def parse_fakesmsc_log(raw: bytes) -> list[Sms]:
    """Every complete message in a fakesmsc receiver's output, in order of first arrival."""
    messages: dict[tuple, dict] = {}
    for number, line in enumerate(raw.splitlines()):
        match = _GOT.search(line)
        if not match:
            continue
        fields = match.group(1).split(b" ", 3)
        if len(fields) < 4:
            continue
        sender, receiver, kind, rest = fields[0].decode(), fields[1].decode(), fields[2].decode(), fields[3]
        if kind == "udh":
            udh_enc, _, data_enc = rest.partition(b" data ")
            udh = _unquote(udh_enc)
            concat = _concatenation(udh)
            payload = _unquote(data_enc)
        else:
            concat = None
            payload = rest if kind == "text" else _unquote(rest)
        if concat is None:
            key, total, seq = ("single", number), 1, 1
        else:
            ref, total, seq = concat
            key = (sender, receiver, ref, total)
            if key in messages and seq in messages[key]["parts"]:  # the reference was reused
                messages[("done", *key, number)] = messages.pop(key)
        entry = messages.setdefault(key, {"sender": sender, "receiver": receiver, "kind": kind, "total": total})
        entry.setdefault("parts", {})[seq] = payload
    result = []
    for entry in messages.values():
        parts = entry["parts"]
        if len(parts) == entry["total"]:
            text = _decode(entry["kind"], [parts[i] for i in sorted(parts)])
            result.append(Sms(entry["sender"], entry["receiver"], text, entry["total"]))
    return result


class Kannel:
    """bearerbox + smsbox + a fakesmsc carrier on free ports under ``workdir``; see the module doc."""

    def __init__(
        self, workdir: Path | str, mo_url: str, *, username: str = "xieshang", password: str = "sms-secret",
        log_level: int = 0,
    ):  # fmt: skip
        if '"' in mo_url or "\n" in mo_url:
            raise ValueError("mo_url must not contain quotes or newlines (it is a quoted Kannel config value)")
        self.workdir = Path(workdir)
        self.logs = self.workdir / "logs"
        self.mo_url = mo_url
        self.username = username
        self.password = password
        self.admin_password = "admin-secret"
        self.log_level = log_level  # Kannel's: 0 debug (what a failed test shows), 1 info, 2 warning
        self.ports: dict[str, int] = {}
        self._bearerbox: subprocess.Popen | None = None
        self._smsbox: subprocess.Popen | None = None
        self._carrier: subprocess.Popen | None = None
        self._reply_lock = threading.Lock()
        self._files: list = []

    def pids(self) -> list[int]:
        """bearerbox's, smsbox's and the carrier's, each the leader of its own process group."""
        return [proc.pid for proc in (self._bearerbox, self._smsbox, self._carrier) if proc is not None]

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self, timeout: float = 20.0) -> Kannel:
        reason = kannel_available()
        if reason:
            raise RuntimeError(reason)
        spool = self.workdir / "spool"
        self.logs.mkdir(parents=True, exist_ok=True)
        spool.mkdir(parents=True, exist_ok=True)
        self.ports = {name: free_port() for name in ("admin", "smsbox", "sendsms", "fake", "replies")}
        self.config = self.workdir / "kannel.conf"
        self.config.write_text(self.render(spool), encoding="utf-8")
        try:
            self._bearerbox = self._spawn("bearerbox", [BEARERBOX, "-v", "1", str(self.config)])
            self._wait_port("admin", timeout)
            self._wait_port("smsbox", timeout)
            self._smsbox = self._spawn("smsbox", [SMSBOX, "-v", "1", str(self.config)])
            self._wait_port("sendsms", timeout)
            self._carrier = self._spawn(
                "fakesmsc", [FAKESMSC, "-H", "127.0.0.1", "-r", str(self.ports["fake"]), "-m", "0"], stdin=True
            )
            _wait(lambda: self.smsc_online("fake"), timeout, "the fake SMSC to be online", self._check_alive)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for attr in ("_carrier", "_smsbox", "_bearerbox"):
            _stop(getattr(self, attr))
            setattr(self, attr, None)
        for handle in self._files:
            handle.close()
        self._files.clear()

    def __enter__(self) -> Kannel:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def render(self, spool: Path) -> str:
        template = string.Template(TEMPLATE.read_text(encoding="utf-8"))
        return template.substitute(
            admin_port=self.ports["admin"],
            admin_password=self.admin_password,
            smsbox_port=self.ports["smsbox"],
            sendsms_port=self.ports["sendsms"],
            fake_port=self.ports["fake"],
            replies_port=self.ports["replies"],
            log_level=self.log_level,
            log_dir=self.logs,
            spool_dir=spool,
            username=self.username,
            password=self.password,
            mo_url=self.mo_url,
        )

    def _spawn(self, name: str, argv: list[str], stdin: bool = False) -> subprocess.Popen:
        out = open(self.logs / f"{name}.out", "ab")  # closed in stop()
        self._files.append(out)
        return subprocess.Popen(
            argv,
            cwd=self.workdir,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _check_alive(self) -> None:
        for name, proc in (("bearerbox", self._bearerbox), ("smsbox", self._smsbox), ("fakesmsc", self._carrier)):
            if proc is not None and proc.poll() is not None:
                tail = (self.logs / f"{name}.out").read_bytes()[-2000:].decode(errors="replace")
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail}")

    def _wait_port(self, name: str, timeout: float) -> None:
        _wait(lambda: _port_open(self.ports[name]), timeout, f"Kannel's {name} port", self._check_alive)

    # -- bearerbox status ----------------------------------------------------------------------

    @property
    def sendsms_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['sendsms']}/cgi-bin/sendsms"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['admin']}"

    def status(self) -> str:
        """bearerbox's status.txt page."""
        query = urllib.parse.urlencode({"password": self.admin_password})
        with urllib.request.urlopen(f"{self.admin_url}/status.txt?{query}", timeout=5) as response:
            return response.read().decode("utf-8", errors="replace")

    def _smsc_line(self, smsc_id: str) -> str:
        for line in self.status().splitlines():
            if line.strip().startswith(f"{smsc_id}[{smsc_id}]"):
                return line
        return ""

    def smsc_online(self, smsc_id: str) -> bool:
        return "(online" in self._smsc_line(smsc_id)

    def smsc_received(self, smsc_id: str) -> int:
        """How many MOs bearerbox got from an SMSC connection."""
        match = re.search(r"rcvd: sms (\d+)", self._smsc_line(smsc_id))
        return int(match.group(1)) if match else 0

    # -- traffic -------------------------------------------------------------------------------

    def send(self, receiver: str, text: str | bytes, *, sender: str = SERVICE_NUMBER, **params: str) -> tuple[int, str]:
        """sendsms with the recommended encoding for Chinese (UTF-8 text, coding=2); (status, body).

        ``text`` as bytes is sent url-encoded as is (e.g. UTF-16BE with ``charset="UTF-16BE"``).
        """
        query = {
            "username": self.username,
            "password": self.password,
            "from": sender,
            "to": receiver,
            "text": text,
            "charset": "UTF-8",
            "coding": "2",
            **params,
        }
        url = f"{self.sendsms_url}?{urllib.parse.urlencode(query)}"
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode("utf-8", errors="replace")

    def received(self) -> list[Sms]:
        """Every complete message the carrier (fakesmsc) got so far, in order of arrival."""
        log = self.logs / "fakesmsc.out"
        return parse_fakesmsc_log(log.read_bytes()) if log.exists() else []

    def wait_for(self, count: int, timeout: float = 15.0) -> list[Sms]:
        """Wait until the carrier got at least ``count`` complete messages; return them all."""
        return _wait(
            lambda: (messages := self.received()) and len(messages) >= count and messages,
            timeout,
            f"{count} SMS at the carrier (got {len(self.received())})",
            self._check_alive,
        )

    def reply(self, sender: str, text: str, receiver: str = SERVICE_NUMBER, timeout: float = 15.0) -> None:
        """A resident's reply (MO): hand it to bearerbox through the ``replies`` SMSC.

        Returns once bearerbox counted it as received; smsbox then calls ``mo_url`` on its own.
        """
        if text and text.isascii() and text.isprintable():
            line = f"{sender} {receiver} text {text}"
        else:
            line = f"{sender} {receiver} ucs2 {urllib.parse.quote_from_bytes(text.encode('utf-16-be'), safe='')}"
        # The fake SMSC serves one client at a time: one injector after the other.
        with self._reply_lock:
            before = self.smsc_received("replies")
            port = str(self.ports["replies"])
            injector = self._spawn("reply", [FAKESMSC, "-H", "127.0.0.1", "-r", port, "-m", "1", line], stdin=True)
            try:
                _wait(lambda: self.smsc_received("replies") > before, timeout, f"bearerbox to receive MO {line!r}")
            finally:
                _stop(injector)
