"""A Lambda function's published versions, aliases and event source mappings: captured, and recreated after the
function itself (tasks/awslambda/functions.py).

Versions are immutable snapshots of code and configuration, numbered by Lambda: the recovered function gets
its own numbers, so versions are published in their source order (each from its own code in the vault) and the
aliases are pointed at the recovered numbers (the map is in the function's report details). A re-run matches the
versions already published by code hash and description, so it publishes none twice.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from core.aws import error_code, paginate
from core.handler import ApplyContext
from core.models import Mode, Resource
from core.policy import ARN_RE, translate

from .vault import function_code_key


def versions(lam: Any, name: str) -> list[dict[str, str]]:
    listed = [v for v in paginate(lam, "list_versions_by_function", "Versions", FunctionName=name)
              if v["Version"] != "$LATEST"]
    return [{"version": v["Version"], "code_sha256": v["CodeSha256"], "description": v.get("Description", "")}
            for v in sorted(listed, key=lambda v: int(v["Version"]))]


def aliases(lam: Any, name: str) -> list[dict[str, Any]]:
    return sorted(({"name": a["Name"], "version": a["FunctionVersion"], "description": a.get("Description", ""),
                    "weights": (a.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}}
                   for a in paginate(lam, "list_aliases", "Aliases", FunctionName=name)), key=lambda a: a["name"])


def source_ref(arn: str) -> str:
    """The "<service>:<name>" ref of an event source: a queue, a stream's table or stream, a cluster."""
    match = ARN_RE.match(arn)
    if not match:
        return arn
    service, resource = match["service"], match["resource"]
    if service == "dynamodb" and resource.startswith("table/"):
        return f"dynamodb:{resource.split('/')[1]}"
    return f"{service}:{resource.split('/')[1] if '/' in resource else resource}"


def event_sources(lam: Any, name: str) -> list[dict[str, Any]]:
    out = []
    for m in paginate(lam, "list_event_source_mappings", "EventSourceMappings", FunctionName=name):
        arn = m.get("EventSourceArn")
        out.append({"arn": arn, "ref": source_ref(arn) if arn else "", "enabled": m.get("State") in (
            "Enabled", "Enabling", "Updating", "Creating"), "batch_size": m.get("BatchSize"),
            "starting_position": m.get("StartingPosition"),
            "batching_window": m.get("MaximumBatchingWindowInSeconds")})
    return sorted(out, key=lambda s: s["arn"] or "")


def recover_versions(lam: Any, name: str, resource: Resource, ctx: ApplyContext) -> tuple[dict[str, str], list[str]]:
    """Publish the captured versions in order, each with its own code (the caller gives $LATEST its code back
    after). Returns (source version -> recovered version, writes)."""
    cfg, writes, mapping = resource.config, [], {}
    if not cfg["versions"]:
        return mapping, writes
    zipped = cfg["package_type"] == "Zip"
    recovered = versions(lam, name)
    last = 0
    for wanted in cfg["versions"]:
        match = next((r for r in recovered if int(r["version"]) > last and r["code_sha256"] == wanted["code_sha256"]
                      and r["description"] == wanted["description"]), None)
        if match is None:
            if zipped:
                writes += _code(lam, name, ctx, wanted["code_sha256"], function_code_key(ctx.plan.name, resource, wanted["code_sha256"]))
            published = lam.publish_version(FunctionName=name, Description=wanted["description"])
            lam.get_waiter("published_version_active").wait(FunctionName=name, Qualifier=published["Version"])
            writes.append("publish_version")
            match = {"version": published["Version"]}
        mapping[wanted["version"]] = match["version"]
        last = int(match["version"])
    return mapping, writes


