"""``ms2d demo``: a local web page to search videos with a trained checkpoint."""

from __future__ import annotations

import argparse
import re
import sys

from ._common import check_input, count, number

#: a host name or an IPv4 / IPv6 address (what the server binds to)
_HOST = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|[0-9A-Fa-f:.]+)$")

NAME = "demo"
HELP = ("Serve a local web page: pick or upload a video, type a query, see the ranked moments "
        "on a timeline and click one to jump there (needs pip install 'ms2d[demo,video]').")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, metavar="RUN",
                        help="run folder (its best.pt) or checkpoint .pt file")
    parser.add_argument("--videos", metavar="DIR", help="a folder of videos to offer")
    parser.add_argument("--upload-dir", default="ms2d-demo-uploads", metavar="DIR",
                        help="where uploaded videos are kept (default ./ms2d-demo-uploads)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this computer only)")
    parser.add_argument("--port", type=count(1, 65535), default=8000, help="port (default 8000)")
    parser.add_argument("--fps", type=number(gt=0, max=1000), default=None,
                        help="frames sampled per second when extracting (default 2)")
    parser.add_argument("--max-upload-mb", type=count(1, 10**6), default=2048,
                        help="largest upload accepted, in MB (default 2048)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 ... (default auto)")


def run(args: argparse.Namespace) -> int:
    from ..files import check_output_dir
    from ..utils import check_device

    if not _HOST.match(args.host or ""):
        raise ValueError(f"--host {args.host!r}: not a host name or address (e.g. 127.0.0.1, "
                         "0.0.0.0, localhost)")
    check_device(args.device, "--device")
    check_input(args.checkpoint, "--checkpoint")
    if args.videos is not None:
        check_input(args.videos, "--videos", file_ok=False)
    check_output_dir(args.upload_dir, "--upload-dir")
    try:
        import flask  # noqa: F401
    except ImportError:
        print("ms2d demo: error: the demo needs Flask: pip install 'ms2d[demo]'", file=sys.stderr)
        return 2
    from ..api import load
    from ..demo import create_app

    retriever = load(args.checkpoint, device=args.device)
    app = create_app(retriever, videos=args.videos, upload_dir=args.upload_dir,
                     max_upload_mb=args.max_upload_mb, fps=args.fps)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: listening on {args.host}: anyone who can reach it can upload files",
              file=sys.stderr)
    print(f"ms2d demo: {retriever!r}")
    print(f"open http://{args.host}:{args.port}/  (Ctrl-C to stop)")
    app.run(host=args.host, port=args.port, threaded=True, debug=False)
    return 0
