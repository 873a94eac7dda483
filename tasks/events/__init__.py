"""EventBridge: custom event buses and the rules (the default bus's included) that set an application going."""

from .buses import EventBusHandler
from .rules import RuleHandler

__all__ = ["EventBusHandler", "RuleHandler"]
