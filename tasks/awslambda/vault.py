"""Lambda code in the vault: the zip of every function version and layer version, copied nightly, by content.

Lambda hands out a function's (or layer's) code as a presigned HTTPS URL valid for minutes; a failover cannot
use it (the primary may be dark), so each nightly run copies the code into the vault bucket on the recovery
side. The key is derived from the code's CodeSha256, which the recovery point captured at discovery: the
recovery point (written before staging) points at its code without knowing when it was copied, an unchanged
function costs one HEAD a night, and a copy is checked against that hash before it is stored. Layers published
at failover are found again by the same hash, so a re-run (or a drill beside production) publishes no
duplicate version.
"""

from __future__ import annotations

import base64
import hashlib
import tempfile
import urllib.request
from typing import Any

from botocore.exceptions import ClientError

from core.aws import Retryable, error_code, paginate
from core.handler import ApplyContext
from core.vault import Vault

CHUNK = 1024 * 1024
SPOOL = 64 * 1024 * 1024  # larger code spills to a temporary file instead of memory
DOWNLOAD_TIMEOUT = 300


def code_key(plan_name: str, kind: str, name: str, code_sha256: str) -> str:
    """`<plan>/lambda/<functions|layers>/<name>/<sha256 hex>.zip` (CodeSha256 is base64: not key-safe)."""
    digest = base64.b64decode(code_sha256).hex()
    return f"{plan_name}/lambda/{kind}/{name}/{digest}.zip"


def function_code_key(plan_name: str, resource: Any, code_sha256: str) -> str:
    """Where one version's code of the function `resource` is kept in the vault."""
    return code_key(plan_name, "functions", resource.source_id, code_sha256)


