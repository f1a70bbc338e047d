"""Declared settings: a config field carries its own rule, and one ``check_fields`` enforces them.

A field of a config dataclass is declared with :func:`setting` when its values are limited::

    supervision: str = setting("weak", choices=("weak", "full"))  # comment as usual
    epochs: int = setting(10, min=1)
    lr: float = setting(1e-4, gt=0)
    scales: tuple[int, ...] = setting((64, 24, 4), nonempty=True, min=1)

Every field, declared with :func:`setting` or not, is also checked against its annotated type
(``bool``, ``int``, ``float`` (finite), ``str``, ``tuple[int, ...]``). A field added later only
needs its declaration: nothing else refers to field names. Rules (all optional):

``choices``  allowed values (a tuple, or a function returning one, for lists known elsewhere);
             a wrong value gets a "did you mean" from :mod:`difflib`
``min`` / ``max``  inclusive bounds; ``gt`` / ``lt``: exclusive bounds (tuples: every item)
``nonempty``  a tuple needs at least one item
``check``    ``fn(value) -> str | None``: a further rule; the string says what is wrong

:func:`check_fields` returns one message per bad field, each naming ``section.key``, the value
and what is allowed, so that a caller can report every mistake of a config at once.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Callable, Iterable
from typing import Any

_RULES = ("choices", "min", "max", "gt", "lt", "nonempty", "check")


class ConfigError(ValueError):
    """A config value that is not allowed; the message names the key and what is allowed."""


def setting(default: Any, *, choices: tuple | Callable[[], Iterable] | None = None,
            min: float | None = None, max: float | None = None,  # noqa: A002 - rule names
            gt: float | None = None, lt: float | None = None, nonempty: bool = False,
            check: Callable[[Any], str | None] | None = None) -> Any:
    """A dataclass field with a default and the rules its values must follow."""
    meta = {k: v for k, v in (("choices", choices), ("min", min), ("max", max), ("gt", gt),
                              ("lt", lt), ("nonempty", nonempty or None), ("check", check))
            if v is not None}
    return dataclasses.field(default=default, metadata={"rules": meta})


def rules(f: dataclasses.Field) -> dict[str, Any]:
    """The rules declared for field ``f`` (empty when it has none)."""
    return dict(f.metadata.get("rules", {}))


def allowed_choices(f: dataclasses.Field) -> tuple | None:
    choices = rules(f).get("choices")
    if callable(choices):
        choices = choices()
    return tuple(choices) if choices is not None else None


def did_you_mean(value: object, choices: Iterable[object]) -> str:
    """``" (did you mean 'weak'?)"`` when a choice is close to ``value``, else ``""``."""
    names = [str(c) for c in choices]
    text = str(value)
    lower = {n.lower(): n for n in names}
    if text.lower() in lower:
        return f" (did you mean {lower[text.lower()]!r}?)"
    near = difflib.get_close_matches(text, names, n=1, cutoff=0.6) or difflib.get_close_matches(
        text.lower(), list(lower), n=1, cutoff=0.6)
    return f" (did you mean {lower.get(near[0], near[0])!r}?)" if near else ""


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return "[" + ",".join(str(v) for v in value) + "]"
    return repr(value) if isinstance(value, str) else str(value)


def _type_problem(kind: str, value: Any) -> str | None:
    """What is wrong with ``value`` for the annotation ``kind``, or None."""
    kind = kind.replace(" ", "")
    if kind == "bool":
        return None if isinstance(value, bool) else "expected true or false"
    if kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else "expected an integer"
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "expected a number"
        return None if math.isfinite(value) else "expected a finite number"
    if kind == "str":
        return None if isinstance(value, str) else "expected a string"
    if kind.startswith("tuple[int"):
        if not isinstance(value, tuple) or any(
                isinstance(v, bool) or not isinstance(v, int) for v in value):
            return "expected a list of integers, e.g. [16,8,4]"
    return None


def format_number(x: float) -> str:
    """``4294967295`` rather than ``4.29497e+09``; ``0.999``; ``1e-08``."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(float(x))


def _bounds(r: dict[str, Any]) -> str:
    parts = [f"{op} {format_number(r[k])}" for k, op in (("gt", ">"), ("min", ">="), ("lt", "<"),
                                                 ("max", "<=")) if k in r]
    return " and ".join(parts)


def _choice(c: object) -> str:
    text = str(c)
    return repr(text) if text == "" or any(ch in text for ch in ", ") else text


def _in_bounds(x: float, r: dict[str, Any]) -> bool:
    return not (("min" in r and x < r["min"]) or ("max" in r and x > r["max"])
                or ("gt" in r and x <= r["gt"]) or ("lt" in r and x >= r["lt"]))


def field_problem(f: dataclasses.Field, value: Any, key: str) -> str | None:
    """The message for a bad ``value`` of field ``f`` (named ``key``), or None when allowed."""
    shown = f"{key}={_show(value)}"
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    wrong = _type_problem(kind, value)
    if wrong:
        return f"{shown}: {wrong}"
    r = rules(f)
    choices = allowed_choices(f)
    if choices is not None and value not in choices:
        listed = ", ".join(_choice(c) for c in choices)
        return f"{shown} is not allowed: choose one of {listed}{did_you_mean(value, choices)}"
    if r.get("nonempty") and isinstance(value, tuple) and not value:
        return f"{shown}: give at least one value"
    bounds = _bounds(r)
    if bounds:
        items = value if isinstance(value, tuple) else (value,)
        if any(not _in_bounds(x, r) for x in items):
            what = "every value must be" if isinstance(value, tuple) else "must be"
            return f"{shown}: {what} {bounds}"
    check = r.get("check")
    if check is not None:
        problem = check(value)
        if problem:
            return f"{shown}: {problem}"
    return None


def check_fields(obj: Any, section: str) -> list[str]:
    """One message per field of the dataclass ``obj`` whose value breaks its type or rules."""
    problems = []
    for f in dataclasses.fields(obj):
        unknown = set(rules(f)) - set(_RULES)
        if unknown:  # a typo in a declaration is the programmer's error, not the user's
            raise TypeError(f"{type(obj).__name__}.{f.name}: unknown rule(s) {sorted(unknown)}")
        problem = field_problem(f, getattr(obj, f.name), f"{section}.{f.name}")
        if problem:
            problems.append(problem)
    return problems


def raise_problems(problems: list[str]) -> None:
    """Raise one :class:`ConfigError` listing ``problems`` (nothing when there are none)."""
    if len(problems) == 1:
        raise ConfigError(problems[0])
    if problems:
        raise ConfigError(f"{len(problems)} settings are not allowed: " + "; ".join(problems))


__all__ = ["ConfigError", "setting", "check_fields", "did_you_mean", "field_problem",
           "raise_problems", "rules", "allowed_choices"]
