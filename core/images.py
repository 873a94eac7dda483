"""Container image URIs: which ECR repository of the source an image lives in, and its URI in the replica.

Shared by the handlers whose resources name images (ECS task definitions, Lambda container functions) and the
ECR handler that replicates the repositories: the repository is named by link (`ecr:<name>`: ECR's resource
named so, its one kind of resource), so that it is pulled into scope and recovered first, and its recovered id
is the replica repository's URI.
"""

from __future__ import annotations

import re

ECR_SERVICE = "ecr"  # the service part of the link (core.scope)
ECR_URI_RE = re.compile(r"^(?P<account>[0-9]{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
                        r"(?P<repository>[a-z0-9][a-z0-9._/-]*?)(?P<reference>[:@].+)?$")


def repository_uri(account: str, region: str, repository: str) -> str:
    return f"{account}.dkr.ecr.{region}.amazonaws.com/{repository}"


def source_repository(uri: str, account: str, region: str) -> str | None:
    """The name of the repository `uri` points at when it is in the given (source) registry, else None
    (a public image, another account's or region's registry: used as it is)."""
    match = ECR_URI_RE.match(uri)
    if match and match["account"] == account and match["region"] == region:
        return match["repository"]
    return None


def repository_link(repository: str) -> str:
    """The link (core.scope.link) that makes the repository a dependency of the resource naming the image."""
    return f"{ECR_SERVICE}:{repository}"


def rewritten(uri: str, replica_repository_uri: str) -> str:
    """The image URI in the replica: same tag or digest, the replica repository's registry and name."""
    match = ECR_URI_RE.match(uri)
    if not match:
        raise ValueError(f"{uri} is not an ECR image URI")
    return replica_repository_uri + (match["reference"] or "")
