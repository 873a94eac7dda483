"""IAM: roles, customer managed policies and instance profiles."""

from .policies import PolicyHandler
from .roles import RoleHandler
from .profiles import InstanceProfileHandler

__all__ = ["PolicyHandler", "RoleHandler", "InstanceProfileHandler"]
