"""Open a page in Debian's headless chromium and return the screenshot's pixels."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
MISSING = "needs Debian's chromium (CI installs it; apt-get install chromium)"


def screenshot(page: Path, folder: Path, *, width: int = 1280, height: int = 2400) -> np.ndarray:
    import matplotlib.image

    assert CHROMIUM is not None
    shot = folder / "shot.png"
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={folder / 'profile'}", f"--window-size={width},{height}", f"--screenshot={shot}",
         page.as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return np.asarray(matplotlib.image.imread(shot))


def distinct_colours(pixels: np.ndarray) -> int:
    """How many different RGB colours: a blank or text-only page has few, charts have hundreds."""
    return len(np.unique((pixels[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0))