def in_vault(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


def copy_to_vault(s3: Any, bucket: str, key: str, location: str, code_sha256: str, what: str) -> int:
    """Stream the code at `location` (a presigned URL) into the vault, checked against its CodeSha256; returns
    its size. A mismatch (the code changed since discovery, or a broken download) is retried."""
    sha = hashlib.sha256()
    size = 0
    with tempfile.SpooledTemporaryFile(max_size=SPOOL) as spool:
        with urllib.request.urlopen(location, timeout=DOWNLOAD_TIMEOUT) as response:  # noqa: S310 - AWS presigned
            while chunk := response.read(CHUNK):
                sha.update(chunk)
                spool.write(chunk)
                size += len(chunk)
        got = base64.b64encode(sha.digest()).decode()
        if got != code_sha256:
            raise Retryable(f"{what}: the code downloaded has CodeSha256 {got}, the recovery point says {code_sha256} "
                            "(changed since discovery, or a broken download)")
        spool.seek(0)
        s3.upload_fileobj(spool, bucket, key, ExtraArgs={"ContentType": "application/zip"})
    return size


def stage_function_code(resource: Any, ctx: ApplyContext) -> dict[str, int]:
    """Copy each distinct code of the function ($LATEST and its published versions) and of its layers."""
    assert ctx.source is not None, "code is copied during nightly replication only"
    lam, s3, bucket = ctx.source.client("lambda"), ctx.recovery.client("s3"), ctx.plan.vault_bucket
    cfg, name = resource.config, resource.source_id
    done = {"copied": 0, "bytes": 0, "present": 0}
    if cfg["package_type"] == "Zip":
        codes = {v["code_sha256"]: v["version"] for v in [*cfg["versions"], {"version": "$LATEST",
                                                                               "code_sha256": cfg["code_sha256"]}]}
        for sha, qualifier in sorted(codes.items()):
            key = code_key(ctx.plan.name, "functions", name, sha)
            if in_vault(s3, bucket, key):
                done["present"] += 1
                continue
            location = lam.get_function(FunctionName=name, Qualifier=qualifier)["Code"]["Location"]
            done["bytes"] += copy_to_vault(s3, bucket, key, location, sha, f"function {name} version {qualifier}")
            done["copied"] += 1
    for layer in cfg["layers"]:
        key = code_key(ctx.plan.name, "layers", layer["name"], layer["code_sha256"])
        if in_vault(s3, bucket, key):
            done["present"] += 1
            continue
        location = lam.get_layer_version(LayerName=layer["name"],
                                         VersionNumber=int(layer["version"]))["Content"]["Location"]
        done["bytes"] += copy_to_vault(s3, bucket, key, location, layer["code_sha256"], f"layer {layer['arn']}")
        done["copied"] += 1
    return done


def code_keys(plan_name: str, resource: Any) -> list[str]:
    """Every vault key a failover of the function needs: its layers' and, for a zip function, its versions'."""
    cfg = resource.config
    keys = [code_key(plan_name, "layers", layer["name"], layer["code_sha256"])
            for layer in cfg["layers"] if not layer.get("foreign")]
    if cfg["package_type"] == "Zip":
        keys += [code_key(plan_name, "functions", resource.source_id, sha)
                 for sha in sorted({cfg["code_sha256"], *(v["code_sha256"] for v in cfg["versions"])})]
    return keys


def missing_code(resource: Any, ctx: ApplyContext) -> list[str]:
    """The vault keys a failover of the function needs and does not find (read-only, recovery side)."""
    s3, bucket = ctx.recovery.client("s3"), ctx.plan.vault_bucket
    return [k for k in code_keys(ctx.plan.name, resource) if not in_vault(s3, bucket, k)]


def prune_code(ctx: ApplyContext, function_type: str) -> list[str]:
    """Delete the code copies (every version of them: the vault is versioned) that no recovery point the vault
    keeps names. This night's point is written before staging, so what this run copies is named; the points its
    completion will let retention delete still count (it may not complete), so their code goes a night later.
    Once per run."""
    def prune() -> list[str]:
        vault = Vault(ctx.recovery, ctx.plan.vault_bucket, ctx.plan.name)
        wanted = {key for point_id in vault.retained(ctx.plan.vault.keep) for r in vault.load(point_id).resources
                  if r.type == function_type for key in code_keys(ctx.plan.name, r)}
        if not wanted:
            return []  # no point names any code: nothing is pruned on a vault that could not be read
        s3, bucket = ctx.recovery.client("s3"), ctx.plan.vault_bucket
        doomed = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                  for kind in ("Versions", "DeleteMarkers")
                  for v in paginate(s3, "list_object_versions", kind, Bucket=bucket, Prefix=f"{ctx.plan.name}/lambda/")
                  if v["Key"] not in wanted]
        for start in range(0, len(doomed), 1000):
            s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed[start:start + 1000], "Quiet": True})
        return sorted({d["Key"] for d in doomed})
    return ctx.shared.once("lambda-code-prune", prune)


def publish_layer(lam: Any, layer: dict[str, Any], ctx: ApplyContext) -> tuple[str, bool]:
    """The recovery region's version of a layer with this code: found by its CodeSha256, else published from the
    vault copy; returns (layer version ARN, published)."""
    for listed in paginate(lam, "list_layer_versions", "LayerVersions", LayerName=layer["name"]):
        version = lam.get_layer_version(LayerName=layer["name"], VersionNumber=listed["Version"])
        if version.get("Content", {}).get("CodeSha256") == layer["code_sha256"]:
            return version["LayerVersionArn"], False
    kwargs: dict[str, Any] = {"LayerName": layer["name"], "Description": layer.get("description") or "",
                              "Content": {"S3Bucket": ctx.plan.vault_bucket,
                                          "S3Key": code_key(ctx.plan.name, "layers", layer["name"],
                                                            layer["code_sha256"])}}
    for field in ("CompatibleRuntimes", "CompatibleArchitectures", "LicenseInfo"):
        if layer.get(field):
            kwargs[field] = layer[field]
    return lam.publish_layer_version(**kwargs)["LayerVersionArn"], True