def latest_code(lam: Any, name: str, resource: Resource, ctx: ApplyContext, image: str | None) -> list[str]:
    """$LATEST runs the recovery point's code: the vault's zip, or the (rewritten) image."""
    if image is None:
        sha = resource.config["code_sha256"]
        return _code(lam, name, ctx, sha, function_code_key(ctx.plan.name, resource, sha))
    if lam.get_function(FunctionName=name)["Code"].get("ImageUri") == image:
        return []
    lam.update_function_code(FunctionName=name, ImageUri=image)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    return ["update_function_code"]


def _code(lam: Any, name: str, ctx: ApplyContext, sha: str, key: str) -> list[str]:
    if lam.get_function_configuration(FunctionName=name)["CodeSha256"] == sha:
        return []
    lam.update_function_code(FunctionName=name, S3Bucket=ctx.plan.vault_bucket, S3Key=key)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    return ["update_function_code"]


def recover_aliases(lam: Any, name: str, captured: list[dict[str, Any]], mapping: dict[str, str],
                    warnings: list[str]) -> list[str]:
    writes = []
    for alias in captured:
        version = "$LATEST" if alias["version"] == "$LATEST" else mapping.get(alias["version"])
        if version is None:
            warnings.append(f"alias {alias['name']} points at version {alias['version']}, which was not recovered")
            continue
        weights = {mapping[v]: w for v, w in alias["weights"].items() if v in mapping}
        kwargs: dict[str, Any] = {"FunctionName": name, "Name": alias["name"], "FunctionVersion": version,
                                  "Description": alias["description"]}
        if weights:
            kwargs["RoutingConfig"] = {"AdditionalVersionWeights": weights}
        try:
            current = lam.get_alias(FunctionName=name, Name=alias["name"])
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
            lam.create_alias(**kwargs)
            writes.append("create_alias")
            continue
        have = (current["FunctionVersion"], current.get("Description", ""),
                (current.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {})
        if have != (version, alias["description"], weights):
            lam.update_alias(**kwargs)
            writes.append("update_alias")
    return writes


def recover_event_sources(lam: Any, name: str, resource: Resource, ctx: ApplyContext,
                          warnings: list[str]) -> list[str]:
    """Only mappings whose source this plan recovered; the others are named in a warning, never dropped silently.
    A drill's mappings are created disabled: an enabled one would consume the recovered queue's messages."""
    writes = []
    for source in resource.config["event_sources"]:
        if not source["arn"]:
            warnings.append("an event source mapping without a source ARN (self-managed Kafka?) was not recreated")
            continue
        try:
            linked = ctx.linked(source["ref"])
            # a stream (a table's) is the linked resource's endpoint, not the resource itself
            recovered = linked.endpoints.get(source["arn"]) or linked.recovered_id or ""
        except KeyError:
            warnings.append(f"event source {source['arn']} is not recovered by this plan: its mapping was not "
                            "recreated (protect the source too, or recreate the mapping by hand)")
            continue
        if "/stream/" in source["arn"] and "/stream/" not in recovered:
            warnings.append(f"event source {source['arn']}: the recovered table has no stream of that kind: its "
                            "mapping was not recreated")
            continue
        arn = (recovered if recovered.startswith("arn:")
               else translate(source["arn"], ctx.translation(resource)).document)
        if paginate(lam, "list_event_source_mappings", "EventSourceMappings", FunctionName=name, EventSourceArn=arn):
            continue
        kwargs: dict[str, Any] = {"FunctionName": name, "EventSourceArn": arn,
                                  "Enabled": source["enabled"] and ctx.mode != Mode.DRILL}
        for key, field in (("BatchSize", "batch_size"), ("StartingPosition", "starting_position"),
                           ("MaximumBatchingWindowInSeconds", "batching_window")):
            if source[field] is not None:
                kwargs[key] = source[field]
        lam.create_event_source_mapping(**kwargs)
        writes.append("create_event_source_mapping")
        if ctx.mode == Mode.DRILL and source["enabled"]:
            warnings.append(f"drill: the mapping from {arn} was created disabled")
    return writes
