"""Feature stores: small HDF5 / npy files in every layout, and every failure mode."""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest

import ms2d.data.features as feats
from ms2d.data.features import (
    FlatHDF5Store,
    GroupedHDF5Store,
    NpyDirStore,
    check_coverage,
    open_features,
)
from ms2d.data.records import DataError

RNG = np.random.default_rng(0)
A = RNG.standard_normal((5, 4))  # float64 on disk, float32 out
B = RNG.standard_normal((3, 4)).astype(np.float16)


def digest(p: Path) -> str:
    files = sorted(p.rglob("*")) if p.is_dir() else [p]
    return hashlib.sha256(b"".join(f.read_bytes() for f in files if f.is_file())).hexdigest()


@pytest.fixture
def flat(tmp_path: Path) -> Path:
    f = tmp_path / "i3d.hdf5"
    with h5py.File(f, "w") as h:
        h["AO8RW"] = A
        h["Y6R7T"] = B
        h["3MSZA"] = np.arange(8, dtype=np.int32).reshape(2, 4)
    return f


@pytest.fixture
def grouped(tmp_path: Path) -> Path:
    f = tmp_path / "sub_activitynet_v1-3.c3d.hdf5"
    with h5py.File(f, "w") as h:
        h.create_group("v_QOlSCBRmfWY")["c3d_features"] = A
        h.create_group("v_uqiMw7tQ1Cc")["c3d_features"] = B
    return f


@pytest.fixture
def npydir(tmp_path: Path) -> Path:
    d = tmp_path / "npy"
    d.mkdir()
    np.save(d / "AO8RW.npy", A)
    np.savez(d / "Y6R7T.npz", B)  # single array, key arr_0
    np.savez(d / "ZZZZZ.npz", features=A[:2], other=np.zeros(3))
    (d / "README.txt").write_text("ignored")
    return d


def test_flat(flat: Path) -> None:
    before = digest(flat)
    with open_features(flat) as s:
        assert isinstance(s, FlatHDF5Store)
        assert s.layout == "flat-hdf5"
        assert s.path == flat
        assert s.dim == 4
        assert s.video_ids == ["3MSZA", "AO8RW", "Y6R7T"]
        assert len(s) == 3 and "AO8RW" in s and "nope" not in s
        x = s.get("AO8RW")
        assert x.dtype == np.float32 and x.shape == (5, 4) and x.flags.c_contiguous
        np.testing.assert_allclose(x, A.astype(np.float32))
        assert s.get("Y6R7T").dtype == np.float32
        assert s.get("3MSZA")[1, 3] == 7.0
        assert s.describe() == f"flat HDF5 at {flat}: 3 videos, dim 4"
    assert before == digest(flat)


def test_grouped(grouped: Path) -> None:
    with open_features(grouped) as s:
        assert isinstance(s, GroupedHDF5Store)
        assert s.layout == "grouped-hdf5" and s.key == "c3d_features" and s.dim == 4
        assert s.video_ids == ["v_QOlSCBRmfWY", "v_uqiMw7tQ1Cc"]
        np.testing.assert_allclose(s.get("v_uqiMw7tQ1Cc"), B.astype(np.float32))
        assert "grouped HDF5" in s.describe() and "2 videos, dim 4" in s.describe()
    with open_features(grouped, dataset_key="c3d_features") as s:
        assert s.get("v_QOlSCBRmfWY").shape == (5, 4)


def test_grouped_needs_key(tmp_path: Path) -> None:
    f = tmp_path / "g.h5"
    with h5py.File(f, "w") as h:
        g = h.create_group("v1")
        g["c3d"] = A
        g["mask"] = np.ones((5, 1))
        h.create_group("v2")["mask"] = np.ones((5, 1))
    with pytest.raises(DataError, match=r"\['c3d', 'mask'\].*pass dataset_key"):
        open_features(f)
    with pytest.raises(DataError, match="has no dataset 'nope'"):
        open_features(f, dataset_key="nope")
    with open_features(f, dataset_key="c3d") as s:
        assert s.get("v1").shape == (5, 4)
        with pytest.raises(
            DataError, match=r"group /v2 has no dataset 'c3d' \(it has \['mask'\]\)"
        ):
            s.get("v2")


