"""A throwaway ``redis-server`` on a free loopback port, for tests, the demo and benchmarks.

    with RedisServer() as server:
        app = RqStream(server.url)

``kill()`` sends SIGKILL; ``start()`` again reuses the same port and directory, so with
``appendonly=True`` the data survives a crash the way it would in production.

``RedisServer(tls=make_tls_files(directory))`` serves TLS only (``rediss://``), with a private
CA that :func:`make_tls_files` makes with ``openssl``; ``tls_auth_clients="yes"`` asks clients
for a certificate signed by that CA (mutual TLS).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal
from urllib.parse import quote, urlencode


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found is None:
        raise RuntimeError(
            "redis-server is not installed: `apt-get install redis-server` (Debian/Ubuntu) or "
            "`brew install redis` (macOS)"
        )
    return found


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """A private CA and the certificates it signed (PEM files, keys unencrypted)."""

    ca_cert: Path
    server_cert: Path
    """For ``127.0.0.1`` and ``localhost``."""
    server_key: Path
    client_cert: Path
    client_key: Path


_LEAF = (
    "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
    "authorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n"
)


def make_tls_files(directory: str | Path, name: str = "rq_stream test") -> TlsFiles:
    """A throwaway CA, a server certificate and a client certificate, made with ``openssl``."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def openssl(*args: str | Path) -> None:
        subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=30)

    ca_cert, ca_key = d / "ca.crt", d / "ca.key"
    openssl("req", "-x509", "-new", *ec, "-keyout", ca_key, "-out", ca_cert, "-days", "2",
            "-subj", f"/CN={name} CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    for leaf, ext in [
        ("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"),
        ("client", "extendedKeyUsage=clientAuth\n"),
    ]:
        (d / f"{leaf}.ext").write_text(_LEAF + ext)
        openssl("req", "-new", *ec, "-keyout", d / f"{leaf}.key", "-out", d / f"{leaf}.csr",
                "-subj", f"/CN={name} {leaf}")  # fmt: skip
        openssl("x509", "-req", "-in", d / f"{leaf}.csr", "-CA", ca_cert, "-CAkey", ca_key,
                "-CAcreateserial", "-out", d / f"{leaf}.crt", "-days", "2",
                "-extfile", d / f"{leaf}.ext")  # fmt: skip
    return TlsFiles(ca_cert, d / "server.crt", d / "server.key", d / "client.crt", d / "client.key")


class RedisServer:
    def __init__(
        self,
        port: int | None = None,
        *,
        appendonly: bool = False,
        extra_args: list[str] | None = None,
        directory: str | None = None,
        tls: TlsFiles | None = None,
        tls_auth_clients: Literal["yes", "no", "optional"] = "no",
    ) -> None:
        self.port = port or free_port()
        self.appendonly = appendonly
        self.extra_args = extra_args or []
        self.tls = tls
        self.tls_auth_clients = tls_auth_clients
        self._own_dir = directory is None
        self.dir = Path(directory or tempfile.mkdtemp(prefix="rq_stream-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """A URL that works: for TLS, ``rediss://`` trusting the CA (and presenting the client
        certificate when the server asks for one)."""
        if self.tls is None:
            return f"redis://127.0.0.1:{self.port}/0"
        options = {"ssl_ca_certs": str(self.tls.ca_cert)}
        if self.tls_auth_clients == "yes":
            options["ssl_certfile"] = str(self.tls.client_cert)
            options["ssl_keyfile"] = str(self.tls.client_key)
        return f"rediss://127.0.0.1:{self.port}/0?{urlencode(options, safe='/', quote_via=quote)}"

    def _listen_args(self) -> list[str]:
        if self.tls is None:
            return ["--port", str(self.port)]
        t = self.tls
        return ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(t.server_cert),
                "--tls-key-file", str(t.server_key), "--tls-ca-cert-file", str(t.ca_cert),
                "--tls-auth-clients", self.tls_auth_clients]  # fmt: skip

    def start(self, timeout_s: float = 10.0) -> RedisServer:
        args = [
            redis_server_binary(),
            *self._listen_args(),
            "--bind", "127.0.0.1",
            "--dir", str(self.dir),
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "always" if self.appendonly else "everysec",
            "--maxmemory-policy", "noeviction",
            "--logfile", str(self.dir / "redis.log"),
            "--daemonize", "no",
            *self.extra_args,
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = (self.dir / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server exited at start-up:\n{log}")
            if self.ping():
                return self
            time.sleep(0.02)
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as raw:
                s = raw if self.tls is None else self._tls_context().wrap_socket(raw)
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith((b"+PONG", b"-NOAUTH"))
        except OSError:
            return False

    def _tls_context(self) -> ssl.SSLContext:
        assert self.tls is not None
        context = ssl.create_default_context(cafile=str(self.tls.ca_cert))
        context.check_hostname = False
        context.load_cert_chain(str(self.tls.client_cert), str(self.tls.client_key))
        return context

    def kill(self) -> None:
        """SIGKILL: no shutdown save, clients see their connections drop."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def close(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
