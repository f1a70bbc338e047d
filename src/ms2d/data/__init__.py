"""Data: annotation records and readers, feature stores, vocabulary, the simulated benchmark."""

from .records import DataError, Query

__all__ = ["DataError", "Query"]
