"""A TCP relay between clients and a redis-server that a test can cut (connections reset, new
ones refused) or stall (bytes held back, as on a dead link), then heal."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time

RESET = struct.pack("ii", 1, 0)


class NetProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._server.getsockname()[1])
        self._open = threading.Event()
        self._open.set()
        self._flowing = threading.Event()
        self._flowing.set()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if not self._open.is_set():
                client.close()  # the link is down: refused
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                while not self._flowing.wait(0.05):
                    pass
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.close()

    def cut(self) -> None:
        """Reset every relayed connection and refuse new ones until ``heal``."""
        self._open.clear()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET)  # close with RST
                sock.close()

    def stall(self) -> None:
        """Hold every byte back (connections stay open, nothing answers) until ``heal``."""
        self._flowing.clear()

    def heal(self) -> None:
        self._open.set()
        self._flowing.set()

    def close(self) -> None:
        self.cut()
        self._server.close()
        time.sleep(0.05)
