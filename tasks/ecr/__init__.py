"""ECR: replica repositories in the recovery region."""

from .repositories import RepositoryHandler

__all__ = ["RepositoryHandler"]
