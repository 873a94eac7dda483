"""The sample workload's container registry: repository `shop/api` in the primary region, tagged app=shop, with a
lifecycle policy, a repository policy naming the account, and one image pushed through ECR's layer upload API
(a config blob and one layer), as `docker push` does."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from typing import Any

import boto3

APP_TAGS = [{"Key": "app", "Value": "shop"}]
REPOSITORY = "shop/api"
MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
LIFECYCLE = {"rules": [{"rulePriority": 1, "description": "keep the last 30 images",
                        "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 30},
                        "action": {"type": "expire"}}]}


def _layer(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, body in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(body), 1_700_000_000
            tar.addfile(info, io.BytesIO(body))
    return gzip.compress(raw.getvalue(), mtime=0)


def push_blob(ecr: Any, repository: str, blob: bytes) -> str:
    """Upload one blob (layer or image config) as `docker push` does; returns its digest."""
    upload = ecr.initiate_layer_upload(repositoryName=repository)
    ecr.upload_layer_part(repositoryName=repository, uploadId=upload["uploadId"], partFirstByte=0,
                          partLastByte=len(blob) - 1, layerPartBlob=blob)
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    return ecr.complete_layer_upload(repositoryName=repository, uploadId=upload["uploadId"],
                                     layerDigests=[digest])["layerDigest"]


def push_image(ecr: Any, repository: str, tag: str, files: dict[str, bytes]) -> dict[str, str]:
    """A one-layer image built from `files`; returns its tag, digest and manifest."""
    layer = _layer(files)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/app/serve"]},
                         "rootfs": {"type": "layers", "diff_ids": [
                             "sha256:" + hashlib.sha256(gzip.decompress(layer)).hexdigest()]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(config),
                   "digest": push_blob(ecr, repository, config)},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": len(layer),
                    "digest": push_blob(ecr, repository, layer)}]})
    image = ecr.put_image(repositoryName=repository, imageManifest=manifest, imageManifestMediaType=MANIFEST_TYPE,
                          imageTag=tag)["image"]
    return {"tag": tag, "digest": image["imageId"]["imageDigest"], "manifest": manifest}


def seed_ecr(session: boto3.Session, region: str, ids: dict[str, Any]) -> dict[str, str]:
    """The repository and its image. Returns {"ecr-repository", "ecr-repository-uri", "ecr-image" (a full image
    URI with tag), "ecr-image-digest"}."""
    ecr = session.client("ecr", region_name=region)
    account = session.client("sts", region_name=region).get_caller_identity()["Account"]
    repo = ecr.create_repository(repositoryName=REPOSITORY, tags=APP_TAGS, imageTagMutability="MUTABLE",
                                 imageScanningConfiguration={"scanOnPush": True})["repository"]
    ecr.put_lifecycle_policy(repositoryName=REPOSITORY, lifecyclePolicyText=json.dumps(LIFECYCLE))
    ecr.set_repository_policy(repositoryName=REPOSITORY, policyText=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Sid": "ShopPull", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
            "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]}]}))
    image = push_image(ecr, REPOSITORY, "1.0", {"app/serve": b"#!/bin/sh\necho shop api\n"})
    return {"ecr-repository": REPOSITORY, "ecr-repository-uri": repo["repositoryUri"],
            "ecr-image": f"{repo['repositoryUri']}:{image['tag']}", "ecr-image-digest": image["digest"]}
