"""Lambda: functions recreated from the code the vault keeps (`lambda` is a Python keyword)."""

from .functions import FunctionHandler

__all__ = ["FunctionHandler"]
