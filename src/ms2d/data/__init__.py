"""Data: annotation records and readers, feature stores, vocabulary, the simulated benchmark."""

from .records import DataError, DataWarning, Query

__all__ = ["DataError", "DataWarning", "Query"]
