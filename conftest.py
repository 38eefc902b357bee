"""Shared by the tests and the docstring examples: offline, the bundled model loaded once per session.

``pytest`` also runs the examples in ``embedlab``'s docstrings (``--doctest-modules``, pyproject). Besides
each module's own names, an example may use ``tmp`` (a new empty folder), ``np`` and ``model`` (the
bundled model of the session). Examples that need data, a server or minutes say ``# doctest: +SKIP`` and why.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

# Nothing in the tests or the examples may reach the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from embedlab import EmbeddingModel, load_model  # after the offline switches

# The serving modules import FastAPI (that is what the serve extra is): without it, no examples of theirs.
collect_ignore_glob = [] if importlib.util.find_spec("fastapi") else ["embedlab/serve/*"]


@pytest.fixture(scope="session")
def model() -> EmbeddingModel:
    """The verified bundled all-MiniLM-L6-v2, loaded once for the whole session."""
    return load_model(device="cpu")


@pytest.fixture(autouse=True)
def _example_names(request: pytest.FixtureRequest) -> None:
    """Give docstring examples ``tmp``, ``np`` and ``model`` (other tests are left alone)."""
    if type(request.node).__name__ != "DoctestItem":
        return
    namespace = request.getfixturevalue("doctest_namespace")
    namespace.update(tmp=request.getfixturevalue("tmp_path"), np=np, model=request.getfixturevalue("model"))
