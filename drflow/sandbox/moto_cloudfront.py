"""Where the sandbox's moto CloudFront is kinder than AWS in ways drflow meets: ETags, deployment, S3 origins.

moto 5.2.5, against the CloudFront API Reference (2020-05-31):

- UpdateDistribution: moto ignores the IfMatch value and keeps one ETag for ever. AWS: "IfMatch: the value of the
  ETag header that you received when retrieving the distribution's configuration"; a stale or wrong one is refused
  with PreconditionFailed (HTTP 412, "The precondition in one or more of the request fields evaluated to false"),
  and every update gives the distribution a new ETag (API Reference, UpdateDistribution, Errors; botocore's
  cloudfront model, PreconditionFailed). Here the same.
- Deployment: moto answers a distribution Deployed from the first look after an update, and the update's own answer
  too. AWS: "When you update a distribution, there are more steps ... the distribution's status is InProgress
  until the change has propagated to all edge locations, then Deployed" (API Reference, Distribution.Status:
  "InProgress when the distribution is still being deployed"; botocore's `distribution_deployed` waiter polls
  GetDistribution for it). Here a created or updated distribution is InProgress in the answer of that call, and for
  `deploy_looks` GetDistribution/ListDistributions answers after it (0 by default, so that tests do not sleep:
  a caller must still wait, since the write's answer says InProgress; `set_deploy_looks` holds one in progress
  longer, as a slow propagation would).
- Origins: moto drops an S3 origin's S3OriginConfig and OriginAccessControlId from every answer (its Origin keeps
  neither), so that a read-modify-write of the configuration would strip a bucket's origin access control. AWS
  answers them as given (API Reference, Origin: S3OriginConfig, OriginAccessControlId). Here they are kept.

- Origin groups: moto refuses a default cache behaviour whose TargetOriginId is an origin group (NoSuchOrigin: it
  looks among the origins only). AWS takes "the value of ID for the origin or origin group" (API Reference,
  DefaultCacheBehavior.TargetOriginId). Here it does.

Installed by drflow.sandbox.server, as the other shims are: it applies to the sandbox only.
"""

from __future__ import annotations

from typing import Any

from moto.cloudfront.exceptions import CloudFrontException
from moto.cloudfront.models import CloudFrontBackend, Distribution, DistributionConfig, Origin, random_id

_deploy_looks = 0


class PreconditionFailed(CloudFrontException):
    code = 412

    def __init__(self) -> None:
        super().__init__("PreconditionFailed", "The precondition given in one or more of the request header fields "
                                               "evaluated to false.")


def set_deploy_looks(looks: int) -> None:
    """How many GetDistribution answers after a create or update still say InProgress (0: none, the write's own
    answer only)."""
    global _deploy_looks
    _deploy_looks = looks


def _status(self: Any) -> str:
    return "InProgress" if getattr(self, "_drflow_pending", 0) > 0 else "Deployed"


def _set_status(self: Any, value: str) -> None:
    self._drflow_pending = 0 if value == "Deployed" else max(_deploy_looks, 1)


def _deploying(dist: Any) -> None:
    dist._drflow_pending = _deploy_looks + 1  # the answer of the write itself, then `deploy_looks` looks
    dist.etag = random_id()


def _looked(dist: Any) -> None:
    dist._drflow_pending = max(getattr(dist, "_drflow_pending", 0) - 1, 0)


def _origin_init(original: Any) -> Any:
    def init(self: Any, origin: dict[str, Any]) -> None:
        original(self, origin)
        if "S3OriginConfig" in origin:
            self.s3_origin_config = {"OriginAccessIdentity": origin["S3OriginConfig"].get("OriginAccessIdentity", "")}
        self.origin_access_control_id = origin.get("OriginAccessControlId", "")
    return init


def _config_init(original: Any) -> Any:
    def init(self: Any, config: dict[str, Any]) -> None:
        groups = {g["Id"] for g in (config.get("OriginGroups") or {}).get("Items") or []}
        behavior = config.get("DefaultCacheBehavior") or {}
        target = behavior.get("TargetOriginId")
        if target not in groups:
            return original(self, config)
        behavior["TargetOriginId"] = config["Origins"]["Items"][0]["Id"]  # past moto's origins-only check
        original(self, config)
        self.DefaultCacheBehavior.target_origin_id = target
    return init


def install() -> None:
    if getattr(CloudFrontBackend, "_drflow_shim", False):
        return
    CloudFrontBackend._drflow_shim = True  # type: ignore[attr-defined]
    Origin.__init__ = _origin_init(Origin.__init__)  # type: ignore[method-assign]
    DistributionConfig.__init__ = _config_init(DistributionConfig.__init__)  # type: ignore[method-assign]
    Distribution.status = property(_status, _set_status)  # type: ignore[assignment]

    create, update = CloudFrontBackend.create_distribution_with_tags, CloudFrontBackend.update_distribution
    get, get_config = CloudFrontBackend.get_distribution, CloudFrontBackend.get_distribution_config
    listing = CloudFrontBackend.list_distributions

    def create_distribution_with_tags(self: Any, distribution_config: dict[str, Any], tags: Any) -> Any:
        dist, location, _ = create(self, distribution_config, tags)
        _deploying(dist)
        return dist, location, dist.etag

    def update_distribution(self: Any, dist_config: dict[str, Any], _id: str, if_match: Any) -> Any:
        current = self.distributions.get(_id)
        if current is not None and if_match and if_match != current.etag:
            raise PreconditionFailed()
        dist, location, _ = update(self, dist_config, _id, if_match)
        _deploying(dist)
        return dist, location, dist.etag

    def get_distribution(self: Any, distribution_id: str) -> Any:
        dist, etag = get(self, distribution_id)
        _looked(dist)
        return dist, etag

    def get_distribution_config(self: Any, distribution_id: str) -> Any:
        config, _ = get_config(self, distribution_id)
        return config, self.distributions[distribution_id].etag

    def list_distributions(self: Any, *args: Any, **kwargs: Any) -> Any:
        for dist in self.distributions.values():
            _looked(dist)
        return listing(self, *args, **kwargs)

    CloudFrontBackend.create_distribution_with_tags = create_distribution_with_tags  # type: ignore[method-assign]
    CloudFrontBackend.update_distribution = update_distribution  # type: ignore[method-assign]
    CloudFrontBackend.get_distribution = get_distribution  # type: ignore[method-assign]
    CloudFrontBackend.get_distribution_config = get_distribution_config  # type: ignore[method-assign]
    CloudFrontBackend.list_distributions = list_distributions  # type: ignore[method-assign]
