"""A one-epoch training run, checkpoints, selection on validation, baselines, quickstart."""

import json

import numpy as np
import pytest
import torch

from ms2d.baselines import PriorBaseline, RandomBaseline
from ms2d.checkpoint import load_checkpoint, load_model
from ms2d.cli import main
from ms2d.config import resolve
from ms2d.data.records import Query
from ms2d.data.simulate import SimConfig, simulate
from ms2d.inference import candidate_table
from ms2d.models.maps import candidate_mask
from ms2d.train.loop import train
from ms2d.utils import pick_device

TINY = ["model.hidden=16", "model.word_dim=16", "model.caption_hidden=16", "model.conv_layers=1",
        "model.scales=[8,4]", "model.top_k=3", "train.batch_size=16", "train.epochs=1",
        "train.progress=false"]


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    d = tmp_path_factory.mktemp("sim")
    simulate(d, SimConfig(num_videos_train=30, num_videos_val=8, num_videos_test=8, feature_dim=32),
             progress=False)
    return d


def _cfg(sim, extra=()):
    cfg = resolve("synthetic-cpu", TINY + list(extra))
    cfg.data.annotations, cfg.data.features = str(sim), str(sim / "features.hdf5")
    return cfg


@pytest.mark.parametrize("supervision", ["weak", "full"])
def test_one_epoch_writes_run_folder(sim, tmp_path, supervision):
    out = tmp_path / "run"
    summary = train(_cfg(sim, [f"train.supervision={supervision}"]), out, log=lambda *a: None)
    assert summary["epochs_done"] == 1 and summary["best"]["epoch"] == 1
    for name in ("config.yaml", "manifest.json", "best.pt", "last.pt", "history.json", "summary.json"):
        assert (out / name).is_file(), name
    ckpt = torch.load(out / "last.pt", weights_only=True)  # plain dict, no pickled objects
    assert ckpt["config"]["train"]["supervision"] == supervision
    assert ckpt["feature_spec"]["dim"] == 32
    model, vocab, _ = load_model(out)
    assert model.cfg.feature_dim == 32 and len(vocab) == model.cfg.vocab_size
    hist = json.loads((out / "history.json").read_text())
    assert set(hist[0]["val"]) >= {"R@1,IoU=0.5", "mIoU"}
    # the preset mixes the teacher into the ranking; full supervision trains no teacher
    assert model.cfg.inference_teacher == (0.6 if supervision == "weak" else 0.0)


def test_a_checkpoint_older_than_a_setting_loads_with_its_default(sim, tmp_path):
    train(_cfg(sim), tmp_path / "run", log=lambda *a: None)
    ckpt = torch.load(tmp_path / "run" / "best.pt", weights_only=True)
    for section in (ckpt["config"]["model"], ckpt["weights_config"]):
        del section["inference_teacher"]  # written before the setting existed
        del section["map_pool"]
    torch.save(ckpt, tmp_path / "old.pt")
    model, _, _ = load_model(tmp_path / "old.pt")
    assert model.cfg.inference_teacher == 0.0  # the student's ranking, as it was trained to give
    assert model.cfg.map_pool == "max"  # the maps every model was trained with before


def test_refuses_existing_run_and_resumes(sim, tmp_path):
    out = tmp_path / "run"
    train(_cfg(sim), out, log=lambda *a: None)
    with pytest.raises(FileExistsError, match="--resume"):
        train(_cfg(sim), out, log=lambda *a: None)
    summary = train(_cfg(sim, ["train.epochs=2"]), out, resume=True, log=lambda *a: None)
    assert summary["epochs_done"] == 2
    assert load_checkpoint(out / "last.pt")["epoch"] == 2


def test_cli_train_and_evaluate(sim, tmp_path):
    out = tmp_path / "run"
    rc = main(["train", "--dataset", "simulated", "--annotations", str(sim), "--features",
               str(sim / "features.hdf5"), "--out", str(out), "--quiet", *TINY])
    assert rc == 0
    metrics_path = tmp_path / "m.json"
    preds = tmp_path / "p.jsonl"
    rc = main(["evaluate", str(out), "--split", "test", "--json", str(metrics_path),
               "--save-predictions", str(preds)])
    assert rc == 0
    m = json.loads(metrics_path.read_text())
    assert set(m) >= {"R@1,IoU=0.3", "R@5,IoU=0.7", "mIoU", "protocol"}
    assert len(preds.read_text().splitlines()) == m["num_queries"]


