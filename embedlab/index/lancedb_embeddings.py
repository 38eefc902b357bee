"""embedlab models as a LanceDB embedding function: automatic embedding on add and on search.

Importing this module registers the function under the name ``"embedlab"`` (so does using
:class:`embedlab.index.Index`). Its settings (the
model spec and the model's fingerprint) are saved with the table, so a reopened table re-creates the
same embedder, and refuses to embed with a model whose fingerprint differs.

Example:
    >>> from lancedb.embeddings import get_registry
    >>> from lancedb.pydantic import LanceModel, Vector
    >>> embedder = get_registry().get("embedlab").create(model="./models/adapted")  # doctest: +SKIP
    >>> class Doc(LanceModel):  # needs an adapted model folder  # doctest: +SKIP
    ...     text: str = embedder.SourceField()
    ...     vector: Vector(embedder.ndims()) = embedder.VectorField()
    >>> table = lancedb.connect("db").create_table("docs", schema=Doc)  # doctest: +SKIP
    >>> table.add([{"text": "The cat sleeps."}]); table.search("kitten").limit(3).to_list()  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from lancedb.embeddings import TextEmbeddingFunction, register
from pydantic import PrivateAttr

from embedlab.errors import IndexMismatchError


@register("embedlab")
class EmbedlabEmbeddings(TextEmbeddingFunction):
    """A LanceDB text embedding function backed by an embedlab :class:`~embedlab.Encoder`.

    Fields (saved with the table): ``model`` (a directory, hub id, or ``"default"`` for the bundled
    model) and ``fingerprint`` (filled in when created; checked whenever the model is loaded again).
    """

    model: str = "default"
    fingerprint: str | None = None
    _encoder: Any = PrivateAttr(default=None)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if self.fingerprint is None:
            self.fingerprint = self._get().info.fingerprint

    def ndims(self) -> int:
        """The model's output dimension."""
        return int(self._get().info.dimension)

    def generate_embeddings(self, texts: Any, *args: Any, **kwargs: Any) -> list[Any]:
        """Normalised vectors of ``texts``, with embedlab's validation and truncation warnings."""
        return list(self._get().encode([str(text) for text in texts]))

    def _get(self) -> Any:
        if self._encoder is None:
            from embedlab.encode import Encoder
            from embedlab.models import load_model

            encoder = Encoder(load_model(None if self.model == "default" else self.model), show_progress=False)
            if self.fingerprint is not None and encoder.info.fingerprint != self.fingerprint:
                raise IndexMismatchError(
                    f"This LanceDB table was embedded with a model of fingerprint {self.fingerprint[:12]}, but "
                    f"{self.model!r} now loads as {encoder.info.fingerprint[:12]}: its vectors would not be comparable."
                )
            self._encoder = encoder
        return self._encoder
