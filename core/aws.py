"""The one place that builds boto3 sessions and clients for the source and the recovery side.

Retries: botocore's `standard` mode retries throttling and 5xx with exponential backoff and jitter.
`adaptive` mode was measured here to sleep for minutes under injected throttling (its client-side
rate limiter), so it is not used. Standard mode's retry quota can run dry under a high fault rate;
the engine's Prefect task retries (transient errors only) are the second layer for that case.

Every client counts its API calls (read / write) and HTTP attempts, so that reports can say how
many calls a run made and how many were retried, and records which IAM-style actions each side made
("<service prefix>:<Operation>"), so that the permissions drflow ships (deployments/iam/) can be checked
against what it really calls.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

from core.plan import Credentials, Plan

# BatchGet*/BatchCheck*: reads of several items at once (ECR's BatchGetImage, BatchCheckLayerAvailability);
# Scan/Query: DynamoDB's reads of a table's items (a drill's copy of a replica reads it with Scan)
READ_PREFIXES = ("Describe", "List", "Get", "Head", "Search", "Lookup", "Select", "BatchGet", "BatchCheck", "Scan",
                 "Query")
TRANSIENT_CODES = {
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "RequestLimitExceeded", "SlowDown", "RequestThrottled",
    "ProvisionedThroughputExceededException", "TransactionInProgressException", "PriorRequestNotComplete",
    "EC2ThrottledException", "BandwidthLimitExceeded", "InternalError", "InternalFailure",
    "ServiceUnavailable", "ServiceUnavailableException", "RequestTimeout", "RequestTimeoutException",
}
REFUSED_CREDENTIALS = {"InvalidClientTokenId", "UnrecognizedClientException", "ExpiredToken", "ExpiredTokenException",
                       "SignatureDoesNotMatch", "AuthFailure", "InvalidAccessKeyId"}
RETRY_CONFIG = {"mode": "standard", "max_attempts": 10}
SESSION_NAME = "drflow"


class _SearchPaths(list):
    """A loader's search paths that ignore a path already there: every boto3.Session appends boto3's own
    data folder to its loader, and with one loader shared by every session the list would grow per session."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


_LOADER_LOCK = threading.Lock()
_LOADER: botocore.loaders.Loader | None = None


def shared_loader() -> botocore.loaders.Loader:
    """One botocore data loader for the process: it caches every service model and endpoints file it reads.

    A new botocore session builds its own loader and re-reads (JSON-decodes) each service model it makes a
    client for, which costs tens of milliseconds a model; a run builds sessions per plan and per assumed
    role, so sharing the loader reads each model once per process. The files are botocore's own, read-only."""
    global _LOADER
    with _LOADER_LOCK:
        if _LOADER is None:
            loader = botocore.session.get_session().get_component("data_loader")
            loader._search_paths = _SearchPaths(loader.search_paths)
            _LOADER = loader
        return _LOADER


def new_session(**kwargs: Any) -> boto3.Session:
    """A boto3 session (same arguments as boto3.Session) whose botocore session uses the shared loader."""
    core = botocore.session.get_session()
    core.register_component("data_loader", shared_loader())
    return boto3.Session(botocore_session=core, **kwargs)


class AssumeRoleError(RuntimeError):
    """A role the plan names could not be assumed. `field` is the plan field naming it (recovery.role_arn,
    source.credentials.role_arn, ...); the message carries AWS's reason and the likely fix, never a secret."""

    def __init__(self, field: str, role_arn: str, external_id_given: bool, exc: ClientError):
        code = error_code(exc)
        reason = f"cannot assume {role_arn}: {code}: {exc.response.get('Error', {}).get('Message', '')}"
        external = field.rsplit(".", 1)[0] + ".external_id"
        if code == "AccessDenied" and not external_id_given:
            reason += (f". No external id was given: the role's trust policy may require one (condition "
                       f"sts:ExternalId); set {external}. Else its trust policy does not name these credentials")
        elif code == "AccessDenied":
            reason += (f". Its trust policy must name these credentials and accept the external id in {external} "
                       "(not shown)")
        elif code in REFUSED_CREDENTIALS:
            reason += ". The credentials used to assume it were refused (revoked, expired or mistyped)"
        self.field, self.role_arn, self.code = field, role_arn, code
        super().__init__(reason)


class Retryable(Exception):
    """Worth another attempt although AWS did not say so (a server launch that failed): task retries take it."""


def is_read(operation: str) -> bool:
    return operation.startswith(READ_PREFIXES)


def is_transient(exc: BaseException) -> bool:
    """Worth retrying later: throttling, 5xx, connection trouble. Not: access denied, validation, not found."""
    if isinstance(exc, Retryable):
        return True
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return code in TRANSIENT_CODES or status >= 500
    from botocore.exceptions import ConnectionError as BotoConnectionError, ReadTimeoutError

    return isinstance(exc, (BotoConnectionError, ReadTimeoutError))


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code", "")
    return ""


@dataclass
class CallStats:
    """Thread-safe API call counters for one run."""

    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    calls: Counter = field(default_factory=Counter)
    attempts: int = 0
    by_region: Counter = field(default_factory=Counter)
    # (side, "<service prefix>:<Operation>") of every call: the API operation as IAM names its service
    # (signing name, e.g. "elasticloadbalancing:CreateTargetGroup"), before the mapping to the IAM actions
    # it needs where they differ (deployments/iam_actions.py)
    actions: set[tuple[str, str]] = field(default_factory=set)

    def on_call(self, operation: str, region: str, side: str = "", prefix: str = "") -> None:
        with self._lock:
            self.calls["read" if is_read(operation) else "write"] += 1
            self.by_region[region] += 1
            if prefix:
                self.actions.add((side, f"{prefix}:{operation}"))

    def on_attempt(self) -> None:
        with self._lock:
            self.attempts += 1

    def summary(self) -> dict[str, int]:
        with self._lock:
            total = self.calls["read"] + self.calls["write"]
            return {"read": self.calls["read"], "write": self.calls["write"],
                    "retried": max(0, self.attempts - total)}


