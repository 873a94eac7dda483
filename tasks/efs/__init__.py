"""EFS: file systems kept by EFS replication."""

from .file_systems import FileSystemHandler

__all__ = ["FileSystemHandler"]
