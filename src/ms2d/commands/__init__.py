"""One module per ``ms2d`` sub-command.

Each module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``.
``ms2d.cli`` registers the modules listed in ``COMMANDS``.
"""

COMMANDS = [
    "quickstart",
    "simulate",
    "simulate_features",
    "train",
    "evaluate",
    "predict",
    "extract",
    "captions",
    "convert",
    "info",
    "demo",
]
