"""The gateway's token signing keys: RSA key pairs named by key id, newest one signs.

Keys live as PEM files in one directory (a Kubernetes secret or volume). Rotation without
downtime: add a new key (``xieshang keys rotate``); it signs new tokens while the old public keys
stay published and accepted until the old files are removed after the longest token lifetime.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm


@dataclass(frozen=True)
class SigningKey:
    kid: str
    public_pem: bytes
    # Parsed once: loading an RSA private key costs tens of milliseconds (it is validated).
    private_key: rsa.RSAPrivateKey | None = None

    def jwk(self) -> dict:
        public = serialization.load_pem_public_key(self.public_pem)
        data = json.loads(RSAAlgorithm.to_jwk(public))
        data.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return data


class KeyStore:
    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self._cache: tuple[tuple, list[SigningKey]] | None = None

    def _files(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob("*.pem"))

    def keys(self) -> list[SigningKey]:
        """Every key in the directory, oldest first; parsed again only when the files change."""
        files = self._files()
        stamp = tuple((path.name, path.stat().st_mtime_ns) for path in files)
        if self._cache is not None and self._cache[0] == stamp:
            return self._cache[1]
        out = []
        for path in files:
            pem = path.read_bytes()
            if b"PRIVATE KEY" in pem:
                private = serialization.load_pem_private_key(pem, password=None)
                public_pem = private.public_key().public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
                out.append(SigningKey(path.stem, public_pem, private))
            else:
                out.append(SigningKey(path.stem, pem))
        self._cache = (stamp, out)
        return out

    def public_keys(self) -> dict[str, bytes]:
        return {key.kid: key.public_pem for key in self.keys()}

    def current(self) -> SigningKey:
        """The newest private key (file names sort by creation time); created if there is none."""
        private = [key for key in self.keys() if key.private_key]
        return private[-1] if private else self.rotate()

    def rotate(self) -> SigningKey:
        self.directory.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        kid = time.strftime("%Y%m%dT%H%M%S") + f"-{os.urandom(3).hex()}"
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        path = self.directory / f"{kid}.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        return next(k for k in self.keys() if k.kid == kid)
