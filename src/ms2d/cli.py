"""The ``ms2d`` command. ``main(argv)`` is what tests call.

Bad input ends a command with one line, ``ms2d <command>: error: <what, where, how to fix>``, and
exit status 2 (argparse's own errors too); never with a traceback. Warnings about the data
(:class:`ms2d.data.records.DataWarning`) are printed as ``ms2d <command>: warning: ...``.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
import warnings

from . import __version__
from .commands import COMMANDS
from .data.records import DataError, DataWarning

#: a config override on the command line: ``section.key=value``
_OVERRIDE = re.compile(r"^(model|train|data)\.[A-Za-z_][A-Za-z0-9_]*=")

#: errors that mean bad input (a value, a path, a file), reported in one line with status 2
BAD_INPUT = (DataError, ValueError, OSError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ms2d",
        description="Weakly supervised video moment retrieval (multi-scale 2D temporal maps).",
    )
    parser.add_argument("--version", action="version", version=f"ms2d {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f".commands.{name}", __package__)
        except ModuleNotFoundError as exc:  # a command whose module is not written yet
            if exc.name and exc.name.startswith(f"{__package__}.commands."):
                continue
            raise
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run, _parser=p)
        for action in p._actions:  # no option means anything when given an empty value
            if action.nargs != 0 and action.type is None and action.choices is None:
                action.type = _text
    return parser


def _text(value: str) -> str:
    if value == "":
        raise argparse.ArgumentTypeError("expected a non-empty value, got ''")
    return value


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """``parser.parse_args``, except that ``KEY=VALUE`` config overrides may stand anywhere on
    the command line (argparse alone takes them only in one run of positional arguments)."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        sub = getattr(args, "_parser", parser)
        if hasattr(args, "overrides"):
            stray = [a for a in extra if not _OVERRIDE.match(a)]
            if not stray:
                args.overrides = list(args.overrides or []) + extra
                return args
            extra = stray
        sub.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def describe_error(exc: BaseException) -> str:
    """One line for an error: ms2d's own messages as they are; an operating-system error with
    its file and the reason."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        other = f" -> {exc.filename2}" if exc.filename2 else ""
        return f"{where}{exc.strerror}{other}"
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, KeyError) and text.startswith("'"):
        text = text.strip("'")
    return " ".join(text.split("\n"))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parse_args(parser, argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    name = args.command
    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, DataWarning):
            print(f"ms2d {name}: warning: {message}", file=sys.stderr)
        else:
            shown(message, category, filename, lineno, file, line)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", DataWarning)
            warnings.showwarning = show
            return int(args._run(args) or 0)
    except BAD_INPUT as exc:
        print(f"ms2d {name}: error: {describe_error(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ms2d {name}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
