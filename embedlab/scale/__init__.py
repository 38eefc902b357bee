"""Scale-out on Ray: encode files and fill indexes with an actor pool of embedlab encoders, resumable and exact.

``engine="ray"`` in :func:`~embedlab.encode.files.encode_file` and
:func:`~embedlab.operate.migrate.build`, and :func:`add_with_ray` (a file or a Lance dataset) or
:func:`add_documents_with_ray` (documents) for an index (the CLI's ``--engine ray``) run the same encoder and
index code as one process on a Ray cluster (Ray Data's ``map_batches`` with an actor pool). Documents are
committed to the index's LanceDB table in whole-document commits recorded in a ledger keyed by document id,
content hash and model fingerprint (:mod:`embedlab.scale.ledger`), so a re-run skips what is committed and the
index holds each input document exactly once. Ray is the optional extra ``embedlab[ray]``; importing this
package does not import it.

Example:
    >>> # not run: starts a local Ray
    >>> index = Index.create("my-index")  # doctest: +SKIP
    >>> added = add_with_ray(index, "docs.jsonl", cluster=Cluster(actors=4), on_progress=print)  # doctest: +SKIP
"""

from embedlab.scale.cluster import Cluster, Progress
from embedlab.scale.ledger import Ledger, content_hash
from embedlab.scale.pipeline import Added, add_documents_with_ray, add_with_ray, encode_with_ray

__all__ = [
    "Added",
    "Cluster",
    "Ledger",
    "Progress",
    "add_documents_with_ray",
    "add_with_ray",
    "content_hash",
    "encode_with_ray",
]
