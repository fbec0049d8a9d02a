"""TLS in front of the plain-HTTP test servers: a CA and a certificate for one name, and a relay terminating TLS,
as a real API server's listener would.

cryptography (a dev dependency) is imported with this module, when test modules are collected: imported again
inside a test, after pytester restored sys.modules, its classes would not match those of its compiled core.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def certificates(directory: Path, name: str) -> tuple[Path, Path, Path]:
    """A CA and a server certificate valid for `name` only (not 127.0.0.1): (ca, cert, key)."""
    now = datetime.now(UTC)

    def issue(subject: str, key: Any, issuer: str, signer: Any, ca: bool) -> Any:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_cert = issue("test-ca", ca_key, "test-ca", ca_key, True)
    server_cert = issue(name, server_key, "test-ca", ca_key, False)
    paths = directory / "ca.crt", directory / "server.crt", directory / "server.key"
    paths[0].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


class TlsFront:
    """Terminates TLS in front of the plain-HTTP test server, as a real API server's listener would.

    cryptography (a dev dependency) is imported with this module, when test modules are collected: imported again
    inside a test, after pytester restored sys.modules, its classes would not match those of its compiled core.
    """

    def __init__(self, upstream: int, cert: Path, key: Path) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.listener.accept()
                self.connections.append(conn)
                threading.Thread(target=self._relay, args=(conn,), daemon=True).start()

    def _relay(self, conn: socket.socket) -> None:
        # One thread per connection: an SSLSocket must not be read and written from two threads at once.
        with contextlib.suppress(OSError, ssl.SSLError):
            conn.settimeout(5)
            with (
                self.context.wrap_socket(conn, server_side=True) as tls,
                socket.create_connection(("127.0.0.1", self.upstream), timeout=5) as plain,
            ):
                while True:
                    readable = [tls] if tls.pending() else select.select([tls, plain], [], [], 5)[0]
                    if not readable:
                        return
                    for source, sink in ((tls, plain), (plain, tls)):
                        if source in readable:
                            data = source.recv(1 << 16)
                            if not data:
                                return
                            sink.sendall(data)

    def close(self) -> None:
        self.listener.close()
        for conn in self.connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
