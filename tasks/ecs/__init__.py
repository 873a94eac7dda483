"""ECS: clusters, task definitions and services."""

from .services import EcsClusterHandler, EcsServiceHandler
from .task_definitions import TaskDefinitionHandler

__all__ = ["EcsClusterHandler", "EcsServiceHandler", "TaskDefinitionHandler"]
