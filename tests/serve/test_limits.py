"""Request limits and keys: a stalled body, UTF-8 API keys, unusable key files."""

from __future__ import annotations

import json
import re
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from embedlab import EmbeddingModel, EmbedlabError, Encoder, InputError
from embedlab.serve import ServeConfig, create_app, load_api_keys

from .conftest import running


def test_a_stalled_body_is_answered_408_and_closed(model: EmbeddingModel) -> None:
    app = create_app(ServeConfig(body_timeout=0.5), encoder=Encoder(model))
    with running(app) as url:
        address = urlsplit(url)
        with socket.create_connection((address.hostname, address.port), timeout=20) as sock:
            sock.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 100\r\n\r\n{\"model\": ")  # fmt: skip
            received = b""
            while chunk := sock.recv(65536):  # until the server closes the connection (before: no answer, ever)
                received += chunk
        assert httpx.get(f"{url}/health").status_code == 200  # the server is fine
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408") and b"connection: close" in head.lower()
    error = json.loads(body)["error"]
    assert error["type"] == "invalid_request_error" and "0.5 s" in error["message"]


def test_utf8_api_keys_work(model: EmbeddingModel) -> None:
    key = "clé-🔑-ключ"
    app = create_app(ServeConfig(api_keys=frozenset({key})), encoder=Encoder(model))
    with running(app) as url:
        as_utf8 = httpx.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {key}".encode()})
        wrong = httpx.get(f"{url}/v1/models", headers={"Authorization": "Bearer clé-🔑-ключи".encode()})
    assert as_utf8.status_code == 200  # before: 401 (Starlette reads header bytes as Latin-1)
    assert wrong.status_code == 401


def test_unusable_key_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(EmbedlabError, match=r"Cannot read the API key file .*missing: No such file"):
        load_api_keys(path=tmp_path / "missing")
    with pytest.raises(EmbedlabError, match="Cannot read the API key file"):
        load_api_keys(path=tmp_path)  # a folder
    (tmp_path / "latin1").write_bytes(b"cl\xe9\n")
    with pytest.raises(EmbedlabError, match="Cannot read the API key file"):
        load_api_keys(path=tmp_path / "latin1")
    (tmp_path / "comments").write_text("# the keys go here\n\n")
    with pytest.raises(EmbedlabError, match="holds no key"):  # never a server without auth when keys were asked for
        load_api_keys(path=tmp_path / "comments")


def test_serve_with_a_missing_key_file_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from embedlab.cli import main

    monkeypatch.setattr(sys, "argv", ["embedlab", "serve", "--api-key-file", str(tmp_path / "missing")])
    with pytest.raises(SystemExit) as exit_info:  # before: a FileNotFoundError traceback
        main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err and "missing" in err and "serving on" not in err


@pytest.mark.parametrize(
    ("limits", "named"),
    [({"max_batch": 0}, "max_batch=0"), ({"max_wait": -0.005}, "max_wait=-0.005"), ({"timeout": 0}, "timeout=0"),
     ({"max_inputs": -1, "body_timeout": float("nan")}, "max_inputs=-1 (at least 1), body_timeout=nan")],
)  # fmt: skip
def test_limits_that_would_serve_nothing_are_refused(limits: dict[str, float], named: str) -> None:
    # `embedlab serve --max-batch 0` used to start a server whose batcher never encoded.
    with pytest.raises(InputError, match=re.escape(named)):
        ServeConfig(**limits)  # type: ignore[arg-type]
