"""The Python snippet of docs/api.md (pasted into the README) runs as written.

Only the two paths change: the tiny session checkpoint and a tiny PyAV-written video.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from conftest import write_video

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def snippet() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert blocks, f"{DOC} has no python block"
    return blocks[0]


def test_snippet_is_short() -> None:
    code = [line for line in snippet().splitlines() if line.strip()]
    assert len(code) < 10, code
    assert '"runs/my-run"' in snippet() and '"my_video.mp4"' in snippet()


def test_snippet_runs(tiny_run: Path, needs_backbone: None, tmp_path: Path) -> None:
    video = write_video(tmp_path / "my_video.mp4", seconds=4.0, fps=8, size=(75, 101))
    code = (snippet().replace('"runs/my-run"', repr(str(tiny_run)))
            .replace('"my_video.mp4"', repr(str(video))))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(DOC), "exec"), {"__name__": "__readme__"})
    lines = out.getvalue().splitlines()
    assert len(lines) == 2, lines
    for line in lines:
        moments = re.findall(r"\((\d+\.\d+), (\d+\.\d+), (0\.\d+|1\.0)\)", line)
        assert len(moments) == 3, line
        assert all(0 <= float(s) < float(e) <= 4.0 + 0.1 for s, e, _ in moments)


@pytest.mark.parametrize("name", ["load", "encode_video", "predict"])
def test_snippet_uses_the_public_api(name: str) -> None:
    assert f".{name}(" in snippet()