def test_baselines():
    frac, _ = candidate_table((8, 4), [candidate_mask(8), candidate_mask(4)])
    train_q = [Query(f"q{i}", "v", "s", 10.0, (0.0, 5.0)) for i in range(5)]
    prior = PriorBaseline(frac).fit(train_q)
    top = prior.predict([Query("t", "v", "s", 20.0, (0.0, 10.0))])[0]
    assert (top[0].start, top[0].end) == (0.0, 10.0)  # the training layout, rescaled
    r1 = RandomBaseline(frac, seed=1).predict(train_q)
    r2 = RandomBaseline(frac, seed=1).predict(train_q)
    assert r1 == r2 and len(r1[0]) == 5
    assert np.all([m.end <= 10.0 for m in r1[0]])


@pytest.mark.slow
@pytest.mark.parametrize("jobs", [1, 2])
def test_quickstart_tiny(tmp_path, jobs):
    from ms2d.quickstart import run_quickstart

    sim_small = dict(num_videos_train=30, num_videos_val=8, num_videos_test=8, feature_dim=32)
    report = run_quickstart(tmp_path, overrides=TINY, sim_overrides=sim_small, progress=False,
                            log=lambda *a: None, jobs=jobs)
    on_cpu = pick_device("auto").type == "cpu"  # a GPU trains the models one after another
    assert report["_meta"]["train_processes"] == (jobs if on_cpu else 1)
    data = json.loads((tmp_path / "results.json").read_text())
    assert list(k for k in data if not k.startswith("_")) == [
        "random", "prior", "weak_single_scale", "weak", "full"]
    for k in ("random", "prior", "weak_single_scale", "weak", "full"):
        assert set(data[k]) == {"R@1,IoU=0.3", "R@1,IoU=0.5", "R@1,IoU=0.7", "R@5,IoU=0.3",
                                "R@5,IoU=0.5", "R@5,IoU=0.7", "mIoU"}
    assert (tmp_path / "results.md").read_text().count("|") > 20
    assert (tmp_path / "results.png").stat().st_size > 1000
    assert report["_meta"]["test_pairs"] == data["_meta"]["test_pairs"]


def test_plan_jobs_balances_the_weak_model_against_the_two_cheaper_ones():
    from ms2d.quickstart import plan_jobs

    names = ["weak_single_scale", "weak", "full"]
    assert plan_jobs(names, 2) == [["weak"], ["full", "weak_single_scale"]]
    assert plan_jobs(names, 1) == [["weak", "full", "weak_single_scale"]]
    assert sorted(map(len, plan_jobs(names, 8))) == [1, 1, 1]
    assert plan_jobs(["full"], 4) == [["full"]]


def test_gpu_switches_on_a_cpu_train_in_fp32_and_restore_torch_state(sim, tmp_path):
    logs = []
    before = torch.are_deterministic_algorithms_enabled()
    summary = train(_cfg(sim, ["train.tf32=true", "train.amp=true", "train.deterministic=true"]),
                    tmp_path / "run", log=logs.append)
    assert summary["epochs_done"] == 1
    assert any("apply to GPUs only" in str(m) for m in logs)
    assert torch.are_deterministic_algorithms_enabled() == before  # the mode ended with the run


@pytest.mark.parametrize("preset,teacher", [("synthetic-cpu", "appearance"),
                                            ("synthetic-cpu-paper", "caption")])
def test_compile_hot_modules_wraps_the_conv_stacks_and_the_teacher(preset, teacher):
    from ms2d.models import MS2D, model_config
    from ms2d.train.runtime import compile_hot_modules

    cfg = resolve(preset, TINY)
    cfg.model = model_config(cfg.train.model, cfg.model, feature_dim=8, vocab_size=20)
    model = compile_hot_modules(MS2D(cfg.model))  # compiles lazily, at the first call
    assert all(s._compiled_call_impl is not None for s in model.convs)
    assert getattr(model, teacher)._compiled_call_impl is not None


def test_distributed_gpu_run_without_a_gpu_says_what_to_do(monkeypatch):
    from ms2d.train.runtime import distributed

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    with pytest.raises(RuntimeError, match="train.device=cpu"):
        distributed(torch.device("cuda"))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setenv("LOCAL_RANK", "1")
    with pytest.raises(RuntimeError, match="--nproc_per_node 1"):
        distributed(torch.device("cuda"))
