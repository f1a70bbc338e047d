"""The annotation formats, one module each, behind one registry: :data:`FORMATS` maps a
format's name to its module, which gives

- ``NAME``, ``PROTOCOLS`` (the first is its default) and ``SUFFIX`` (a path ending in it names
  one file rather than a folder);
- ``split_files(split)``: the file names in a folder that hold ``split``;
- ``read(path, split, val_fraction=..., seed=...)``: the raw records of one split
  (:class:`~ms2d.data.formats.common.Read`), windows not yet judged by a protocol;
- ``output_files(folder, split)`` and ``write(queries, paths)``.

:mod:`ms2d.data.annotations` applies the protocols and is the public face.
"""

from __future__ import annotations

from types import ModuleType

from . import activitynet, charades_sta, cpl, jsonl

FORMATS: dict[str, ModuleType] = {m.NAME: m for m in (charades_sta, activitynet, cpl, jsonl)}

__all__ = ["FORMATS"]