class Side:
    """Clients for one side (source or recovery) in one account, cached per service and region."""

    def __init__(self, session: boto3.Session, region: str, stats: CallStats, max_pool: int = 128,
                 label: str = ""):
        self._session = session
        self.region = region
        self.label = label  # "source", "recovery" or "vault": whose permissions its calls use
        self._stats = stats
        self._clients: dict[tuple[str, str, int | None], Any] = {}
        self._lock = threading.Lock()  # boto3 sessions are not thread-safe; the clients they make are
        self._config = Config(retries=dict(RETRY_CONFIG), max_pool_connections=max_pool,
                              user_agent_extra="drflow")

    def client(self, service: str, region: str | None = None, attempts: int | None = None) -> Any:
        """`attempts`: botocore's standard retries stop after that many attempts (default RETRY_CONFIG's), for a
        call whose caller has a fallback that does not need what failed: retrying it would only delay the run."""
        region = region or self.region
        with self._lock:
            key = (service, region, attempts)
            if key not in self._clients:
                config = self._config if attempts is None else self._config.merge(
                    Config(retries={**RETRY_CONFIG, "max_attempts": attempts}))
                client = self._session.client(service, region_name=region, config=config)
                events = client.meta.events
                service = client.meta.service_model
                prefix = service.signing_name or service.endpoint_prefix  # IAM's service prefix
                events.register("before-call.*.*", lambda model, **kw: self._stats.on_call(
                    model.name, region, self.label, prefix))
                events.register("before-send.*.*", lambda **kw: self._stats.on_attempt())
                self._clients[key] = client
            return self._clients[key]


def _base_session(creds: Credentials | None, region: str, label: str = "source") -> boto3.Session:
    if creds is None:
        return new_session(region_name=region)
    if creds.profile:
        return new_session(profile_name=creds.profile, region_name=region)
    if creds.block:
        from prefect_aws import AwsCredentials  # the Prefect way to hold AWS secrets

        return AwsCredentials.load(creds.block).get_boto3_session()
    return _assumed(new_session(region_name=region), creds.role_arn, creds.external_id, region,
                    f"{label}.credentials.role_arn")


def _assumed(base: boto3.Session, role_arn: str, external_id: str | None, region: str,
             field: str = "recovery.role_arn") -> boto3.Session:
    kwargs = {"RoleArn": role_arn, "RoleSessionName": SESSION_NAME}
    if external_id:
        kwargs["ExternalId"] = external_id
    try:
        creds = base.client("sts", region_name=region, config=Config(retries=dict(RETRY_CONFIG))).assume_role(
            **kwargs)["Credentials"]
    except ClientError as exc:
        if is_transient(exc):
            raise
        raise AssumeRoleError(field, role_arn, bool(external_id), exc) from None
    return new_session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                         aws_session_token=creds["SessionToken"], region_name=region)


class AwsAccess:
    """Source and recovery clients for one plan, created lazily.

    A failover never touches `source`: it is built only when something asks for it, so a run that reads
    only the vault makes no call (not even STS) to the primary side. Calls to the vault are counted apart
    (`vault_stats`): a new recovery point every night is a write by design, not a change to the workload.
    """

    def __init__(self, plan: Plan, stats: CallStats | None = None):
        self.plan = plan
        self.stats = stats or CallStats()
        self.vault_stats = CallStats()
        self._sides: dict[str, Side] = {}
        self._recovery_session: boto3.Session | None = None
        self._lock = threading.Lock()

    def _recovery_base(self) -> boto3.Session:
        if self._recovery_session is None:
            rec = self.plan.recovery
            session = _base_session(rec.credentials, rec.region, "recovery")
            if rec.role_arn:
                session = _assumed(session, rec.role_arn, rec.external_id, rec.region)
            self._recovery_session = session
        return self._recovery_session

    def _side(self, name: str) -> Side:
        with self._lock:
            if name not in self._sides:
                if name == "source":
                    src = self.plan.source
                    self._sides[name] = Side(_base_session(src.credentials, src.region), src.region, self.stats,
                                             label=name)
                else:
                    stats = self.vault_stats if name == "vault" else self.stats
                    self._sides[name] = Side(self._recovery_base(), self.plan.recovery.region, stats, label=name)
            return self._sides[name]

    @property
    def source(self) -> Side:
        return self._side("source")

    def homeward(self) -> "AwsAccess":
        """For failback: an access whose recovery side is this plan's source side (the same clients, counted
        as the source's calls, under the source's permissions), for (re)creating in the primary what the
        recovery point holds; its plan is `Plan.homeward()`."""
        home = AwsAccess(self.plan.homeward(), self.stats)
        home._sides.update(source=self.source, recovery=self.source)
        return home

    @property
    def recovery(self) -> Side:
        return self._side("recovery")

    @property
    def vault(self) -> Side:
        return self._side("vault")


def paginate(client: Any, operation: str, result_key: str, **kwargs: Any) -> list[dict]:
    """All items of a paginated read, through botocore's own paginator."""
    items: list[dict] = []
    for page in client.get_paginator(operation).paginate(**kwargs):
        items.extend(page.get(result_key, []))
    return items
