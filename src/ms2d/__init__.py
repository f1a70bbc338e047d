"""ms2d: weakly supervised video moment retrieval with multi-scale 2D temporal maps."""

__version__ = "0.1.0"
