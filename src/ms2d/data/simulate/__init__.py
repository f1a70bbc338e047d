"""Simulated data: the family of worlds (``worlds``), the grammar benchmark (``grammar``) and
features for the real annotation files (``real``). ``docs/simulator.md`` tells the stories."""

from .grammar import (
    ACTIONS,
    APPEARANCES,
    OBJECTS,
    OUTPUT_FILES,
    SPLITS,
    SimConfig,
    bow_linear_residual,
    event_appearance,
    simulate,
)
from .moments import MOMENT_SOURCES
from .render import FEATURE_KINDS
from .worlds import WORLDS, list_worlds, world_config

__all__ = [
    "ACTIONS",
    "APPEARANCES",
    "FEATURE_KINDS",
    "MOMENT_SOURCES",
    "OBJECTS",
    "OUTPUT_FILES",
    "SPLITS",
    "WORLDS",
    "SimConfig",
    "bow_linear_residual",
    "event_appearance",
    "list_worlds",
    "simulate",
    "world_config",
]
