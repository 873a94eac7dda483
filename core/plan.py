"""The plan: what to protect and where to recover it.

The YAML field names (see shared plan.example.yaml) are a contract with users: fields may be added,
never renamed. Every check that needs no AWS call lives here, so that a bad plan is refused before
anything is read or written; checks that need the recovery region (AZs offered, CIDRs in use) live in
`core.preflight`.
"""

from __future__ import annotations

import functools

import ipaddress
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError, ValidationInfo,
                      field_validator, model_validator)

from core.graph import find_cycle

ACCOUNT_RE = re.compile(r"^\d{12}$")
NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38}[A-Za-z0-9])?$")
ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
AZ_RE = re.compile(r"^(?P<region>[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d)(?P<letter>[a-z])$")
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
CERT_ARN_RE = re.compile(r"^arn:aws[a-z-]*:acm:(?P<region>[a-z0-9-]+):\d{12}:certificate/[\w-]+$")
KMS_ARN_RE = re.compile(r"^arn:aws[a-z-]*:kms:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):(key/[\w-]+|alias/[\w/+=,.@-]+)$")
KMS_ID_RE = re.compile(r"^(mrk-[0-9a-f-]{32,36}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")
KMS_ALIAS_RE = re.compile(r"^alias/[\w/+=,.@-]{1,250}$")
OTHER_DEPENDENCY_RE = re.compile(r"^(?P<service>[a-z0-9]+):(?P<name>.+)$")  # `rds:orders` in servers.*.depends_on
KMS_CREATE = "create"
# The longest RPO a plan may state: a week. A longer one is a typo (14400 for 1440, seconds for minutes) more often
# than a wish, and it would quietly switch the safeguards that follow the RPO off: the RPO watch would not alarm for
# weeks, and a database snapshot or server image up to half of it old would be reused as "fresh". A week is already
# the least often a nightly replication that protects anything is scheduled.
MAX_RPO_MINUTES = 7 * 24 * 60
# How deep a plan file may nest: a plan is 5 levels deep; YAML's composer recurses per level, so 10,000 `[`
# would end in a RecursionError, not in a message
MAX_DEPTH = 32
SAME_ACCOUNT, CROSS_ACCOUNT = "same-account", "cross-account"


