"""Reading an SB3 checkpoint's members without running them.

A stable-baselines3 zip holds ``data`` (JSON, with cloudpickled values SB3's ``load`` would
run), ``policy.pth`` and ``policy.optimizer.pth`` (torch pickles). Here a member is read only if
its declared size is within :data:`MAX_MEMBER_BYTES` (and, compressed, within
:data:`MAX_COMPRESSION_RATIO` of its stored size) -- ``zipfile`` never returns more than the
declared size, so the check bounds what is read -- and ``.pth`` members go through
``torch.load(weights_only=True)``: tensors and plain containers, never code.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import torch

MAX_MEMBER_BYTES = 256 << 20
"""Largest zip member read (declared uncompressed size): avec's agents' are under 1 MB."""
MAX_COMPRESSION_RATIO = 100
"""Largest declared uncompressed / stored size of a compressed member over 1 MiB (a zip bomb
declares gigabytes in a few megabytes)."""


class CheckpointError(RuntimeError):
    """A checkpoint or manifest is missing, corrupt, unsafe, or does not match its entry."""


def read_policy_tensors(path: Path, algo: str = "model") -> dict[str, torch.Tensor]:
    """The policy's state dict from an SB3 zip's ``policy.pth``, read as tensors only."""
    state = _read_member(path, "policy.pth", f"a {algo} model")
    if not isinstance(state, dict) or not all(isinstance(t, torch.Tensor) for t in state.values()):
        raise CheckpointError(f"checkpoint {path}: policy.pth is not a dict of tensors")
    return dict(state)


def read_optimizer_state(path: Path) -> dict[str, Any]:
    """The optimizer's state dict from an SB3 zip's ``policy.optimizer.pth`` (to continue
    training a committed agent), read with ``weights_only=True``: nothing in the file is run."""
    state = _read_member(path, "policy.optimizer.pth", "a model with its optimizer state")
    if not isinstance(state, dict) or set(state) != {"state", "param_groups"}:
        raise CheckpointError(f"checkpoint {path}: policy.optimizer.pth is not an optimizer state")
    return dict(state)


def _read_member(path: Path, member: str, what: str) -> Any:
    """One ``.pth`` member of an SB3 zip, read with ``weights_only=True`` (torch's restricted
    unpickler: tensors and plain containers, never code)."""
    raw = read_zip_member(path, member, what)
    try:
        return torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except (EOFError, RuntimeError, OSError) as error:
        raise CheckpointError(
            f"checkpoint {path} is corrupt or not {what}: {type(error).__name__}: "
            f"{_first_line(error)}"
        ) from None
    except Exception as error:  # torch's restricted unpickler refusing a global
        raise CheckpointError(
            f"checkpoint {path} holds more than tensors in {member} and is refused: "
            f"{_first_line(error)}"
        ) from None


def _first_line(error: BaseException) -> str:
    """torch's ``weights_only`` refusals run to a page; their first line names the cause."""
    return next((line.strip() for line in str(error).splitlines() if line.strip()), "")


def read_zip_member(path: Path, member: str, what: str = "an SB3 checkpoint") -> bytes:
    """The bytes of one member of a zip, refused before reading if its declared size exceeds
    :data:`MAX_MEMBER_BYTES` or its compression ratio :data:`MAX_COMPRESSION_RATIO`.

    ``zipfile`` never returns more than a member's declared size, so checking the declaration
    bounds what is read."""
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(member)
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > MAX_MEMBER_BYTES or (
                info.file_size > 1 << 20 and ratio > MAX_COMPRESSION_RATIO
            ):
                raise CheckpointError(
                    f"checkpoint {path}: member {member} declares {info.file_size} bytes "
                    f"({ratio:.0f}x its stored size); avec reads at most {MAX_MEMBER_BYTES} "
                    f"bytes at most {MAX_COMPRESSION_RATIO}x compressed"
                )
            return archive.read(info)
    except (zipfile.BadZipFile, KeyError, EOFError, OSError) as error:
        raise CheckpointError(
            f"checkpoint {path} is corrupt or not {what}: {type(error).__name__}: {error}"
        ) from None


__all__ = [
    "MAX_COMPRESSION_RATIO",
    "MAX_MEMBER_BYTES",
    "CheckpointError",
    "read_optimizer_state",
    "read_policy_tensors",
    "read_zip_member",
]
