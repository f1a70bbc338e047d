"""``ms2d demo``: a local web page to search videos with a trained checkpoint (``[demo]`` extra)."""

from .app import DEMO_INSTALL_HINT, VideoLibrary, create_app

__all__ = ["DEMO_INSTALL_HINT", "VideoLibrary", "create_app"]
