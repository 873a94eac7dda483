"""DynamoDB: tables, their schema, settings and rows (tables.py; the two ways rows travel: replicas.py, exports.py)."""

from .tables import TableHandler

__all__ = ["TableHandler"]
