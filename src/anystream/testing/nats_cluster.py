"""A real ``nats-server`` cluster on loopback: nodes to kill, restart and put in lame duck.

Synchronous, like :class:`~anystream.testing.NatsServer`, for fixtures, scripts and demos.
Each node has its own client, cluster (route) and monitoring port, picked free once and
kept across restarts, and its own JetStream store, so a restarted node rejoins with its
data::

    with NatsCluster(3) as cluster:
        url = cluster.url                  # "nats://127.0.0.1:p1,nats://127.0.0.1:p2,..."
        leader = cluster.wait_stream_ready("ORDERS", replicas=3)  # node index
        cluster.kill(leader)               # SIGKILL, as a crash would
        cluster.start_node(leader)         # back: same ports, same store; waits for routes
        cluster.lame_duck(1)               # nats-server --signal ldm=<pid>
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from .nats_server import _wait_port, free_port, nats_server_binary

__all__ = ("ClusterNode", "NatsCluster")


class ClusterNode:
    """One ``nats-server`` of a :class:`NatsCluster`; ports and store kept across restarts."""

    def __init__(self, cluster: NatsCluster, index: int) -> None:
        self.index = index
        self.name = f"n{index + 1}"
        self.host = cluster.host
        self.port = free_port(self.host)
        self.cluster_port = free_port(self.host)
        self.monitor_port = free_port(self.host)
        self.store = Path(cluster.root) / self.name
        self.config_path = Path(cluster.root) / f"{self.name}.conf"
        self.log_path = Path(cluster.root) / f"{self.name}.log"
        self._cluster = cluster
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def monitor_url(self) -> str:
        return f"http://{self.host}:{self.monitor_port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.running and self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _config(self) -> str:
        routes = ", ".join(
            f'"nats://{n.host}:{n.cluster_port}"' for n in self._cluster.nodes if n is not self
        )
        c = self._cluster
        return "\n".join(
            [
                f'server_name: "{self.name}"',
                f'listen: "{self.host}:{self.port}"',
                f'http: "{self.host}:{self.monitor_port}"',
                f'lame_duck_duration: "{c.lame_duck_duration}s"',
                f'lame_duck_grace_period: "{c.lame_duck_grace_period}s"',
                *([f'jetstream {{ store_dir: "{self.store}" }}'] if c.jetstream else []),
                "cluster {",
                f'  name: "{c.name}"',
                f'  listen: "{self.host}:{self.cluster_port}"',
                f"  routes: [{routes}]",
                "}",
                "",
            ]
        )

    def start(self, timeout: float = 10.0) -> ClusterNode:
        if self.running:
            return self
        self.config_path.write_text(self._config())
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [nats_server_binary(), "-c", str(self.config_path)],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        if not _wait_port(self.host, self.port, timeout):
            self.kill()
            raise RuntimeError(f"nats-server {self.name} did not listen on {self.url}")
        return self

    def kill(self) -> None:
        """SIGKILL: the node dies at once, as in a crash."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout``."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def lame_duck(self) -> None:
        """Enter lame duck mode (``nats-server --signal ldm=<pid>``): clients are told to
        move, the listener closes, JetStream stops on this node; it exits after the
        cluster's ``lame_duck_duration``."""
        if self._proc is None or self._proc.poll() is not None:
            raise RuntimeError(f"{self.name} is not running")
        subprocess.run(
            [nats_server_binary(), "--signal", f"ldm={self._proc.pid}"],
            check=True,
            capture_output=True,
            timeout=10,
        )

    def wait_exit(self, timeout: float) -> bool:
        """Wait until the process exits (after lame duck); ``False`` if still running."""
        proc = self._proc
        if proc is None:
            return True
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        self._proc = None
        return True

    def monitor(self, path: str, timeout: float = 2.0) -> dict[str, Any]:
        """GET ``path`` (``/varz``, ``/jsz?consumers=true``...) from the monitoring port."""
        with urllib.request.urlopen(f"{self.monitor_url}{path}", timeout=timeout) as response:
            data: dict[str, Any] = json.loads(response.read())
            return data

    def client_names(self) -> list[str]:
        """Names of the clients connected to this node now (``/connz``)."""
        return [str(c.get("name", "")) for c in self.monitor("/connz?limit=1024")["connections"]]

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"ClusterNode({self.name}, {self.url}, {state}, pid={self.pid})"


