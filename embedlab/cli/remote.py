"""``--dry-run`` of ``encode`` and ``index build`` with a remote model: tokens and cost, nothing sent.

Example:
    $ embedlab encode docs.jsonl --model openai:text-embedding-3-small --dry-run
    openai:text-embedding-3-small: 5183 texts to send (0 cached), ~1,631,200 tokens (estimated), 3 requests, ...
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from embedlab.cli.common import console
from embedlab.errors import InputError

DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Remote models: print the token count and cost estimate, send nothing.")
]
PriceOption = Annotated[
    float | None, typer.Option(help="USD per million tokens for the estimate (default: the provider's list price).")
]


def print_estimate(model: str | None, texts: Sequence[str], *, cache_path: Path | None, cache: bool,
                   price: float | None) -> None:  # fmt: skip
    """Print what encoding ``texts`` with the remote ``model`` would send and cost."""
    from embedlab.encode import EmbeddingCache
    from embedlab.providers import estimate_encoding, is_remote

    if not is_remote(model):
        raise InputError(f"--dry-run estimates a remote model's cost; {model or 'the default model'} runs here, free.")
    estimate = estimate_encoding(str(model), texts, cache=EmbeddingCache(cache_path) if cache else None,
                                 price_per_million=price)  # fmt: skip
    console.print(f"dry run, nothing sent: {estimate.describe()}", markup=False, soft_wrap=True)
