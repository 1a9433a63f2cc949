"""A key pair and self-signed certificate, generated once into a folder and reused."""

from __future__ import annotations

import datetime as dt
import fcntl
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def ensure_keypair(key_path: Path, cert_path: Path, common_name: str) -> None:
    """Create an RSA-2048 key and a 10-year self-signed certificate unless both exist.

    Reusing them keeps metadata stable across restarts, so a partner configured once keeps
    trusting it. Several gunicorn workers start at once: one generates, the others wait.
    """
    key_path.parent.mkdir(parents=True, exist_ok=True)
    with open(key_path.parent / ".keypair.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (key_path.is_file() and cert_path.is_file()):
            _generate(key_path, cert_path, common_name)


def _generate(key_path: Path, cert_path: Path, common_name: str) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_bytes = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key_bytes)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