def test_npy_dir(npydir: Path) -> None:
    before = digest(npydir)
    with open_features(npydir) as s:
        assert isinstance(s, NpyDirStore)
        assert s.layout == "npy-dir" and s.dim == 4
        assert s.video_ids == ["AO8RW", "Y6R7T", "ZZZZZ"]
        np.testing.assert_allclose(s.get("AO8RW"), A.astype(np.float32))
        assert s.get("Y6R7T").dtype == np.float32
        assert s.get("ZZZZZ").shape == (2, 4)
        assert s.describe() == f"npy directory at {npydir}: 3 videos, dim 4"
    assert before == digest(npydir)


def test_npz_ambiguous_and_duplicates(npydir: Path) -> None:
    np.savez(npydir / "WWWWW.npz", a=A, b=A)
    s = open_features(npydir)
    with pytest.raises(DataError, match=r"holds arrays \['a', 'b'\].*'features'"):
        s.get("WWWWW")
    np.save(npydir / "WWWWW.npy", A)
    with pytest.raises(DataError, match="both WWWWW.npy and WWWWW.npz"):
        open_features(npydir)


def test_unknown_video(flat: Path, grouped: Path) -> None:
    s = open_features(flat)
    with pytest.raises(DataError) as e:
        s.get("AO8RX")
    msg = str(e.value)
    assert "'AO8RX'" in msg and str(flat) in msg and "3 videos" in msg
    assert "Did you mean 'AO8RW'?" in msg
    g = open_features(grouped)
    with pytest.raises(DataError, match="Did you mean 'v_QOlSCBRmfWY'"):
        g.get("QOlSCBRmfWY")  # missing v_ prefix


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        (np.zeros((0, 4)), "are empty"),
        (np.zeros((2, 2, 4)), "expected 2-D"),
        (np.zeros(4), "expected 2-D"),
        (np.zeros((3, 5)), "dim 5, the store has dim 4"),
        (
            np.array([[1.0, np.nan, 0, 0], [0, 0, 0, 0]]),
            "1 NaN/inf value(s) (first at time step 0)",
        ),
        (np.array([[0.0, 0, 0, 0], [np.inf, 0, 0, 0]]), "NaN/inf value(s) (first at time step 1)"),
        (np.array([[1e300, 0, 0, 0]]), "NaN/inf"),  # overflows float32
        (np.array([["a", "b", "c", "d"]], dtype="S1"), "not a real number type"),
        (np.ones((2, 4), dtype=np.complex64), "not a real number type"),
    ],
)
def test_bad_arrays(tmp_path: Path, value: np.ndarray, needle: str) -> None:
    f = tmp_path / "f.hdf5"
    with h5py.File(f, "w") as h:
        h["good"] = A
        h["zz_bad"] = value
    d = tmp_path / "npy"
    d.mkdir()
    np.save(d / "good.npy", A)
    np.save(d / "zz_bad.npy", value)
    for path, where in ((f, str(f)), (d, str(d / "zz_bad.npy"))):
        s = open_features(path)
        assert s.get("good").shape == (5, 4)
        with pytest.raises(DataError) as e:
            s.get("zz_bad")
        msg = str(e.value)
        assert needle in msg and where in msg and "'zz_bad'" in msg and "Fix" in msg
        s.close()


def test_truncated_hdf5(flat: Path, tmp_path: Path) -> None:
    big = tmp_path / "big.hdf5"
    with h5py.File(big, "w") as h:
        for i in range(20):
            h[f"v{i:02d}"] = np.ones((100, 64))
    data = big.read_bytes()
    cut = tmp_path / "cut.hdf5"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError) as e:
        open_features(cut)
    assert str(cut) in str(e.value) and "corrupt" in str(e.value) and "re-download" in str(e.value)
    tiny = tmp_path / "tiny.h5"
    tiny.write_bytes(data[:4])
    with pytest.raises(DataError, match="not a valid HDF5 file.*re-download"):
        open_features(tiny)


def test_corrupt_hdf5_chunk(tmp_path: Path) -> None:
    f = tmp_path / "c.hdf5"
    with h5py.File(f, "w") as h:
        h.create_dataset("v", data=np.ones((64, 64)), chunks=(8, 64), compression="gzip")
        off = h["v"].id.get_chunk_info(3).byte_offset
    raw = bytearray(f.read_bytes())
    raw[off : off + 16] = b"\xff" * 16  # break one compressed chunk
    f.write_bytes(bytes(raw))
    s = open_features(f)
    with pytest.raises(DataError, match="cannot read the features of video 'v'.*corrupt"):
        s.get("v")