class NatsCluster:
    """``size`` ``nats-server`` nodes on loopback routed into one cluster, JetStream on.

    ``url`` lists every node's client URL, comma-separated (what an app configures);
    ``urls`` is the same as a list. Nodes are addressed by index (``cluster.kill(0)``,
    ``cluster.nodes[0].lame_duck()``). nats-server refuses a ``lame_duck_duration``
    under 30 s; ``lame_duck_grace_period`` (how long it waits before it starts closing
    clients) is 1 s here. Stores live under one temporary folder, removed by :meth:`close`.
    """

    def __init__(
        self,
        size: int = 3,
        *,
        host: str = "127.0.0.1",
        jetstream: bool = True,
        name: str = "anystream",
        lame_duck_duration: float = 30.0,
        lame_duck_grace_period: float = 1.0,
    ) -> None:
        if size < 1:
            raise ValueError(f"a cluster needs at least one node, got {size}")
        self.host = host
        self.jetstream = jetstream
        self.name = name
        self.lame_duck_duration = lame_duck_duration
        self.lame_duck_grace_period = lame_duck_grace_period
        self.root = tempfile.mkdtemp(prefix="anystream-cluster-")
        self.nodes = [ClusterNode(self, i) for i in range(size)]

    @property
    def urls(self) -> list[str]:
        return [n.url for n in self.nodes]

    @property
    def url(self) -> str:
        return ",".join(self.urls)

    def start(self, timeout: float = 30.0) -> NatsCluster:
        """Start every node; return once routes are up and JetStream has a meta leader."""
        for node in self.nodes:
            node.start()
        self.wait_formed(timeout)
        return self

    def start_node(self, index: int, timeout: float = 30.0) -> ClusterNode:
        """(Re)start one node and wait until it is routed to the others again."""
        node = self.nodes[index].start()
        self.wait_formed(timeout)
        return node

    def kill(self, index: int) -> None:
        self.nodes[index].kill()

    def lame_duck(self, index: int) -> None:
        self.nodes[index].lame_duck()

    def running(self) -> list[ClusterNode]:
        return [n for n in self.nodes if n.running]

    def wait_formed(self, timeout: float = 30.0) -> None:
        """Until each running node routes to every other running node and (JetStream)
        reports a meta leader with every running node a current peer."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                if self._formed():
                    return
            except (OSError, urllib.error.URLError, ValueError, KeyError) as exc:
                last = repr(exc)
            time.sleep(0.2)
        raise TimeoutError(f"cluster did not form within {timeout} s {last}")

    def _formed(self) -> bool:
        up = self.running()
        names = {n.name for n in up}
        for node in up:
            routez = node.monitor("/routez")
            if {r.get("remote_name") for r in routez.get("routes", [])} < names - {node.name}:
                return False
            if self.jetstream:
                meta = node.monitor("/jsz").get("meta_cluster", {})
                if not meta.get("leader"):
                    return False
                if meta["leader"] == node.name:
                    # Only the leader knows whether every follower is current.
                    replicas = meta.get("replicas") or []
                    current = {r["name"] for r in replicas if r.get("current")}
                    if not names - {node.name} <= current:
                        return False
        return True

    def stream_info(self, stream: str) -> dict[str, Any] | None:
        """The stream's entry in its leader's ``/jsz`` (cluster leader, replicas); ``None``
        while no running node leads it."""
        for node in self.running():
            try:
                jsz = node.monitor("/jsz?streams=true&consumers=true&raft=true")
            except (OSError, urllib.error.URLError):
                continue
            for account in jsz.get("account_details", []):
                for entry in account.get("stream_detail", []):
                    # The leader's view: only it knows whether its followers are current.
                    leader = entry.get("cluster", {}).get("leader")
                    if entry.get("name") == stream and leader == node.name:
                        result: dict[str, Any] = entry
                        return result
        return None

    def stream_leader(self, stream: str) -> int | None:
        """Index of the node leading ``stream`` now, or ``None`` (no leader known)."""
        info = self.stream_info(stream)
        if info is None:
            return None
        leader = info["cluster"]["leader"]
        return next((n.index for n in self.nodes if n.name == leader), None)

    def wait_stream_ready(
        self, stream: str, *, replicas: int | None = None, timeout: float = 30.0
    ) -> int:
        """Until ``stream`` has a leader and ``replicas - 1`` current followers; the leader."""
        deadline = time.monotonic() + timeout
        want = (replicas or len(self.running())) - 1
        while time.monotonic() < deadline:
            info = self.stream_info(stream)
            if info is not None:
                followers = info["cluster"].get("replicas") or []
                current = [r for r in followers if r.get("current") and not r.get("offline")]
                leader = self.stream_leader(stream)
                if leader is not None and len(current) >= want:
                    return leader
            time.sleep(0.2)
        raise TimeoutError(f"stream {stream} not ready within {timeout} s")

    def node_of_client(self, name: str) -> int | None:
        """Index of the running node a client named ``name`` is connected to now."""
        for node in self.running():
            try:
                if name in node.client_names():
                    return node.index
            except (OSError, urllib.error.URLError):
                continue
        return None

    def close(self) -> None:
        for node in self.nodes:
            node.kill()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> NatsCluster:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"NatsCluster({', '.join(repr(n) for n in self.nodes)})"