class PlanError(ValueError):
    """A plan that cannot be used; `problems` lists every (field, message) found."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("\n".join(f"{field}: {msg}" for field, msg in problems))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _account(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not ACCOUNT_RE.match(value):
        raise ValueError("must be a 12-digit AWS account id, quoted in YAML "
                         "(an unquoted number loses its leading zeros)")
    return value


@functools.cache
def _ec2_regions() -> frozenset[str]:
    """The regions botocore knows EC2 in (offline: the list ships with botocore), read once per process: a new
    Session loads the endpoint data each time, and every plan parse asked (measured hot in a flow's profile)."""
    from boto3.session import Session

    return frozenset(Session().get_available_regions("ec2"))


def _region(value: str) -> str:
    if not REGION_RE.match(value):
        raise ValueError(f"{value!r} is not an AWS region name (like us-east-1)")
    known = _ec2_regions()
    if known and value not in known:
        raise ValueError(f"{value!r} is not a region where EC2 is available")
    return value


def _role_arn(value: str | None) -> str | None:
    if value is not None and not ROLE_ARN_RE.match(value):
        raise ValueError(f"{value!r} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
    return value


class Credentials(_Model):
    """How to get credentials for one side; omitted: boto3's default chain."""

    profile: str | None = None
    block: str | None = Field(None, description="name of a prefect-aws AwsCredentials block")
    role_arn: str | None = None
    external_id: str | None = None

    _role = field_validator("role_arn")(lambda cls, v: _role_arn(v))

    @model_validator(mode="after")
    def _one_source(self) -> "Credentials":
        given = [k for k in ("profile", "block", "role_arn") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("give exactly one of profile, block, role_arn"
                             + (f" (got {', '.join(given)})" if given else ""))
        if self.external_id and not self.role_arn:
            raise ValueError("external_id only applies with role_arn")
        return self


class Source(_Model):
    account_id: str
    region: str
    credentials: Credentials | None = None

    _acct = field_validator("account_id", mode="before")(lambda cls, v: _account(v))
    _reg = field_validator("region")(lambda cls, v: _region(v))


class Recovery(Source):
    role_arn: str | None = None
    external_id: str | None = None
    # omitted: derived from the account ids. Stated, it is checked against them, so that a typo in an account id
    # cannot silently turn a separate recovery account into the source account (or the other way round)
    mode: Literal["same-account", "cross-account"] | None = None

    _role = field_validator("role_arn")(lambda cls, v: _role_arn(v))

    @model_validator(mode="after")
    def _role_account(self) -> "Recovery":
        if self.external_id and not self.role_arn:
            raise ValueError("external_id needs role_arn")
        if self.role_arn and self.role_arn.split(":")[4] != self.account_id:
            raise ValueError(f"role_arn is in account {self.role_arn.split(':')[4]}, "
                             f"not the recovery account {self.account_id}")
        return self


class Scope(_Model):
    tags: dict[str, str] = Field(default_factory=dict)
    resource_types: list[str] = Field(default_factory=list)

    @field_validator("resource_types")
    @classmethod
    def _known(cls, v: list[str], info: ValidationInfo) -> list[str]:
        known = (info.context or {}).get("resource_types")
        if known:
            unknown = [t for t in v if t not in known]
            if unknown:
                raise ValueError(f"unknown resource type(s) {', '.join(unknown)}; "
                                 f"supported: {', '.join(sorted(known))}")
        return v


class Network(_Model):
    az_map: dict[str, str] = Field(default_factory=dict)
    cidr_map: dict[str, str] = Field(default_factory=dict)
    # a drill's own addresses (source CIDR -> drill CIDR), for a drill VPC that must not overlap what runs in the
    # recovery region; empty: a drill uses cidr_map like a failover (it is isolated, so the same CIDRs are fine)
    drill_cidr_map: dict[str, str] = Field(default_factory=dict)

    def cidrs_for(self, drill: bool) -> dict[str, str]:
        return self.drill_cidr_map if drill and self.drill_cidr_map else self.cidr_map

    @field_validator("az_map")
    @classmethod
    def _azs(cls, v: dict[str, str]) -> dict[str, str]:
        for src, dst in v.items():
            for az in (src, dst):
                if not AZ_RE.match(az):
                    raise ValueError(f"{az!r} is not an availability zone name (like us-east-1a)")
        return v

    @field_validator("cidr_map", "drill_cidr_map")
    @classmethod
    def _cidrs(cls, v: dict[str, str]) -> dict[str, str]:
        nets: list[tuple[ipaddress.IPv4Network, ipaddress.IPv4Network]] = []
        for src, dst in v.items():
            pair = []
            for cidr in (src, dst):
                try:
                    pair.append(ipaddress.IPv4Network(cidr, strict=True))
                except ValueError as exc:
                    raise ValueError(f"{cidr!r} is not an IPv4 CIDR block ({exc})") from None
            if pair[0].prefixlen != pair[1].prefixlen:
                raise ValueError(f"{src} -> {dst}: both sides need the same prefix length, "
                                 "so that every address has exactly one counterpart")
            nets.append((pair[0], pair[1]))
        for side, label in ((0, "source"), (1, "target")):
            for i, a in enumerate(nets):
                for b in nets[i + 1:]:
                    if a[side].overlaps(b[side]):
                        raise ValueError(f"{label} CIDRs {a[side]} and {b[side]} overlap")
        return v


class HealthCheck(_Model):
    """When a recovered server counts as up, beyond `running`: a TCP port answers, and/or EC2 status checks pass."""

    port: StrictInt | None = Field(None, ge=1, le=65535)
    status_checks: StrictBool = False
    timeout_seconds: StrictInt = Field(900, ge=1, le=7200)


class Server(_Model):
    # other servers (Name tag or instance id), or "<service>:<name>" for a data resource such as `rds:orders`
    # (a DB instance or Aurora cluster identifier); resolved against the discovered workload
    depends_on: list[str] = Field(default_factory=list)
    health_check: HealthCheck | None = None


class Vault(_Model):
    bucket: str | None = None
    keep: StrictInt = Field(14, ge=1, le=1000)

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, v: str | None) -> str | None:
        if v is not None and (not BUCKET_RE.match(v) or ".." in v):
            raise ValueError(f"{v!r} is not a valid S3 bucket name (3-63 of a-z 0-9 . -)")
        return v


class Databases(_Model):
    """RDS and Aurora: how many snapshot copies to keep per database in the recovery region."""

    keep_snapshots: StrictInt = Field(7, ge=1, le=100)


class Buckets(_Model):
    """S3: how replica buckets are named. `names` overrides the rule for single buckets."""

    replica_name: str = "{bucket}-{region}"
    names: dict[str, str] = Field(default_factory=dict)

    @field_validator("replica_name")
    @classmethod
    def _rule(cls, v: str) -> str:
        try:
            sample = v.format(bucket="b", region="us-west-2", account="111111111111")
        except (KeyError, IndexError, ValueError):
            raise ValueError(f"{v!r}: only {{bucket}}, {{region}} and {{account}} may be used") from None
        if "{bucket}" not in v:
            raise ValueError(f"{v!r} must contain {{bucket}}, or every bucket would get the same replica")
        if not BUCKET_RE.match(sample):
            raise ValueError(f"{v!r} does not make a valid S3 bucket name (3-63 of a-z 0-9 . -)")
        return v

    @field_validator("names")
    @classmethod
    def _names(cls, v: dict[str, str]) -> dict[str, str]:
        for src, dst in v.items():
            if not BUCKET_RE.match(dst) or ".." in dst:
                raise ValueError(f"replica {dst!r} for {src} is not a valid S3 bucket name (3-63 of a-z 0-9 . -)")
        return v


TABLE_DATA_MODES = ("replica", "export")
TABLE_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")  # DynamoDB CreateTable: TableName, 3-255 of [a-zA-Z0-9_.-]


class Tables(_Model):
    """DynamoDB: how each table's rows reach the recovery region. `replica`: a global-table replica there, kept
    current by DynamoDB (same account only: a global table's replicas live in one account); `export`: a nightly
    export to the vault, imported into a new table at failover (needs point-in-time recovery on the table).
    `data` by table name; `default` for the others: `auto` is `replica` in a same-account plan, `export` in a
    cross-account one."""

    data: dict[str, Literal["replica", "export", "auto"]] = Field(default_factory=dict)
    default: Literal["replica", "export", "auto"] = "auto"

    @field_validator("data")
    @classmethod
    def _names(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v:
            if not TABLE_NAME_RE.match(name):
                raise ValueError(f"{name!r} is not a DynamoDB table name (3-255 of letters, digits, _ . -)")
        return v

    def mode_for(self, table: str, cross_account: bool) -> str:
        """`replica` or `export` for one table of a plan."""
        mode = self.data.get(table, self.default)
        return mode if mode != "auto" else ("export" if cross_account else "replica")


class AuditAllow(_Model):
    """A reference to the primary that the recovered workload keeps on purpose (a partner's endpoint in the source
    region, a log archive that stays there): the reference audit lists it as allowed instead of failing on it.
    `resource`: the resource's key, name or source id (as the audit names it); `path`: the document path (may end
    in `*`); `value`: the offending token; `reason`: why it may stay, for the auditor."""

    resource: str = Field(min_length=1)
    path: str | None = Field(None, min_length=1)
    value: str | None = Field(None, min_length=1)
    reason: str = Field(min_length=3)


class Audit(_Model):
    """The reference audit after every failover and drill (`drflow audit`): what it may find and let pass."""

    allow: list[AuditAllow] = Field(default_factory=list)


TRAFFIC_MODES = ("cutover", "report", "none")
# a DNS name as Route 53 lists it (lower case, an optional "*." label first), with or without the final dot
DNS_NAME_RE = re.compile(r"^(\*\.)?([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.?$")
RECORD_TYPES = ("A", "AAAA", "CAA", "CNAME", "DS", "HTTPS", "MX", "NAPTR", "NS", "PTR", "SOA", "SPF", "SRV", "SSHFP",
                "SVCB", "TLSA", "TXT")  # botocore's route53 model, RRType
MAX_HEALTH_TIMEOUT_SECONDS = 6 * 3600


def dns_name(value: str) -> str:
    """A DNS name as drflow compares them: lower case, without the final dot."""
    return value.lower().rstrip(".")


class Traffic(_Model):
    """The last failover phase (`traffic`): the public DNS records and front doors that still send users to the
    primary. Per public hosted zone (`zones`, by zone name) or record set (`records`, "name" or "name TYPE"; wins
    over its zone), one of: `cutover` (drflow changes them, once what they will point at is healthy), `report`
    (drflow lists the exact change batch for a human to apply) or `none` (left alone, not listed). `mode` is the
    choice for every zone not named. Private hosted zones are part of the recovered network and always recovered.
    `health_timeout_seconds`: how long a cutover waits for the recovered targets to be healthy before it gives up,
    leaving the records as they were; `health_poll_seconds`: how often it looks again."""

    mode: Literal["cutover", "report", "none"] = "report"
    zones: dict[str, Literal["cutover", "report", "none"]] = Field(default_factory=dict)
    records: dict[str, Literal["cutover", "report", "none"]] = Field(default_factory=dict)
    # CloudFront (tasks/cloudfront.py): per distribution, by its id or one of its aliases (wins over `records` and
    # `zones` for the aliases); `origin_groups`: stage, nightly, an origin group per switched origin with the recovery
    # origin as its secondary (CloudFront fails over on 5xx by itself, without a control-plane call at failover),
    # for every distribution (true) or those named (ids or aliases), instead of switching origins at failover
    distributions: dict[str, Literal["cutover", "report", "none"]] = Field(default_factory=dict)
    origin_groups: bool | list[str] = False
    health_timeout_seconds: StrictInt = Field(900, ge=0, le=MAX_HEALTH_TIMEOUT_SECONDS)
    health_poll_seconds: StrictInt = Field(15, ge=1, le=600)

    @field_validator("zones")
    @classmethod
    def _zones(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v:
            if not DNS_NAME_RE.match(name.lower()):
                raise ValueError(f"{name!r} is not a DNS zone name (example.com)")
        return {dns_name(k): m for k, m in v.items()}

    @field_validator("distributions")
    @classmethod
    def _distributions(cls, v: dict[str, str]) -> dict[str, str]:
        return {dns_name(k) if "." in k else k: m for k, m in v.items()}

    @field_validator("records")
    @classmethod
    def _records(cls, v: dict[str, str]) -> dict[str, str]:
        out = {}
        for key, mode in v.items():
            name, _, type_ = key.strip().partition(" ")
            if not DNS_NAME_RE.match(name.lower()):
                raise ValueError(f"{key!r}: {name!r} is not a DNS name (www.example.com)")
            if type_ and type_.strip().upper() not in RECORD_TYPES:
                raise ValueError(f"{key!r}: {type_.strip()!r} is not a Route 53 record type ({', '.join(RECORD_TYPES)})")
            out[dns_name(name) + (f" {type_.strip().upper()}" if type_ else "")] = mode
        return out

    def mode_for(self, zone: str, record: str | None = None, record_type: str | None = None) -> str:
        """cutover, report or none for one public zone, or one record set of it."""
        if record is not None:
            name = dns_name(record)
            for key in ((f"{name} {record_type.upper()}",) if record_type else ()) + (name,):
                if key in self.records:
                    return self.records[key]
        return self.zones.get(dns_name(zone), self.mode)

    def mode_for_distribution(self, distribution_id: str, aliases: list[str]) -> str:
        """cutover, report or none for one CloudFront distribution: its own entry in `distributions` (by id, then by
        alias), else the first alias's record set entry, else the entry of the longest zone named in `zones` that
        holds an alias, else `mode`."""
        names = [dns_name(a) for a in aliases]
        for key in [distribution_id, *names]:
            if key in self.distributions:
                return self.distributions[key]
        for name in names:
            if name in self.records:
                return self.records[name]
        zones = sorted((z for z in self.zones for n in names if n == z or n.endswith("." + z)), key=len, reverse=True)
        return self.zones[zones[0]] if zones else self.mode

    def origin_groups_for(self, distribution_id: str, aliases: list[str]) -> bool:
        """Whether this distribution's recovery origins are staged nightly as origin groups' secondaries."""
        if isinstance(self.origin_groups, bool):
            return self.origin_groups
        named = {dns_name(n) if "." in n else n for n in self.origin_groups}
        return distribution_id in named or any(dns_name(a) in named for a in aliases)


def _kms_ref(value: str) -> bool:
    return bool(KMS_ARN_RE.match(value) or KMS_ID_RE.match(value) or KMS_ALIAS_RE.match(value))


class Plan(_Model):
    name: str
    source: Source
    recovery: Recovery
    scope: Scope = Field(default_factory=Scope)
    network: Network = Field(default_factory=Network)
    kms_key_map: dict[str, str] = Field(default_factory=dict)
    servers: dict[str, Server] = Field(default_factory=dict)
    certificates: dict[str, str] = Field(default_factory=dict)
    vault: Vault = Field(default_factory=Vault)
    rpo_minutes: StrictInt = Field(1440, ge=1, le=MAX_RPO_MINUTES)  # strict: YAML reads `yes`/`true` as a bool
    databases: Databases = Field(default_factory=Databases)
    buckets: Buckets = Field(default_factory=Buckets)
    tables: Tables = Field(default_factory=Tables)
    audit: Audit = Field(default_factory=Audit)
    traffic: Traffic = Field(default_factory=Traffic)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError("use 1-40 letters, digits and '-', starting and ending with a letter or digit")
        return v

    @field_validator("certificates")
    @classmethod
    def _certs(cls, v: dict[str, str]) -> dict[str, str]:
        for src, dst in v.items():
            for arn in (src, dst):
                if not CERT_ARN_RE.match(arn):
                    raise ValueError(f"{arn!r} is not an ACM certificate ARN")
        return v

    @model_validator(mode="after")
    def _cross_checks(self) -> "Plan":
        problems: list[tuple[str, str]] = []
        if self.recovery.region == self.source.region:
            problems.append(("recovery.region", f"equals source.region ({self.source.region}); "
                             "a disaster recovery region must be another region"))
        for src, dst in self.network.az_map.items():
            if AZ_RE.match(src)["region"] != self.source.region:
                problems.append((f"network.az_map.{src}", f"is not in source region {self.source.region}"))
            if AZ_RE.match(dst)["region"] != self.recovery.region:
                problems.append((f"network.az_map.{src}",
                                 f"target {dst} is not in recovery region {self.recovery.region}"))
        for src, dst in self.certificates.items():
            if CERT_ARN_RE.match(dst)["region"] != self.recovery.region:
                problems.append((f"certificates.{src}", f"target {dst} is not in recovery region "
                                 f"{self.recovery.region}"))
        problems += self._account_problems()
        problems += self._kms_problems()
        problems += self._table_problems()
        replicas: dict[str, str] = {}
        for src, dst in self.buckets.names.items():
            if dst in replicas:
                problems.append((f"buckets.names.{src}", f"replica {dst} is also the replica of {replicas[dst]}"))
            replicas[dst] = src
        for name, server in self.servers.items():
            for dep in server.depends_on:
                if dep not in self.servers and not OTHER_DEPENDENCY_RE.match(dep):
                    problems.append((f"servers.{name}.depends_on", f"unknown server {dep!r} (a data resource "
                                     "is written <service>:<name>, like rds:orders)"))
        cycle = find_cycle({n: [d for d in s.depends_on if d in self.servers] for n, s in self.servers.items()})
        if cycle:
            problems.append(("servers", "dependency cycle: " + " -> ".join(cycle)))
        if problems:
            raise PlanError(problems)
        return self

    def _account_problems(self) -> list[tuple[str, str]]:
        """Same or separate account, as stated and as the ids say; a separate one is reached with its own identity."""
        rec, src = self.recovery, self.source.account_id
        if rec.mode == CROSS_ACCOUNT and rec.account_id == src:
            return [("recovery.mode", f"is {CROSS_ACCOUNT}, but recovery.account_id equals source.account_id ({src}); "
                                      "name the separate recovery account, or use same-account")]
        if rec.mode == SAME_ACCOUNT and rec.account_id != src:
            return [("recovery.mode", f"is {SAME_ACCOUNT}, but recovery.account_id ({rec.account_id}) differs from "
                                      f"source.account_id ({src})")]
        if rec.account_id != src and not (rec.role_arn or rec.credentials):
            return [("recovery.role_arn", f"a cross-account plan needs recovery.role_arn (a role in account "
                                          f"{rec.account_id}, assumed with STS for every recovery-side call) or "
                                          "recovery.credentials: the source's credentials must not reach the "
                                          "recovery account")]
        return []

    def _table_problems(self) -> list[tuple[str, str]]:
        """A global-table replica lives in the table's own account: a cross-account plan cannot use one."""
        if not self.cross_account:
            return []
        why = (f"is replica, but this plan recovers into another account ({self.recovery.account_id}): a DynamoDB "
               "global table's replicas are all in one account; use export (or auto)")
        problems = [("tables.default", why)] if self.tables.default == "replica" else []
        return problems + [(f"tables.data.{name}", why) for name, mode in self.tables.data.items() if mode == "replica"]

    def _kms_problems(self) -> list[tuple[str, str]]:
        problems = []
        for src, dst in self.kms_key_map.items():
            where = f"kms_key_map.{src}"
            if not _kms_ref(src):
                problems.append((where, f"{src!r} is not a KMS key id, alias (alias/name) or ARN"))
            if dst == KMS_CREATE:
                continue
            match = KMS_ARN_RE.match(dst)
            if not (match or KMS_ID_RE.match(dst) or KMS_ALIAS_RE.match(dst)):
                problems.append((where, f"target {dst!r} is not a KMS key id, alias, ARN, or {KMS_CREATE!r}"))
            elif match and match["region"] != self.recovery.region:
                problems.append((where, f"target {dst} is not in recovery region {self.recovery.region}"))
            elif match and match["account"] != self.recovery.account_id:
                problems.append((where, f"target {dst} is not in recovery account {self.recovery.account_id}"))
        return problems

    def declared_links(self) -> dict[tuple[str, str], str]:
        """(server, data resource) -> the field that declares the dependency (web, rds:orders ->
        servers.web.depends_on), for core.scope to name that field when the source has no such resource."""
        return {(name, dep): f"servers.{name}.depends_on" for name, server in self.servers.items()
                for dep in server.depends_on if dep not in self.servers and OTHER_DEPENDENCY_RE.match(dep)}

    def replica_bucket(self, bucket: str) -> str:
        """The recovery-region replica of a source bucket: `buckets.names`, else the naming rule."""
        return self.buckets.names.get(bucket) or self.buckets.replica_name.format(
            bucket=bucket, region=self.recovery.region, account=self.recovery.account_id)

    @property
    def vault_bucket(self) -> str:
        return self.vault.bucket or f"drflow-vault-{self.recovery.account_id}-{self.recovery.region}"

    @property
    def cross_account(self) -> bool:
        """Recovery into a separate account (`recovery.mode`, checked against the account ids, or derived)."""
        return self.recovery.account_id != self.source.account_id

    def homeward(self) -> "Plan":
        """The plan turned around for failback: the primary is where resources are (re)created, at their own
        addresses (no CIDR or AZ mapping), with the source's credentials. Built without validation: its
        recovery region equals its source region by design, which a plan file may never say."""
        recovery = Recovery.model_construct(account_id=self.source.account_id, region=self.source.region,
                                            credentials=self.source.credentials)
        network = self.network.model_copy(update={"cidr_map": {}, "az_map": {}})
        return self.model_copy(update={"recovery": recovery, "network": network})

    def public_dict(self) -> dict[str, Any]:
        """The plan as stored in a recovery point: it names credential sources, never secrets."""
        return self.model_dump(mode="json")


def _problems_from(exc: ValidationError) -> list[tuple[str, str]]:
    problems = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "plan"
        ctx_error = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_error, PlanError):
            problems.extend(ctx_error.problems)
            continue
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check its spelling against the plan reference)"
        elif err["type"] == "missing":
            msg = "is required"
        elif err["type"] == "int_type" and isinstance(err.get("input"), bool):
            msg = "must be a whole number, not true or false (YAML reads true, yes and on as true)"
        elif err["type"] == "int_type":
            msg = f"must be a whole number, not {err.get('input')!r}"
        elif err["type"] == "bool_type":
            msg = f"must be true or false, not {err.get('input')!r}"
        problems.append((field, msg))
    return problems


def parse_plan(data: Any, resource_types: set[str] | None = None) -> Plan:
    """Validate a plan given as plain data; raises PlanError listing every problem found."""
    if not isinstance(data, dict):
        raise PlanError([("plan", "must be a mapping of fields (name, source, recovery, ...)")])
    try:
        return Plan.model_validate(data, context={"resource_types": resource_types or set()})
    except ValidationError as exc:
        raise PlanError(_problems_from(exc)) from None


# byte order marks that say the file is not UTF-8 (UTF-32's first, as UTF-16's LE mark begins it)
FOREIGN_BOMS = ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"), (b"\xff\xfe", "UTF-16"),
                (b"\xfe\xff", "UTF-16"))
MERGE_TAG = "tag:yaml.org,2002:merge"


class _PlanLoader(yaml.SafeLoader):
    """yaml's safe loader, refusing what it would otherwise get wrong or crash on: nesting deeper than MAX_DEPTH
    (its composer recurses once per level), checked while composing, before the recursion can run out."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels (a plan needs "
                                                  "about 5)", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _key_path(path: tuple[str, ...]) -> str:
    return ".".join(path) or "plan"


def _duplicate_keys(root: yaml.Node | None, loader: _PlanLoader) -> list[tuple[str, str]]:
    """Every key given twice in one mapping, by its field and both lines: yaml keeps the last silently, so a second
    `recovery:` further down would move the plan to another region. A merge (`<<: *base`) may override keys."""
    problems: list[tuple[int, str, str]] = []
    seen: set[int] = set()  # an alias shares its anchor's node: each is walked once
    todo: list[tuple[yaml.Node, tuple[str, ...]]] = [(root, ())] if root is not None else []
    while todo:
        node, path = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[Any, int] = {}
            for key, value in node.value:
                if key.tag == MERGE_TAG or not isinstance(key, yaml.ScalarNode):
                    todo.append((value, path))
                    continue
                field, line = (*path, str(key.value)), key.start_mark.line + 1
                ident = loader.construct_object(key)  # as the mapping will hold it: `yes:` and `true:` coincide
                if ident in first:
                    problems.append((line, _key_path(field), f"given twice, at line {first[ident]} and again at line "
                                     f"{line} (YAML would keep the last one silently): keep one"))
                else:
                    first[ident] = line
                todo.append((value, field))
        elif isinstance(node, yaml.SequenceNode):
            todo.extend((item, (*path, str(i))) for i, item in enumerate(node.value))
    return [(field, msg) for _, field, msg in sorted(problems)]


def _decode(raw: bytes, path: Path) -> str:
    """The file's text: UTF-8 (a UTF-8 byte order mark, as some Windows editors write, is dropped). Anything else is
    refused naming the file, instead of being read in the locale's encoding or failing with a traceback."""
    for bom, encoding in FOREIGN_BOMS:
        if raw.startswith(bom):
            raise PlanError([("plan", f"{path} is {encoding} text: save it as UTF-8")])
    if b"\x00" in raw:
        raise PlanError([("plan", f"{path} holds NUL bytes (UTF-16 or UTF-32 without a byte order mark, or not "
                                  "text at all): save it as UTF-8")])
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise PlanError([("plan", f"{path} is not UTF-8 text (byte {raw[exc.start]:#04x} at line {line}): "
                                  "save it as UTF-8")]) from None


def load_plan(path: str | Path, resource_types: set[str] | None = None) -> Plan:
    """Read, decode and parse a plan file; every way it can be wrong is a PlanError naming the file or the field."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PlanError([("plan", f"cannot read {path}: {exc.strerror}")]) from None
    loader = _PlanLoader(_decode(raw, path))
    try:
        node = loader.get_single_node()
        duplicates = _duplicate_keys(node, loader)
        if duplicates:
            raise PlanError(duplicates)
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise PlanError([("plan", f"{path} is not valid YAML{where}: {getattr(exc, 'problem', exc)}")]) from None
    except RecursionError:  # not expected past MAX_DEPTH; should another path recurse, still no traceback
        raise PlanError([("plan", f"{path} nests too deep to read")]) from None
    finally:
        loader.dispose()
    return parse_plan(data, resource_types)