def test_corrupt_npy(tmp_path: Path) -> None:
    d = tmp_path / "npy"
    d.mkdir()
    np.save(d / "a.npy", A)
    np.save(d / "b.npy", A)
    raw = (d / "b.npy").read_bytes()
    (d / "b.npy").write_bytes(raw[: len(raw) - 20])
    np.save(d / "c.npy", np.array([[{"x": 1}]], dtype=object), allow_pickle=True)
    (d / "d.npz").write_bytes(b"PK\x03\x04garbage")
    s = open_features(d)
    with pytest.raises(DataError, match=r"b\.npy: cannot read video 'b'.*corrupt"):
        s.get("b")
    with pytest.raises(DataError, match="pickled Python objects"):
        s.get("c")
    with pytest.raises(DataError, match=r"d\.npz: cannot read video 'd'.*re-download"):
        s.get("d")


def test_open_errors(tmp_path: Path, flat: Path) -> None:
    with pytest.raises(DataError, match="does not exist.*docs/datasets.md"):
        open_features(tmp_path / "missing.hdf5")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no <vid>.npy or <vid>.npz files"):
        open_features(empty)
    (tmp_path / "x.bin").write_bytes(b"hello world")
    with pytest.raises(DataError, match="unknown feature layout"):
        open_features(tmp_path / "x.bin")
    with h5py.File(tmp_path / "e.hdf5", "w"):
        pass
    with pytest.raises(DataError, match="no entries at its root"):
        open_features(tmp_path / "e.hdf5")
    with pytest.raises(DataError, match="the file is flat"):
        open_features(flat, dataset_key="c3d_features")
    with h5py.File(tmp_path / "3d.hdf5", "w") as h:
        h["feats"] = np.zeros((3, 5, 4))
    with pytest.raises(DataError, match="expected 2-D"):
        open_features(tmp_path / "3d.hdf5")


def test_opened_once_per_process(flat: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []
    real = feats._open_h5

    def counting(path: Path):  # type: ignore[no-untyped-def]
        calls.append(path)
        return real(path)

    monkeypatch.setattr(feats, "_open_h5", counting)
    s = open_features(flat)
    for _ in range(10):
        for v in s.video_ids:
            s.get(v)
    assert len(calls) == 1
    s._pid = -1  # as seen from a forked DataLoader worker
    s.get("AO8RW")
    s.get("AO8RW")
    assert len(calls) == 2
    s.close()
    s.get("AO8RW")  # re-opens after close
    assert len(calls) == 3


def test_pickle(flat: Path, grouped: Path, npydir: Path) -> None:
    for path in (flat, grouped, npydir):
        s = open_features(path)
        s.get(s.video_ids[0])
        t = pickle.loads(pickle.dumps(s))
        assert type(t) is type(s) and t.video_ids == s.video_ids and t.dim == s.dim
        np.testing.assert_array_equal(t.get(s.video_ids[0]), s.get(s.video_ids[0]))
        if isinstance(s, FlatHDF5Store):
            assert "_h5" in s.__dict__ and s._h5 is not None
        s.close()
        t.close()


def _child_sum(store: FlatHDF5Store) -> float:
    return float(store.get("AO8RW").sum())


@pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="needs fork")
def test_forked_workers(flat: Path) -> None:
    s = open_features(flat)
    expected = float(s.get("AO8RW").sum())
    ctx = mp.get_context("fork")
    with ctx.Pool(2) as pool:
        assert pool.map(_child_sum, [s, s]) == [pytest.approx(expected)] * 2
    assert float(s.get("AO8RW").sum()) == pytest.approx(expected)


def test_check_coverage(flat: Path) -> None:
    s = open_features(flat)
    check_coverage(s, ["AO8RW", "Y6R7T", "AO8RW"])
    missing = [f"M{i:03d}" for i in range(12)]
    with pytest.raises(DataError) as e:
        check_coverage(s, ["AO8RW", *missing])
    msg = str(e.value)
    assert "12 of 13 annotated videos have no features" in msg
    assert "M000, M001" in msg and "M009" in msg and "M010" not in msg and "(2 more)" in msg
    assert str(flat) in msg
    with pytest.raises(DataError, match="None of the annotated videos"):
        check_coverage(s, ["X"])
