"""Pre-extracted video feature stores, with the layout detected from the file.

Layouts
-------

``"flat-hdf5"`` (:class:`FlatHDF5Store`)
    One HDF5 file, one dataset ``[T, D]`` per video id at the root (the Charades-STA I3D and
    VGG files used by 2D-TAN and its followers).
``"grouped-hdf5"`` (:class:`GroupedHDF5Store`)
    One HDF5 file, one group per video id holding a named dataset ``[T, D]`` (the ActivityNet
    C3D file ``sub_activitynet_v1-3.c3d.hdf5``: ``/v_xxx/c3d_features``). The dataset name is
    the single dataset of the first group, or ``dataset_key``.
``"npy-dir"`` (:class:`NpyDirStore`)
    A directory of ``<vid>.npy`` / ``<vid>.npz`` files (an ``.npz`` holds a single array or
    one named ``features``). Always loaded with ``allow_pickle=False``.

Every store returns ``float32`` arrays ``[T, D]`` from :meth:`FeatureStore.get` and raises
:class:`DataError` (file, video, fix) on unknown ids, empty / non-2-D / non-numeric / non-finite
arrays and corrupt files. An HDF5 file is opened lazily once per process (a DataLoader worker
re-opens it after fork), and stores pickle without their file handle.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .records import DataError, DataWarning

_CORRUPT_FIX = "The file is corrupt or truncated; re-download (or re-extract) it."


def _h5py() -> Any:
    import h5py  # imported lazily: only HDF5 stores need it

    return h5py


class FeatureStore:
    """Common interface of the feature stores; use :func:`open_features` to get one."""

    layout: str = ""
    _kind: str = ""  # human name for describe()

    def __init__(self, path: str | os.PathLike[str], video_ids: Iterable[str], dim: int) -> None:
        self.path = Path(path)
        self._ids = sorted(video_ids)
        self._id_set = frozenset(self._ids)
        self._dim = int(dim)

    # -- interface ---------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        """Feature dimension ``D``."""
        return self._dim

    @property
    def video_ids(self) -> list[str]:
        """Sorted video ids in the store."""
        return list(self._ids)

    def __contains__(self, vid: object) -> bool:
        return vid in self._id_set

    def __len__(self) -> int:
        return len(self._ids)

    def get(self, vid: str) -> np.ndarray:
        """Features of ``vid`` as a C-contiguous ``float32`` array ``[T, D]``."""
        if vid not in self._id_set:
            raise self._unknown(vid)
        arr, where = self._read(vid)
        return self._validate(arr, vid, where)

    def num_clips(self, vid: str) -> int | None:
        """The number of clips ``T`` of ``vid`` from the file's metadata, without reading the
        features (None when the layout cannot tell, or the entry is unreadable: :meth:`get`
        reports that)."""
        try:
            shape = self._shape(vid)
        except (DataError, OSError, ValueError, RuntimeError, KeyError, TypeError):
            return None
        return int(shape[0]) if shape and len(shape) == 2 else None

    def describe(self) -> str:
        return f"{self._kind} at {self.path}: {len(self):,} videos, dim {self.dim}"

    def close(self) -> None:
        """Release open file handles (the store re-opens them if used again)."""

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, videos={len(self)}, dim={self.dim})"

    # -- for subclasses ----------------------------------------------------------------------
    def _read(self, vid: str) -> tuple[Any, str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _shape(self, vid: str) -> tuple[int, ...] | None:
        return None

    def _unknown(self, vid: object) -> DataError:
        hint = ""
        if isinstance(vid, str):
            alt = [a for a in (f"v_{vid}", vid[2:] if vid.startswith("v_") else None) if a]
            near = [a for a in alt if a in self._id_set] or difflib.get_close_matches(
                vid, self._ids, n=1
            )
            if near:
                hint = f" Did you mean {near[0]!r}?"
        return DataError(
            f"video {vid!r} is not in the {self._kind} at {self.path} ({len(self):,} videos).{hint}"
            " Fix: check that the annotations and the features are for the same dataset and that"
            " the video ids match."
        )

    def _check_meta(self, shape: tuple[int, ...], dtype: np.dtype, vid: str, where: str) -> None:
        if dtype.kind not in "biuf":
            raise DataError(
                f"{where}: features of video {vid!r} have dtype {dtype}, which is not a real "
                "number type. Fix: store float features [T, D]."
            )
        if len(shape) != 2:
            raise DataError(
                f"{where}: features of video {vid!r} have shape {shape}; expected 2-D "
                "[T, D]. Fix: store one [time steps, feature dim] array per video."
            )
        if shape[0] == 0 or shape[1] == 0:
            raise DataError(
                f"{where}: features of video {vid!r} are empty (shape {shape}). Fix: "
                "re-extract the features of this video or drop its annotations."
            )
        if shape[1] != self._dim:
            raise DataError(
                f"{where}: features of video {vid!r} have dim {shape[1]}, the store has dim "
                f"{self._dim}. Fix: extract every video with the same feature extractor."
            )

    def _validate(self, arr: Any, vid: str, where: str) -> np.ndarray:
        arr = np.asarray(arr)
        self._check_meta(tuple(arr.shape), arr.dtype, vid, where)
        with np.errstate(over="ignore", invalid="ignore"):
            out = np.ascontiguousarray(arr, dtype=np.float32)
        bad = ~np.isfinite(out)
        if bad.any():
            t = int(np.argwhere(bad)[0][0])
            raise DataError(
                f"{where}: features of video {vid!r} contain {int(bad.sum()):,} NaN/inf "
                f"value(s) (first at time step {t}). Fix: re-extract the features of this video."
            )
        return out


class _HDF5Store(FeatureStore):
    """HDF5 store; the file handle is opened once per process and never pickled."""

    def __init__(
        self, path: str | os.PathLike[str], handle: Any, video_ids: Iterable[str], dim: int
    ) -> None:
        super().__init__(path, video_ids, dim)
        self._h5: Any = handle
        self._pid: int | None = os.getpid() if handle is not None else None

    def _file(self) -> Any:
        if self._h5 is None or self._pid != os.getpid():
            # A handle inherited through fork is not ours to use; open our own.
            self._h5 = _open_h5(self.path)
            self._pid = os.getpid()
        return self._h5

    def _dataset(self, vid: str) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _shape(self, vid: str) -> tuple[int, ...] | None:
        return tuple(self._dataset(vid).shape)

    def _read(self, vid: str) -> tuple[Any, str]:
        where = str(self.path)
        try:
            ds = self._dataset(vid)
            self._check_meta(tuple(ds.shape), ds.dtype, vid, where)  # before reading any data
            return ds[()], where
        except DataError:
            raise
        except (OSError, ValueError, RuntimeError, KeyError, TypeError) as exc:
            raise DataError(
                f"{where}: cannot read the features of video {vid!r} ({exc}). {_CORRUPT_FIX}"
            ) from None

    def close(self) -> None:
        if self._h5 is not None and self._pid == os.getpid():
            with contextlib.suppress(Exception):  # closing a broken handle must not raise
                self._h5.close()
        self._h5 = None
        self._pid = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_h5"] = None
        state["_pid"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


class FlatHDF5Store(_HDF5Store):
    """One dataset ``[T, D]`` per video id at the root of an HDF5 file."""

    layout = "flat-hdf5"
    _kind = "flat HDF5"

    def _dataset(self, vid: str) -> Any:
        obj = self._file()[vid]
        if not isinstance(obj, _h5py().Dataset):
            raise DataError(
                f"{self.path}: /{vid} is a group, not a dataset; the file mixes layouts. Fix: "
                "store one dataset per video at the root."
            )
        return obj


class GroupedHDF5Store(_HDF5Store):
    """One group per video id holding the dataset ``key`` ``[T, D]``."""

    layout = "grouped-hdf5"
    _kind = "grouped HDF5"

    def __init__(
        self,
        path: str | os.PathLike[str],
        handle: Any,
        video_ids: Iterable[str],
        dim: int,
        key: str,
    ) -> None:
        super().__init__(path, handle, video_ids, dim)
        self.key = key

    def _dataset(self, vid: str) -> Any:
        group = self._file()[vid]
        h5py = _h5py()
        if not isinstance(group, h5py.Group):
            raise DataError(
                f"{self.path}: /{vid} is a dataset, not a group; the file mixes layouts."
            )
        obj = group.get(self.key)
        if not isinstance(obj, h5py.Dataset):
            raise DataError(
                f"{self.path}: group /{vid} has no dataset {self.key!r} (it has "
                f"{sorted(group.keys())}). Fix: pass the right dataset_key / re-download the file."
            )
        return obj

    def describe(self) -> str:
        return (
            f"{self._kind} at {self.path} (dataset {self.key!r}): {len(self):,} videos, "
            f"dim {self.dim}"
        )


class NpyDirStore(FeatureStore):
    """A directory of ``<vid>.npy`` / ``<vid>.npz`` files."""

    layout = "npy-dir"
    _kind = "npy directory"

    def __init__(self, path: str | os.PathLike[str], files: dict[str, Path], dim: int) -> None:
        super().__init__(path, files, dim)
        self._files = files

    def _read(self, vid: str) -> tuple[Any, str]:
        f = self._files[vid]
        return _load_npy(f, vid), str(f)

    def _shape(self, vid: str) -> tuple[int, ...] | None:
        f = self._files[vid]
        return tuple(_load_npy(f, vid, header_only=True).shape) if f.suffix == ".npy" else None


def _load_npy(f: Path, vid: str, *, header_only: bool = False) -> np.ndarray:
    try:
        if f.suffix == ".npy":
            return np.load(f, mmap_mode="r" if header_only else None, allow_pickle=False)
        with np.load(f, allow_pickle=False) as z:
            names = list(z.files)
            if len(names) == 1:
                name = names[0]
            elif "features" in names:
                name = "features"
            else:
                raise DataError(
                    f"{f}: holds arrays {names}; expected a single array or one named "
                    f"'features' for video {vid!r}. Fix: re-save it with np.savez(path, "
                    "features=array)."
                )
            return z[name]
    except DataError:
        raise
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise DataError(
                f"{f}: video {vid!r} holds pickled Python objects, which ms2d never loads. Fix: "
                "save the features as a plain float array."
            ) from None
        raise DataError(f"{f}: cannot read video {vid!r} ({exc}). {_CORRUPT_FIX}") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise DataError(f"{f}: cannot read video {vid!r} ({exc}). {_CORRUPT_FIX}") from None


def _open_h5(path: Path) -> Any:
    h5py = _h5py()
    try:
        return h5py.File(path, "r")
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot open the HDF5 file ({exc}). {_CORRUPT_FIX}") from None


def _first_dim(path: Path, vid: str, shape: tuple[int, ...]) -> int:
    if len(shape) != 2:
        raise DataError(
            f"{path}: features of video {vid!r} have shape {shape}; expected 2-D [T, D]. Fix: "
            "store one [time steps, feature dim] array per video."
        )
    return int(shape[1])


def _open_hdf5_store(path: Path, dataset_key: str | None) -> FeatureStore:
    h5py = _h5py()
    f = _open_h5(path)
    try:
        try:
            ids = list(f.keys())
            if not ids:
                raise DataError(f"{path}: the HDF5 file has no entries at its root (no videos).")
            first = f[ids[0]]
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise DataError(f"{path}: cannot list the HDF5 file ({exc}). {_CORRUPT_FIX}") from None
        if isinstance(first, h5py.Dataset):
            if dataset_key is not None:
                raise DataError(
                    f"{path}: dataset_key={dataset_key!r} was given but the file is flat (one "
                    "dataset per video at the root). Fix: leave dataset_key unset."
                )
            return FlatHDF5Store(path, f, ids, _first_dim(path, ids[0], first.shape))
        members = {k: v for k, v in first.items() if isinstance(v, h5py.Dataset)}
        if dataset_key is None:
            if len(members) != 1:
                raise DataError(
                    f"{path}: the first video group /{ids[0]} holds datasets {sorted(members)}; "
                    "cannot tell which one holds the features. Fix: pass dataset_key (e.g. "
                    "'c3d_features')."
                )
            dataset_key = next(iter(members))
        elif dataset_key not in members:
            raise DataError(
                f"{path}: the first video group /{ids[0]} has no dataset {dataset_key!r} (it has "
                f"{sorted(members)}). Fix: pass one of those as dataset_key."
            )
        shape = members[dataset_key].shape
        return GroupedHDF5Store(path, f, ids, _first_dim(path, ids[0], shape), dataset_key)
    except BaseException:
        f.close()
        raise


def _open_npy_dir(path: Path) -> NpyDirStore:
    files: dict[str, Path] = {}
    for f in sorted(path.iterdir()):
        if f.suffix not in (".npy", ".npz") or not f.is_file():
            continue
        if f.stem in files:
            raise DataError(
                f"{path}: both {files[f.stem].name} and {f.name} exist for video {f.stem!r}. "
                "Fix: keep one of them."
            )
        files[f.stem] = f
    if not files:
        raise DataError(
            f"{path}: no <vid>.npy or <vid>.npz files in this directory. Fix: point to the "
            "feature directory, or to an HDF5 file."
        )
    vid, f = next(iter(files.items()))
    shape = _load_npy(f, vid, header_only=True).shape
    return NpyDirStore(path, files, _first_dim(f, vid, shape))


def open_features(path: str | os.PathLike[str], *, dataset_key: str | None = None) -> FeatureStore:
    """Open a feature store, detecting its layout (see the module docstring).

    ``dataset_key`` names the per-video dataset of a grouped HDF5 file when its groups hold
    more than one dataset.
    """
    p = Path(path)
    if p.is_dir():
        if dataset_key is not None:
            raise DataError(f"{p}: dataset_key only applies to grouped HDF5 files.")
        return _open_npy_dir(p)
    if not p.exists():
        raise DataError(
            f"feature file {p} does not exist. Fix: download the features (see "
            "docs/datasets.md) and pass the .hdf5 file or the directory of .npy files."
        )
    h5py = _h5py()
    try:
        is_h5 = h5py.is_hdf5(str(p))
    except OSError:
        is_h5 = False
    if is_h5:
        return _open_hdf5_store(p, dataset_key)
    if p.suffix in (".h5", ".hdf5", ".hdf"):
        raise DataError(f"{p}: not a valid HDF5 file. {_CORRUPT_FIX}")
    raise DataError(
        f"{p}: unknown feature layout. Fix: pass an HDF5 file (one dataset or group per video) "
        "or a directory of <vid>.npy / <vid>.npz files."
    )


def check_feature_dim(store: FeatureStore, spec: dict, features: Any, checkpoint: Any) -> None:
    """Raise :class:`DataError` when a checkpoint's recorded feature spec (its ``feature_spec``:
    ``dim`` and ``name``) names another dimension than the store at ``features`` holds."""
    if spec.get("dim") and spec["dim"] != store.dim:
        raise DataError(
            f"{features} holds {store.dim}-d features but the checkpoint {checkpoint} was "
            f"trained on {spec['dim']}-d features ({spec.get('name', 'unknown')}); use the same "
            "feature files as in training or retrain"
        )


def check_coverage(store: FeatureStore, vids: Iterable[str]) -> None:
    """Raise :class:`DataError` unless every id in ``vids`` is in ``store``."""
    wanted = set(vids)
    missing = sorted(v for v in wanted if v not in store)
    if not missing:
        return
    shown = ", ".join(missing[:10]) + (
        f", ... ({len(missing) - 10:,} more)" if len(missing) > 10 else ""
    )
    hint = ""
    if len(missing) == len(wanted):
        hint = (
            " None of the annotated videos is in the store: are the annotations and features "
            "for the same dataset, and do the ids agree (e.g. a 'v_' prefix)?"
        )
    raise DataError(
        f"{len(missing):,} of {len(wanted):,} annotated videos have no features in "
        f"{store.describe()}: {shown}.{hint} Fix: extract features for those videos or remove "
        "their annotations."
    )


#: a video whose clips per second differ from the expected rate by more than this factor, either
#: way, is counted in :func:`check_clip_counts`' warning (real extractors vary by up to ~4x
#: with the videos' frame rates)
CLIP_RATE_FACTOR = 8.0


def check_clip_counts(store: FeatureStore, queries: Iterable[Any], clip_seconds: float = 0.0,
                      split: str = "") -> int:
    """Warn (:class:`DataWarning`) about videos whose number of clips does not fit their
    annotated duration: 1 clip, or a clip rate more than :data:`CLIP_RATE_FACTOR` times off the
    expected one (``1 / clip_seconds`` when known, else the median over these videos). Such
    features were extracted from another video, at another rate, or cut short. Reads only the
    files' metadata. Returns the number of videos warned about."""
    import warnings

    durations: dict[str, float] = {}
    for q in queries:
        durations.setdefault(q.vid, float(q.duration))
    counts = {v: store.num_clips(v) for v in durations if v in store}
    rates = {v: t / durations[v] for v, t in counts.items() if t and durations[v] > 0}
    if not rates:
        return 0
    expected = 1.0 / clip_seconds if clip_seconds and clip_seconds > 0 else float(
        np.median(list(rates.values())))
    bad = sorted(v for v, r in rates.items()
                 if (counts[v] == 1 and durations[v] * expected >= 2)
                 or r > expected * CLIP_RATE_FACTOR or r < expected / CLIP_RATE_FACTOR)
    if bad:
        shown = "; ".join(f"{v!r}: {counts[v]:,} clip(s) for {durations[v]:g} s" for v in bad[:3])
        where = f" of split {split}" if split else ""
        basis = (f"{clip_seconds:g} s per clip" if clip_seconds and clip_seconds > 0
                 else "the median of these videos")
        warnings.warn(DataWarning(
            f"{len(bad):,} of {len(rates):,} videos{where} have a number of clips that does not "
            f"fit their annotated duration ({shown}{' ...' if len(bad) > 3 else ''}; expected "
            f"about {expected:.3g} clip(s) per second, {basis}) in {store.path}. They are used "
            "as they are; check that these features belong to these videos and were extracted "
            "at the same rate"), stacklevel=2)
    return len(bad)


__all__ = [
    "CLIP_RATE_FACTOR",
    "check_clip_counts",
    "FeatureStore",
    "FlatHDF5Store",
    "GroupedHDF5Store",
    "NpyDirStore",
    "check_coverage",
    "check_feature_dim",
    "open_features",
]


def feature_statistics(store: FeatureStore, vids: Iterable[str], progress: bool = False
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and standard deviation of every clip of ``vids`` (float64 sums)."""
    from tqdm.auto import tqdm

    total = np.zeros(store.dim)
    square = np.zeros(store.dim)
    count = 0
    for vid in tqdm(list(vids), desc="feature statistics", unit="video", disable=not progress,
                    leave=False):
        x = np.asarray(store.get(vid), dtype=np.float64)
        total += x.sum(0)
        square += (x * x).sum(0)
        count += x.shape[0]
    if count == 0:
        raise DataError("no clips to compute feature statistics from")
    mean = total / count
    var = np.maximum(square / count - mean * mean, 0.0)
    return mean.astype(np.float32), np.sqrt(var).astype(np.float32)
