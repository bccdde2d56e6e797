"""The phone vault (an infrastructure adapter): contact phone numbers at rest, AES-256-GCM ciphertext
plus an HMAC-SHA256 look-up hash.

The key material is ``XIESHANG_NOTIFY_PHONE_KEY`` (base64 of 32 bytes). Where it is unset (the
embedded default), a per-installation key is kept in ``<data dir>/keys/notify-phone.key``, created
with mode 0600 on first use; back it up with the database, or the numbers cannot be read again.

Two sub-keys are derived from the key material with HKDF-SHA256 (one for encryption, one for the
hash), so the hash never reuses the encryption key. The ciphertext is ``nonce (12 bytes) || AES-GCM
output`` with the contact's id as associated data, so a ciphertext moved to another row does not
decrypt. The hash (hex) finds a number and keeps it unique per community without decrypting; it is
all that is kept of a removed contact's number (its opt-outs are remembered, see ``domain``).

Numbers are shown only masked (``138****1234``) and never logged or put in events.

A third sub-key signs the URLs SMS providers call back (delivery reports, replies): a provider
cannot present a token, so each URL carries an HMAC of what it may report on (``sign``).

Rotation: with ``XIESHANG_NOTIFY_PHONE_KEY_PREVIOUS`` set to the key being retired, everything new
is written under the current key; a ciphertext is read under the current key, else the previous one
(AES-GCM's tag tells which: no guessing), a number is looked up under both hashes (``digests``) and
a callback URL signed with either is accepted, until ``xieshang contacts rekey`` has moved every
stored ciphertext and hash to the current key (``services.notify.rekey``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import threading
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PHONE = re.compile(r"^1[3-9]\d{9}$")
KEY_FILE = Path("keys") / "notify-phone.key"


def valid(phone: str) -> bool:
    return bool(PHONE.fullmatch(phone))


def mask(phone: str | None) -> str | None:
    """138****1234; None for an erased number."""
    if not phone:
        return None
    return f"{phone[:3]}****{phone[-4:]}"


def _subkey(material: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"xieshang.notify.phone." + purpose).derive(
        material
    )


class _Keys:
    """The three sub-keys of one key material."""

    def __init__(self, material: bytes):
        if len(material) != 32:
            raise ValueError("the phone key must be 32 bytes")
        self.aead = AESGCM(_subkey(material, b"encrypt"))
        self.mac = _subkey(material, b"lookup")
        self.callback = _subkey(material, b"callback")

    def decrypt(self, blob: bytes, contact_id: str) -> str:
        return self.aead.decrypt(bytes(blob[:12]), bytes(blob[12:]), contact_id.encode()).decode()

    def digest(self, phone: str) -> str:
        return hmac.new(self.mac, phone.encode(), hashlib.sha256).hexdigest()

    def sign(self, subject: str) -> str:
        return hmac.new(self.callback, subject.encode(), hashlib.sha256).hexdigest()[:32]


class PhoneVault:
    def __init__(self, material: bytes, previous: bytes | None = None):
        self._current = _Keys(material)
        self._previous = _Keys(previous) if previous and previous != material else None

    @property
    def rotating(self) -> bool:
        """A previous key is configured: what it wrote is still read and matched."""
        return self._previous is not None

    def encrypt(self, phone: str, contact_id: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._current.aead.encrypt(nonce, phone.encode(), contact_id.encode())

    def decrypt(self, blob: bytes, contact_id: str) -> str:
        try:
            return self._current.decrypt(blob, contact_id)
        except InvalidTag:
            if self._previous is None:
                raise
            return self._previous.decrypt(blob, contact_id)

    def reading(self, blob: bytes, contact_id: str) -> tuple[str, bool] | None:
        """The number and whether the current key wrote it; None when neither key opens it."""
        for keys in (self._current, self._previous):
            if keys is not None:
                try:
                    return keys.decrypt(blob, contact_id), keys is self._current
                except InvalidTag:
                    continue
        return None

    def digest(self, phone: str) -> str:
        """The number's look-up hash under the current key: the one written."""
        return self._current.digest(phone)

    def digests(self, phone: str) -> tuple[str, ...]:
        """The hashes a number may be stored under: the current key's first, then the previous key's
        while a rotation is under way (rows ``rekey`` has not reached yet)."""
        if self._previous is None:
            return (self._current.digest(phone),)
        return self._current.digest(phone), self._previous.digest(phone)

    def sign(self, subject: str) -> str:
        """The signature of a callback URL about ``subject`` (e.g. ``report:<message id>``)."""
        return self._current.sign(subject)

    def verify(self, subject: str, signature: str | None) -> bool:
        """Signed with the current key, or the previous one during a rotation (URLs given out before)."""
        if not signature:
            return False
        keys = (self._current,) if self._previous is None else (self._current, self._previous)
        return any(hmac.compare_digest(k.sign(subject).encode(), signature.encode()) for k in keys)  # bytes: any text


def _key_file_material(path: Path) -> bytes:
    """Read the installation's key file, creating it (0600, exclusively) on first use."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as handle:
            handle.write(base64.b64encode(os.urandom(32)).decode() + "\n")
    material = base64.b64decode(path.read_text().strip())
    if len(material) != 32:
        raise ValueError(f"{path} does not hold the base64 of 32 bytes")
    return material


_vaults: dict[tuple, PhoneVault] = {}
_lock = threading.Lock()


def vault_for(settings) -> PhoneVault:
    """The vault of these settings (the configured key, else the installation's key file; and the
    previous key during a rotation)."""
    configured, previous = settings.notify_phone_key, settings.notify_phone_key_previous
    source = ("key", configured) if configured else ("file", (Path(settings.data_dir) / KEY_FILE).resolve())
    with _lock:
        if (source, previous) not in _vaults:
            _vaults[source, previous] = PhoneVault(configured or _key_file_material(source[1]), previous)
        return _vaults[source, previous]
