"""The data drflow moves around: captured resources, recovery points and per-resource outcomes."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from enum import Enum, StrEnum
from typing import Any

from pydantic import BaseModel, Field, computed_field

SCHEMA_VERSION = 1


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: equal content gives equal bytes (and hashes)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def resource_key(type_: str, source_id: str) -> str:
    return f"{type_}/{source_id}"


class Resource(BaseModel):
    """One captured AWS resource, normalised so that it can be recreated from this record alone.

    `config` refers to other resources by their *key* (never by a raw id), so that recovery can swap
    in the recovered ids of the dependencies.
    """

    type: str
    source_id: str
    arn: str = ""
    name: str = ""
    config: dict[str, Any] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    dependencies: list[str] = Field(default_factory=list)
    data: dict[str, Any] = Field(default_factory=dict)
    # "<service>:<name>" references to another service's resource (`rds:orders`), which a handler cannot
    # resolve alone (no service module reads another's); core.scope.link turns them into dependencies
    links: list[str] = Field(default_factory=list)
    # "<service>:<name or id>" of resources this one merely mentions (a bucket or a security group named in a
    # policy): ordered before it and handed to it when they are protected too, but never pulled into scope
    refs: list[str] = Field(default_factory=list)
    # what other resources' documents may name this one by (core/references.py), as the source answers it: name
    # -> endpoint ({"address": "shop-db.abc.us-east-1.rds.amazonaws.com"}); the handler's `Applied.endpoints`
    # gives the recovered one under the same name. Not hashed: an endpoint follows from the config
    endpoints: dict[str, str] = Field(default_factory=dict)

    @property
    def key(self) -> str:
        return resource_key(self.type, self.source_id)

    @property
    def label(self) -> str:
        return f"{self.type} {self.source_id}" + (f" ({self.name})" if self.name else "")

    @computed_field  # stored in the recovery point beside the content it hashes
    @property
    def content_hash(self) -> str:
        body = {"type": self.type, "config": self.config, "tags": self.tags,
                "dependencies": sorted(self.dependencies), "data": self.data}
        return hashlib.sha256(canonical_json(body).encode()).hexdigest()


class Mode(StrEnum):
    """What an engine run is for: nightly staging of the pilot light, a failover, a drill beside production,
    or a failback (the primary is the side written to)."""

    STAGE = "stage"
    RECOVER = "recover"
    DRILL = "drill"
    FAILBACK = "failback"


class Phase(StrEnum):
    """The recovery phases, in the order an SRE reads them (a handler's `phase`): a service's resources mostly
    wait for the previous phase's (subnets before databases, databases before the servers that need them,
    servers before targets; serverless and container compute after the load balancers it registers with, and
    after its images). TRAFFIC last: DNS records and front doors (CloudFront, API Gateway domains) that send users
    to the recovered workload, changed only once what they point at is healthy (core/health.py). OTHER: a type no
    handler of this registry knows (a recovery point from another version)."""

    NETWORK = "network"
    IAM = "iam"
    DATA = "data"
    SERVERS = "servers"
    LOAD_BALANCERS = "load_balancers"
    COMPUTE = "compute"
    TRAFFIC = "traffic"
    OTHER = "other"


class Outcome(str, Enum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    ADOPTED = "adopted"
    SKIPPED = "skipped"
    FAILED = "failed"


class ResourceResult(BaseModel):
    """What happened to one resource in one run."""

    key: str
    type: str
    source_id: str
    name: str = ""
    outcome: Outcome
    recovered_id: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    error: str | None = None
    # source endpoint -> recovered endpoint (Resource.endpoints paired with the handler's Applied.endpoints)
    endpoints: dict[str, str] = Field(default_factory=dict)
    # a resource not staged (made at failover only): its source endpoints, which its staged dependants keep
    # tonight without a warning (the failover translates them)
    deferred: list[str] = Field(default_factory=list)
    started: datetime | None = None
    ended: datetime | None = None

    @property
    def seconds(self) -> float | None:
        if self.started and self.ended:
            return (self.ended - self.started).total_seconds()
        return None


class Endpoint(BaseModel):
    account_id: str
    region: str


class RecoveryPoint(BaseModel):
    """An immutable snapshot of the protected workload, stored in the vault on the recovery side."""

    schema_version: int = SCHEMA_VERSION
    id: str
    plan_name: str
    created_at: datetime
    source: Endpoint
    recovery: Endpoint
    plan: dict[str, Any]
    resources: list[Resource]
    complete: bool = True
    # tagged resources in scope that no handler protects (core.coverage): {"kind", "name", "arn"}
    not_protected: list[dict[str, Any]] = Field(default_factory=list)

    @staticmethod
    def new_id(now: datetime | None = None) -> str:
        now = now or datetime.now(timezone.utc)
        return now.strftime("%Y%m%dT%H%M%S") + f"{now.microsecond // 1000:03d}Z"
