"""TLS for the optional second listener (clients.md §1: cryptofeed only connects to wss://).

``ensure_self_signed(data_dir)`` writes ``cert.pem`` and ``key.pem`` into the data directory on
first use — a self-signed certificate for ``127.0.0.1`` and ``localhost`` (subjectAltName with
an IP entry, which clients need to verify an IP host) — and reuses them afterwards, so a client
that was told to trust the certificate keeps trusting it across restarts. The key is written
with mode 0600. The certificate is made by the ``openssl`` command (present on practically every
system), which keeps venue free of a compiled crypto dependency.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
from pathlib import Path

CERT_FILE = "cert.pem"
KEY_FILE = "key.pem"
_VALID_DAYS = 825  # the longest validity Apple clients accept for a TLS server certificate


class TlsError(RuntimeError):
    """A certificate that cannot be made or loaded, with the reason in words."""


def ensure_self_signed(data_dir: Path) -> tuple[Path, Path]:
    """(cert, key) paths in ``data_dir``, created once as a self-signed pair."""
    cert, key = data_dir / CERT_FILE, data_dir / KEY_FILE
    if cert.exists() and key.exists():
        return cert, key
    openssl = shutil.which("openssl")
    if openssl is None:
        raise TlsError("--self-signed needs the openssl command; or pass --tls-cert and --tls-key")
    data_dir.mkdir(parents=True, exist_ok=True)
    command = [
        openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-keyout", str(key), "-out", str(cert), "-days", str(_VALID_DAYS),
        "-subj", "/CN=venue local exchange",
        "-addext", "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost",
    ]  # fmt: skip
    old_umask = os.umask(0o077)  # the key is never readable by others, not even for a moment
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    finally:
        os.umask(old_umask)
    if result.returncode != 0:
        raise TlsError(f"openssl could not make a certificate: {result.stderr.strip()}")
    os.chmod(key, 0o600)
    return cert, key


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server-side TLS context for the given PEM certificate chain and key."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise TlsError(f"cannot load TLS certificate {cert} / key {key}: {exc}") from exc
    return context
