"""ECR as drflow needs it from the sandbox's moto (moto 5.2.5 accepts layer uploads but keeps only their sizes,
does not implement GetDownloadUrlForLayer, and refuses a replication configuration of more than one rule).

`install()` makes CompleteLayerUpload keep the uploaded bytes beside the size moto records (on moto's own
repository object, so moto's reset forgets them); answers GetDownloadUrlForLayer as ECR does: a URL the
caller fetches with an unsigned GET (here served by the sandbox server, see downloads.py), or
LayersNotFoundException for a digest the repository does not hold; and takes a replication configuration of up
to 10 rules, ECR's documented limit (each rule still checked as moto checks it: no destination may be the
registry itself). Replication itself still copies nothing, as in moto. Test and sandbox code only.
"""

from __future__ import annotations

from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult
from moto.ecr.exceptions import InvalidParameterException, ValidationException
from moto.ecr.models import ECRBackend, Repository, ecr_backends
from moto.ecr.responses import ECRResponse

from drflow.sandbox import downloads

_installed = False
MAX_RULES = 10  # ECR's quota of replication rules per registry


class LayersNotFoundException(JsonRESTError):
    def __init__(self, digest: str, repository: str, registry: str):
        super().__init__("LayersNotFoundException", f"The layer with digest {digest} does not exist within the "
                         f"repository with name '{repository}' in the registry with id '{registry}'")


def _blobs(repository: Repository) -> dict[str, bytes]:
    if not hasattr(repository, "drflow_blobs"):
        repository.drflow_blobs = {}  # type: ignore[attr-defined]
    return repository.drflow_blobs  # type: ignore[attr-defined]


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    complete = ECRBackend.complete_layer_upload

    def complete_layer_upload(self: ECRBackend, repository_name: str, upload_id: str, layer_digests: list[str],
                              registry_id: str | None = None) -> dict[str, Any]:
        repository = self._get_repository(repository_name, registry_id)
        upload = repository.uploads.get(upload_id)
        data = bytes(upload.layer_parts) if upload is not None else b""
        result = complete(self, repository_name, upload_id, layer_digests, registry_id=registry_id)
        _blobs(repository)[result["layerDigest"]] = data
        return result

    def get_download_url_for_layer(self: ECRResponse) -> ActionResult:
        name, digest = self._get_param("repositoryName"), self._get_param("layerDigest")
        registry = self._get_param("registryId") or self.current_account
        repository = ecr_backends[registry][self.region]._get_repository(name, registry)
        if digest not in _blobs(repository):
            raise LayersNotFoundException(digest, name, registry)
        host = self.headers.get("host") or self.headers.get("Host")
        return ActionResult({"downloadUrl": downloads.url(host, "ecr", registry, self.region, name, digest),
                             "layerDigest": digest})

    def fetch(parts: list[str]) -> bytes | None:
        if len(parts) != 4:
            return None
        registry, region, name, digest = parts
        repository = ecr_backends[registry][region].repositories.get(name)
        return _blobs(repository).get(digest) if repository is not None else None

    def put_replication_configuration(self: ECRBackend, replication_config: dict[str, Any]) -> dict[str, Any]:
        rules = replication_config["rules"]
        if len(rules) > MAX_RULES:
            raise ValidationException(f"A registry holds at most {MAX_RULES} replication rules")
        for rule in rules:
            for dest in rule["destinations"]:
                if dest["region"] == self.region_name and dest["registryId"] == self.account_id:
                    raise InvalidParameterException(
                        "Invalid parameter at 'replicationConfiguration' failed to satisfy constraint: "
                        "'Replication destination cannot be the same as the source registry'")
        self.replication_config = replication_config
        return {"replicationConfiguration": replication_config}

    ECRBackend.put_replication_configuration = put_replication_configuration  # type: ignore[method-assign]
    ECRBackend.complete_layer_upload = complete_layer_upload  # type: ignore[method-assign]
    ECRResponse.get_download_url_for_layer = get_download_url_for_layer  # type: ignore[method-assign]
    downloads.register("ecr", fetch)
