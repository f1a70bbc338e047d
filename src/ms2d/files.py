"""Writing files safely: the one atomic writer, and output paths checked before any work.

Imports nothing heavy (no torch), so every module that writes a file can use it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

# --------------------------------------------------------------------------------------------
# atomic writes


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a new temporary file next to ``path``; when the block ends without an error it is
    flushed to disk and renamed over ``path`` (else removed), so ``path`` is never partial.

    The one atomic writer of ms2d: every file it writes (checkpoints, configs, metrics, plots,
    annotations, feature files) goes through it. A new file gets the usual permissions (0666
    less the umask: the temporary file is created with ``os.open(..., 0o666)``, which the
    kernel masks); a file that is replaced keeps its mode. The folder is created if needed.
    Write to the yielded path by name (``open``, ``h5py.File(tmp, "w")``, ``savefig``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o7777 if path.is_file() else None
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:  # pragma: no cover - a name clash of 32 random bits
            continue
    os.close(fd)
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8, newlines as given) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


# --------------------------------------------------------------------------------------------
# output paths, checked before any work


def _nearest_existing(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _writable_folder(folder: Path, what: str, target: Path) -> None:
    """Raise unless files can be created in ``folder`` (or in the folders ``mkdir -p`` makes)."""
    base = _nearest_existing(folder)
    if not base.is_dir():
        raise NotADirectoryError(
            f"{what} {target}: {base} is a file, not a folder, so nothing can be "
            "created below it. Fix: choose another path")
    # try it: permissions, ACLs, read-only mounts and pseudo file systems all show here
    probe = base / f".ms2d-write-test-{secrets.token_hex(4)}"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as exc:
        raise PermissionError(
            f"{what} {target}: cannot write in {base} ({exc.strerror or exc}). Fix: choose a "
            "writable location") from None
    with contextlib.suppress(OSError):
        os.unlink(probe)


def check_output_dir(path: str | os.PathLike, what: str = "--out") -> Path:
    """Check, without creating anything, that ``path`` is (or can become) a writable folder.

    Raises ``FileExistsError`` when it names an existing file, ``NotADirectoryError`` when a
    file stands where a parent folder should be, ``PermissionError`` when it cannot be written.
    """
    p = Path(path)
    if str(path).strip() == "":
        raise FileNotFoundError(f"{what}: the path is empty. Fix: give a folder path")
    if p.exists() and not p.is_dir():
        raise FileExistsError(
            f"{what} {p} is an existing file, but a folder is needed here. Fix: "
            "give a folder path (it is created if missing) or move the file")
    _writable_folder(p, what, p)
    return p


def check_output_file(path: str | os.PathLike, what: str, *, overwrite: bool = True,
                      suffix: str = ".json") -> Path:
    """Check, without creating anything, that the file ``path`` can be written.

    Raises ``IsADirectoryError`` when it names a folder, ``FileExistsError`` when it exists and
    ``overwrite`` is false, ``NotADirectoryError`` / ``PermissionError`` when its folder cannot
    be created or written. ``suffix`` only shapes the example in the message.
    """
    p = Path(path)
    if str(path).strip() == "":
        raise FileNotFoundError(f"{what}: the path is empty. Fix: give a file path")
    if p.is_dir() or str(path).endswith(os.sep):
        raise IsADirectoryError(
            f"{what} {p} is a folder, but a file is written here. Fix: give a "
            f"file name, e.g. {p / ('out' + suffix)}")
    if p.exists() and not overwrite:
        raise FileExistsError(
            f"{what} {p} already exists. Fix: pass --overwrite or choose another "
            "path")
    _writable_folder(p.parent, what, p)
    return p


__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text", "check_output_dir",
           "check_output_file"]
