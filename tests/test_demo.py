"""``ms2d demo``: the Flask app through its test client, and (when Chromium is installed) the
page end to end in headless Chromium. Skips without Flask / the video extra."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from conftest import KNOWN_QUERIES

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def app(tiny_run: Path, video_folder: Path, needs_backbone: None,
        tmp_path_factory: pytest.TempPathFactory):
    pytest.importorskip("flask")
    import ms2d
    from ms2d.demo import create_app

    uploads = tmp_path_factory.mktemp("uploads")
    return create_app(ms2d.load(tiny_run, device="cpu"), videos=video_folder, upload_dir=uploads,
                      max_upload_mb=1)


def test_page_and_video_list(app) -> None:
    c = app.test_client()
    page = c.get("/")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "<video" in text and "efficientnet-lite0 1280-d" in text and "{{" not in text
    vids = c.get("/api/videos").get_json()["videos"]
    assert {v["id"] for v in vids} == {"broken.mp4", "normal.mp4", "one_frame.mp4"}


def test_search_returns_ranked_moments(app) -> None:
    c = app.test_client()
    r = c.post("/api/search", json={"video": "normal.mp4", "query": KNOWN_QUERIES[0], "top_k": 3})
    assert r.status_code == 200, r.get_json()
    d = r.get_json()
    assert d["duration"] == pytest.approx(3.0, abs=0.05) and d["num_clips"] == 3
    assert [m["rank"] for m in d["moments"]] == [1, 2, 3]
    scores = [m["score"] for m in d["moments"]]
    assert scores == sorted(scores, reverse=True)
    assert len(d["timeline"]["times"]) == len(d["timeline"]["best"]) == 300
    assert d["warnings"] == []
    listed = {v["id"]: v for v in c.get("/api/videos").get_json()["videos"]}
    assert listed["normal.mp4"]["encoded"]  # features cached for the next query
    d2 = c.post("/api/search", json={"video": "normal.mp4", "query": "zebra xylophone"}).get_json()
    assert "none of the words" in d2["warnings"][0]


@pytest.mark.parametrize("body, status, message", [
    ({"video": "normal.mp4", "query": "  "}, 400, "empty"),
    ({"video": "normal.mp4"}, 400, "type a query"),
    ({"video": "nope.mp4", "query": "a laptop"}, 404, "unknown video"),
    ({"video": "broken.mp4", "query": "a laptop"}, 400, "corrupt"),
    ({"video": "normal.mp4", "query": "a laptop", "top_k": 0}, 400, "top_k"),
    ({"video": "normal.mp4", "query": "a laptop", "top_k": "x"}, 400, "top_k"),
])
def test_search_errors(app, body: dict, status: int, message: str) -> None:
    r = app.test_client().post("/api/search", json=body)
    assert r.status_code == status and message in r.get_json()["error"]


def test_media_supports_range_requests(app, video_folder: Path) -> None:
    c = app.test_client()
    full = (video_folder / "normal.mp4").read_bytes()
    r = c.get("/media/normal.mp4", headers={"Range": "bytes=10-99"})
    assert r.status_code == 206 and r.data == full[10:100]
    assert c.get("/media/../conftest.py").status_code == 404
    assert c.get("/media/nope.mp4").status_code == 404


def test_upload_then_search(app, video_folder: Path) -> None:
    c = app.test_client()
    data = {"file": (io.BytesIO((video_folder / "normal.mp4").read_bytes()), "../My Clip.mp4")}
    r = c.post("/api/upload", data=data, content_type="multipart/form-data")
    assert r.status_code == 200, r.get_json()
    vid = r.get_json()["id"]
    assert vid == "My_Clip.mp4"  # sanitised name, kept inside the upload folder
    r = c.post("/api/search", json={"video": vid, "query": KNOWN_QUERIES[1], "top_k": 2})
    assert r.status_code == 200 and len(r.get_json()["moments"]) == 2
    bad = c.post("/api/upload", data={"file": (io.BytesIO(b"x"), "notes.txt")},
                 content_type="multipart/form-data")
    assert bad.status_code == 400 and "not a video" in bad.get_json()["error"]
    big = c.post("/api/upload", data={"file": (io.BytesIO(b"0" * (2 << 20)), "big.mp4")},
                 content_type="multipart/form-data")
    assert big.status_code == 413
    assert c.post("/api/upload", data={}).status_code == 400


def test_demo_command_help() -> None:
    from ms2d.cli import build_parser

    help_text = build_parser().format_help()
    assert "demo" in help_text and "predict" in help_text and "extract" in help_text


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (/usr/bin/chromium)")
def test_page_end_to_end_in_headless_chromium(app, tmp_path: Path) -> None:
    """The page loads the video list, runs the search given in the URL, renders the ranked
    moments and clicking the first one seeks the player to its start."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = (f"http://127.0.0.1:{server.port}/?video=normal.mp4&q="
               f"{KNOWN_QUERIES[0].replace(' ', '+')}&seek=1")
        profile = tmp_path / "profile"
        out = subprocess.run(
            [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
             f"--user-data-dir={profile}", "--virtual-time-budget=20000", "--dump-dom", url],
            capture_output=True, text=True, timeout=120)
        dom = out.stdout
        png = tmp_path / "page.png"
        subprocess.run([str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
                        f"--user-data-dir={profile}", "--virtual-time-budget=20000",
                        "--window-size=1200,800", f"--screenshot={png}", url],
                       capture_output=True, timeout=120)
    finally:
        server.shutdown()
        shutil.rmtree(tmp_path / "profile", ignore_errors=True)
    assert 'data-state="done"' in dom, dom[-2000:]
    starts = re.findall(r'<li data-start="([0-9.]+)"', dom)
    assert len(starts) == 5
    seeked = re.search(r'data-seeked-to="([0-9.]+)"', dom)
    assert seeked and float(seeked.group(1)) == pytest.approx(float(starts[0]))
    assert dom.count("<rect") == 5 and "<polyline" in dom
