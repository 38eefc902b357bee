"""Where the Ray engine runs: join a cluster by address, or start a local Ray on the loopback interface only.

A local Ray (no ``address``) listens on 127.0.0.1 only, without the dashboard, with a small object store
(``object_store_mb``): the machine is shared. It has one logical CPU more than the encoder actors, for the
tasks that read the input. It stops when the run ends; a Ray already started in this process (``ray.init``
by the caller) is used as it is and left running.

Example:
    >>> Cluster(actors=4).actors
    4
    >>> Progress(done=50, committed=40, skipped=10, total=200, seconds=10.0).eta_s
    30.0
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from embedlab.errors import InputError
from embedlab.extras import require

#: Ray resolves 127.0.0.1 to the machine's address for clusters; this setting keeps a local Ray on loopback.
LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


@dataclass(frozen=True)
class Cluster:
    """How the Ray engine runs.

    Args:
        address: a running cluster to join (``HOST:PORT`` of its head, or ``auto``); ``None`` starts a local Ray.
        actors: encoder actors, each loading the model once (default: one per CPU; per GPU with ``gpus_per_actor``).
        batch_size: documents per call of an actor.
        commit_size: documents per LanceDB commit (the unit a re-run skips or redoes).
        object_store_mb: object store of a local Ray.
        cpus_per_actor: CPUs reserved by each actor (its torch threads).
        gpus_per_actor: GPUs reserved by each actor (0: CPU actors).
    """

    address: str | None = None
    actors: int | None = None
    batch_size: int = 256
    commit_size: int = 1024
    object_store_mb: int = 256
    cpus_per_actor: float = 1.0
    gpus_per_actor: float = 0.0

    def __post_init__(self) -> None:
        for name in ("batch_size", "commit_size", "object_store_mb"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be at least 1, got {getattr(self, name)}.")
        if self.actors is not None and self.actors < 1:
            raise InputError(f"actors must be at least 1, got {self.actors}.")
        if self.cpus_per_actor <= 0 or self.gpus_per_actor < 0:
            raise InputError("cpus_per_actor must be positive and gpus_per_actor at least 0.")


@dataclass(frozen=True)
class Progress:
    """How far a run is: documents done (committed now or skipped as already committed) of ``total``."""

    done: int
    committed: int
    skipped: int
    total: int
    seconds: float

    @property
    def docs_per_s(self) -> float:
        """Documents encoded and committed per second of this run (skipped ones not counted)."""
        return self.committed / self.seconds if self.seconds > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the pace so far (``None`` before any document is done)."""
        if self.done == 0:
            return None
        return (self.total - self.done) * self.seconds / self.done

    def line(self) -> str:
        """One line for a terminal: ``1,024/10,000 documents (12 skipped), 310.2 documents/s, ETA 29 s``."""
        eta = "?" if self.eta_s is None else f"{self.eta_s:,.0f} s"
        return (f"{self.done:,}/{self.total:,} documents ({self.skipped:,} skipped), "
                f"{self.docs_per_s:,.1f} documents/s, ETA {eta}")  # fmt: skip


@contextmanager
def connected(cluster: Cluster) -> Iterator[int]:
    """Ray connected as ``cluster`` says, for the block; yields the number of encoder actors to start.

    Raises:
        MissingExtraError: Ray is not installed (the message names ``pip install 'embedlab[ray]'``).
        InputError: the cluster has no room for one actor.
    """
    if cluster.address is None:
        os.environ.update(LOOPBACK)  # read when Ray is first imported; its processes inherit it
    require("ray")
    import ray

    started = not ray.is_initialized()
    with warnings.catch_warnings():  # Ray forks its node processes: LanceDB's note on forks is not for them
        warnings.filterwarnings("ignore", "lancedb fork support", RuntimeWarning)
        if started and cluster.address is None:
            actors = cluster.actors or os.cpu_count() or 1
            ray.init(include_dashboard=False, num_cpus=int(actors * cluster.cpus_per_actor) + 1,
                     object_store_memory=cluster.object_store_mb * 2**20, log_to_driver=False,
                     logging_level=logging.WARNING)  # fmt: skip
        elif started:
            ray.init(address=cluster.address, log_to_driver=False, logging_level=logging.WARNING)
    try:
        yield cluster.actors or _room(ray.cluster_resources(), cluster)
    finally:
        if started:
            ray.shutdown()


def _room(resources: dict[str, float], cluster: Cluster) -> int:
    """Actors that fit: one per GPU share, or per CPU share leaving one CPU per cluster for reading."""
    if cluster.gpus_per_actor > 0:
        actors = int(resources.get("GPU", 0) / cluster.gpus_per_actor)
    else:
        actors = int((resources.get("CPU", 0) - 1) / cluster.cpus_per_actor)
    if actors < 1:
        raise InputError(f"The Ray cluster has no room for an encoder actor (resources: {resources}).")
    return actors
