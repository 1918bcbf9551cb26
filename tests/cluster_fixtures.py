"""Real local Redis Clusters and Sentinel setups for tests, built from ``redis-server`` processes.

with LocalCluster(masters=3) as cluster:      # cluster.url: redis+cluster://127.0.0.1:P1,...
    ...
with LocalSentinel() as s:                    # one master, one replica, three sentinels
    s.kill_master(); s.wait_failover()        # s.url: redis+sentinel://.../mymaster
"""

from __future__ import annotations

import contextlib
import random
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Collection
from pathlib import Path
from types import TracebackType

from rq_stream.testing import RedisServer, free_port


def command(port: int, *args: str, timeout_s: float = 2.0) -> str:
    """One command over redis-cli, its reply as text ("" when the server does not answer)."""
    cli = shutil.which("redis-cli") or "redis-cli"
    try:
        done = subprocess.run(
            [cli, "-h", "127.0.0.1", "-p", str(port), *args],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return ""
    return done.stdout


def cluster_port(taken: Collection[int] = ()) -> int:
    """A free port P with P + 10000 free too (the cluster bus), both at most 65535."""
    for _ in range(200):
        port = random.randint(20000, 55000)
        if {port, port + 10000} & {p + d for p in taken for d in (0, 10000)}:
            continue
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10000))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


def wait_for(what: str, check: object, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out after {timeout_s} s waiting for {what}")


class LocalCluster:
    """``masters`` cluster-enabled redis-servers joined with ``redis-cli --cluster create``."""

    def __init__(self, masters: int = 3) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="rq_stream-cluster-"))
        self.servers: list[RedisServer] = []
        for _ in range(masters):
            port = cluster_port(taken=[s.port for s in self.servers])
            node_dir = self.dir / str(port)
            node_dir.mkdir()
            conf = str(node_dir / "nodes.conf")
            bus = ["--cluster-enabled", "yes", "--cluster-config-file", conf,
                   "--cluster-node-timeout", "2000"]  # fmt: skip
            self.servers.append(RedisServer(port, directory=str(node_dir), extra_args=bus))

    @property
    def ports(self) -> list[int]:
        return [s.port for s in self.servers]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports) + "/"

    def start(self) -> LocalCluster:
        for server in self.servers:
            server.start()
        cli = shutil.which("redis-cli") or "redis-cli"
        nodes = [f"127.0.0.1:{p}" for p in self.ports]
        subprocess.run(
            [cli, "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True,
            check=True,
            timeout=30,
        )
        wait_for("cluster_state:ok on every node", self.ok, 30)
        return self

    def ok(self) -> bool:
        return all("cluster_state:ok" in command(p, "CLUSTER", "INFO") for p in self.ports)

    def close(self) -> None:
        for server in self.servers:
            server.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class LocalSentinel:
    """A master, one replica and three sentinels watching ``service`` (fast failover settings)."""

    def __init__(self, service: str = "mymaster", down_after_ms: int = 1000) -> None:
        self.service = service
        self.down_after_ms = down_after_ms
        self.dir = Path(tempfile.mkdtemp(prefix="rq_stream-sentinel-"))
        self.master = RedisServer(directory=str(self._sub("master")))
        self.link = LinkProxy(self.master.port)
        """The replica replicates through this relay, so a test can partition them."""
        self.replica = RedisServer(
            directory=str(self._sub("replica")),
            extra_args=["--replicaof", "127.0.0.1", str(self.link.port)],
        )
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.sentinels: list[subprocess.Popen[bytes]] = []

    def _sub(self, name: str) -> Path:
        path = self.dir / name
        path.mkdir()
        return path

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{self.service}/0"

    def start(self) -> LocalSentinel:
        self.master.start()
        self.replica.start()
        wait_for("the replica to sync", self._replica_synced, 20)
        binary = shutil.which("redis-server") or "redis-server"
        for port in self.sentinel_ports:
            directory = self._sub(f"sentinel-{port}")
            conf = directory / "sentinel.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {directory}\n"
                f"logfile {directory / 'sentinel.log'}\n"
                f"sentinel monitor {self.service} 127.0.0.1 {self.master.port} 2\n"
                f"sentinel down-after-milliseconds {self.service} {self.down_after_ms}\n"
                f"sentinel failover-timeout {self.service} 3000\n"
                f"sentinel parallel-syncs {self.service} 1\n"
            )
            self.sentinels.append(
                subprocess.Popen(
                    [binary, str(conf), "--sentinel"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        wait_for("sentinels to see the replica", self._sentinels_ready, 20)
        return self

    def _replica_synced(self) -> bool:
        return "master_link_status:up" in command(self.replica.port, "INFO", "replication")

    def _sentinels_ready(self) -> bool:
        for port in self.sentinel_ports:
            reply = command(port, "SENTINEL", "REPLICAS", self.service)
            if str(self.replica.port) not in reply:
                return False
            if "num-other-sentinels\n2" not in command(port, "SENTINEL", "MASTER", self.service):
                return False
        return True

    def master_port(self) -> int:
        """The master's port as the first answering sentinel sees it."""
        for port in self.sentinel_ports:
            lines = command(port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service).split()
            if len(lines) == 2:
                return int(lines[1])
        return -1

    def kill_master(self) -> None:
        """SIGKILL the master and cut its replication link (what a partition does: whatever
        the relay held back never reaches the replica)."""
        self.master.kill()
        self.link.close()

    def rejoin_old_master(self) -> None:
        """Restart the killed master (empty) as a replica of the promoted one, as the sentinels
        would within ~10 s; the promoted master has a replica to WAIT for again."""
        self.master.extra_args = ["--replicaof", "127.0.0.1", str(self.replica.port)]
        self.master.start()

    def wait_failover(self, timeout_s: float = 30) -> None:
        wait_for("sentinels to promote the replica", self._promoted, timeout_s)

    def _promoted(self) -> bool:
        return self.master_port() == self.replica.port and "role:master" in command(
            self.replica.port, "INFO", "replication"
        )

    def close(self) -> None:
        for proc in self.sentinels:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
        self.link.close()
        self.replica.close()
        self.master.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> LocalSentinel:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class LinkProxy:
    """A TCP relay from a replica to its master that a test can ``freeze`` (bytes from the
    master are dropped from then on, as in a network partition) and ``close``."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.frozen = threading.Event()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._server.getsockname()[1])
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                replica, _ = self._server.accept()
            except OSError:
                return  # closed
            try:
                master = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:  # the master is gone: the replica retries on its own
                replica.close()
                continue
            master.settimeout(None)
            self._sockets += [replica, master]
            threading.Thread(target=self._pump, args=(master, replica, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(replica, master, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, from_master: bool) -> None:
        try:
            while data := src.recv(65536):
                if not (from_master and self.frozen.is_set()):
                    dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            sock.close()

    def freeze(self) -> None:
        self.frozen.set()

    def close(self) -> None:
        self.frozen.set()
        self._server.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
