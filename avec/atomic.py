"""Files a user trusts are whole or untouched: write elsewhere, then rename into place.

A rename within one file system is atomic (POSIX ``rename``): a reader sees the old file or the
new one, never half of one, however the writer stops -- an exception, Ctrl-C, a full disk. The
manifest, the committed record (``claims/expected.toml``), the reports and the agents
``avec train`` and ``python -m avec.curves package`` save are written this way.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file beside it renamed into
    place."""
    write_bytes(path, text.encode("utf-8"))


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file beside it renamed into place."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def staged(folder: Path) -> Iterator[Path]:
    """A temporary folder beside ``folder``; on success its entries replace ``folder``'s.

    Everything is written into the staging folder first; only when the ``with`` block ends
    without an exception is each of its top-level entries renamed over the entry of the same
    name in ``folder`` (other entries of ``folder`` stay). On any exception ``folder`` is left
    as it was and the staging folder is removed.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.new-"))
    old = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.old-"))
    try:
        yield stage
        for entry in sorted(stage.iterdir()):
            target = folder / entry.name
            if target.is_dir() and not target.is_symlink():
                target.rename(old / entry.name)
            os.replace(entry, target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


__all__ = ["staged", "write_text"]
