"""``embedlab serve``: the OpenAI-compatible embeddings API (plus search, rerank, health and metrics).

The command builds a :class:`~embedlab.serve.ServeConfig` and starts uvicorn; everything else is
:func:`~embedlab.serve.create_app`.

Example:
    $ embedlab serve --index docs=my-index --reranker models/ce --api-key-file keys.txt
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from embedlab.cli.common import ModelOption, err
from embedlab.errors import EmbedlabError


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the main app."""
    app.command()(serve)


def serve(
    model: ModelOption = None,
    index: Annotated[
        list[str] | None,
        typer.Option("--index", help="An index to serve for /v1/search, as NAME=FOLDER or NAME=ALIAS_FILE (repeat)."),
    ] = None,
    shadow: Annotated[
        list[str] | None,
        typer.Option(help="Shadow mode: NAME=FOLDER also searches this candidate index in the background (repeat)."),
    ] = None,
    shadow_log: Annotated[Path, typer.Option(help="Where shadow comparisons go (JSON lines).")] = Path("shadow.jsonl"),
    reranker: Annotated[str | None, typer.Option(help="A CrossEncoder folder for /v1/rerank.")] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    api_key_file: Annotated[
        Path | None, typer.Option(help="Accepted API keys, one a line (also EMBEDLAB_API_KEYS, comma-separated).")
    ] = None,
    served_name: Annotated[str | None, typer.Option(help="Model name clients send (default: the model's).")] = None,
    max_batch: Annotated[int, typer.Option(help="Most texts per encoder call.")] = 64,
    max_wait_ms: Annotated[float, typer.Option(help="How long a batch waits for more requests.")] = 5.0,
    cache: Annotated[bool, typer.Option(help="Use the persistent embedding cache.")] = False,
    cors_origin: Annotated[
        list[str] | None, typer.Option(help="Allow this CORS origin (repeat); off by default.")
    ] = None,
    monitor_sample: Annotated[
        float, typer.Option(help="Share of searches of a monitored index logged for 'embedlab monitor' (0: off).")
    ] = 1.0,
) -> None:
    """Serve the OpenAI-compatible embeddings API (plus search, rerank, health and metrics)."""
    import uvicorn

    from embedlab.serve import ServeConfig, create_app, load_api_keys

    indexes = dict(item.split("=", 1) for item in index or [] if "=" in item)
    if index and len(indexes) != len(index):
        raise EmbedlabError("Give indexes as NAME=FOLDER.")
    shadows = dict(item.split("=", 1) for item in shadow or [] if "=" in item)
    if shadow and len(shadows) != len(shadow):
        raise EmbedlabError("Give shadow indexes as NAME=FOLDER.")
    config = ServeConfig(
        model=model, served_name=served_name, indexes=indexes, shadow=shadows, shadow_log=str(shadow_log),
        reranker=reranker,
        api_keys=load_api_keys(path=api_key_file), max_batch=max_batch, max_wait=max_wait_ms / 1000,
        cache=cache, cors_origins=tuple(cors_origin or []), monitor_sample=monitor_sample,
    )  # fmt: skip
    application = create_app(config)  # opens the indexes and the reranker: a bad one fails here, before serving
    err.print(f"embedlab serving on http://{host}:{port}/v1 ({'API keys required' if config.api_keys else 'no auth'})")
    uvicorn.run(application, host=host, port=port, log_level="info", timeout_graceful_shutdown=30)
