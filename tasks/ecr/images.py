"""Copying container images from a source repository into its replica through the ECR API.

Registry replication (tasks/ecr/replication.py) only replicates images pushed after it was configured: every
image already in the source, or pushed while replication was off, would be missing at failover. So every
nightly run compares the source's images (by digest, with their tags) with the replica's and copies what is
missing as `docker pull` / `docker push` would: the manifest (BatchGetImage), each blob (config and layers) the
replica does not hold yet (GetDownloadUrlForLayer, a presigned URL read with a plain GET, streamed into
Initiate/UploadLayerPart/CompleteLayerUpload, its sha256 checked), then PutImage with the same manifest bytes,
so the digest is the same on both sides. An image index (multi-architecture) brings its platform manifests
first. Nothing is copied twice: an image whose digest and tags are in the replica costs two listings.
"""

from __future__ import annotations

import hashlib
import json
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from core.aws import Retryable, error_code, paginate

MANIFEST_TYPES = ["application/vnd.docker.distribution.manifest.v2+json",
                  "application/vnd.docker.distribution.manifest.list.v2+json",
                  "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
                  "application/vnd.docker.distribution.manifest.v1+prettyjws"]
PART = 10 * 1024 * 1024  # upload part size when ECR suggests none
DOWNLOAD_TIMEOUT = 120


@dataclass
class Copied:
    images: int = 0
    tags: int = 0
    blobs: int = 0
    bytes: int = 0
    warnings: list[str] = field(default_factory=list)

    def details(self) -> dict[str, int]:
        return {"images": self.images, "tags": self.tags, "blobs": self.blobs, "bytes": self.bytes}


def images(ecr: Any, repository: str) -> dict[str, list[str]]:
    """digest -> sorted tags of every image in the repository (read-only)."""
    return {d["imageDigest"]: sorted(d.get("imageTags", []))
            for d in paginate(ecr, "describe_images", "imageDetails", repositoryName=repository)}


def sync(source: Any, replica: Any, repository: str, replica_repository: str | None = None) -> Copied:
    """Copy into the replica every source image (digest) and tag it lacks; returns what was copied."""
    target = replica_repository or repository
    wanted, have = images(source, repository), images(replica, target)
    done = Copied()
    for digest, tags in sorted(wanted.items()):
        missing = [t for t in tags if t not in have.get(digest, [])]
        if digest in have and not missing:
            continue
        manifest, media_type = _manifest(source, repository, digest)
        if digest not in have:
            _copy_manifest(source, replica, repository, target, digest, manifest, media_type, done)
            done.images += 1
        for tag in missing:
            try:
                replica.put_image(repositoryName=target, imageManifest=manifest, imageManifestMediaType=media_type,
                                  imageDigest=digest, imageTag=tag)
                done.tags += 1
            except ClientError as exc:
                if error_code(exc) == "ImageTagAlreadyExistsException":  # immutable tags: the replica's stays
                    done.warnings.append(f"tag {tag} of {repository} names another image in the replica (immutable "
                                         "tags): left as it is")
                elif error_code(exc) != "ImageAlreadyExistsException":
                    raise
    return done


def _manifest(ecr: Any, repository: str, digest: str) -> tuple[str, str]:
    found = ecr.batch_get_image(repositoryName=repository, imageIds=[{"imageDigest": digest}],
                                acceptedMediaTypes=MANIFEST_TYPES)
    if not found.get("images"):
        failure = (found.get("failures") or [{}])[0]
        raise RuntimeError(f"image {digest} of {repository} could not be read: "
                           f"{failure.get('failureCode')} {failure.get('failureReason')}")
    image = found["images"][0]
    manifest = image["imageManifest"]
    media_type = image.get("imageManifestMediaType") or json.loads(manifest).get("mediaType") or MANIFEST_TYPES[0]
    return manifest, media_type


def _copy_manifest(source: Any, replica: Any, repository: str, target: str, digest: str, manifest: str,
                   media_type: str, done: Copied) -> None:
    """The blobs (or, for an index, the platform manifests) first, then the manifest itself, untagged."""
    body = json.loads(manifest)
    for child in body.get("manifests", []):  # an image index: each platform's manifest must exist first
        if not _has_image(replica, target, child["digest"]):
            child_manifest, child_type = _manifest(source, repository, child["digest"])
            _copy_manifest(source, replica, repository, target, child["digest"], child_manifest, child_type, done)
    blobs = [b for b in [body.get("config"), *body.get("layers", [])] if b and not b.get("urls")]  # foreign: not ours
    _copy_blobs(source, replica, repository, target, sorted({b["digest"] for b in blobs}), done)
    try:
        replica.put_image(repositoryName=target, imageManifest=manifest, imageManifestMediaType=media_type,
                          imageDigest=digest)
    except ClientError as exc:
        if error_code(exc) != "ImageAlreadyExistsException":
            raise


def _has_image(ecr: Any, repository: str, digest: str) -> bool:
    found = ecr.batch_get_image(repositoryName=repository, imageIds=[{"imageDigest": digest}],
                                acceptedMediaTypes=MANIFEST_TYPES)
    return bool(found.get("images"))


def _copy_blobs(source: Any, replica: Any, repository: str, target: str, digests: list[str], done: Copied) -> None:
    if not digests:
        return
    checked = replica.batch_check_layer_availability(repositoryName=target, layerDigests=digests)
    available = {layer["layerDigest"] for layer in checked.get("layers", [])
                 if layer.get("layerAvailability") == "AVAILABLE"}
    for digest in digests:
        if digest not in available:
            done.bytes += _copy_blob(source, replica, repository, target, digest)
            done.blobs += 1


def _copy_blob(source: Any, replica: Any, repository: str, target: str, digest: str) -> int:
    """Stream one blob from the source's presigned URL into a layer upload of the replica; returns its size."""
    url = source.get_download_url_for_layer(repositoryName=repository, layerDigest=digest)["downloadUrl"]
    upload = replica.initiate_layer_upload(repositoryName=target)
    part = int(upload.get("partSize") or PART)
    position, sha = 0, hashlib.sha256()
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response:  # noqa: S310 - an AWS presigned URL
        while chunk := response.read(part):
            replica.upload_layer_part(repositoryName=target, uploadId=upload["uploadId"], partFirstByte=position,
                                      partLastByte=position + len(chunk) - 1, layerPartBlob=chunk)
            position += len(chunk)
            sha.update(chunk)
    if f"sha256:{sha.hexdigest()}" != digest:
        raise Retryable(f"blob {digest} of {repository} downloaded with another digest (sha256:{sha.hexdigest()}):"
                           " the download was corrupted; the next run copies it again")
    replica.complete_layer_upload(repositoryName=target, uploadId=upload["uploadId"], layerDigests=[digest])
    return position
