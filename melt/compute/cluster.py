"""Start or join the Ray cluster of `compute.engine: ray`.

`compute.ray_address: null` starts Ray on this machine, listening on loopback only; `auto` joins the cluster this
machine is part of (`ray start`); `host:port` (or `ray://host:port`) joins that head node. An address where nothing
answers fails within seconds, naming the param, instead of Ray's long wait for its control store."""

from __future__ import annotations

import os
import socket

from melt.compute.numerics import QUIET_ENV, runtime_env

# Without the first, Ray maps 127.0.0.1 to the machine's interface address; the second keeps usage stats off.
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", **QUIET_ENV}
CONNECT_TIMEOUT_S = 5.0


class ClusterError(RuntimeError):
    """No Ray cluster at `compute.ray_address`."""


def _host_port(address: str) -> tuple[str, int]:
    bare = address.split("://", 1)[-1]
    host, sep, port = bare.rpartition(":")
    if not sep or not port.isdigit():
        raise ClusterError(f"compute.ray_address: {address!r} is not `auto` or host:port")
    return host, int(port)


def check_reachable(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """A TCP connection to the head node's port, or a ClusterError naming the param."""
    host, port = _host_port(address)
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as err:
        raise ClusterError(f"compute.ray_address: no Ray head node answers at {address!r} ({err}); start one with "
                           f"`ray start --head` or set compute.ray_address: null for a local Ray") from None


def connect(address: str | None, num_cpus: int | None = None) -> None:
    """Make this process a Ray driver (once; later calls reuse the connection)."""
    import ray

    if ray.is_initialized():
        return
    os.environ.update(LOOPBACK_ENV)   # before Ray starts any process
    quiet = {"include_dashboard": False, "logging_level": "WARNING", "runtime_env": runtime_env()}
    if address is None:
        ray.init(address="local", _node_ip_address="127.0.0.1", num_cpus=num_cpus, **quiet)
        return
    if address != "auto":
        check_reachable(address)
    try:
        ray.init(address=address, **quiet)
    except (ConnectionError, RuntimeError, TimeoutError) as err:
        raise ClusterError(f"compute.ray_address: cannot join the Ray cluster at {address!r}: {err}") from None


def disconnect() -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()
