"""Amazon ECS task definitions, and what the ECS handlers share (clusters and services: tasks/ecs/services.py).

A task definition is free, so it is staged nightly: each one a service uses (or that the plan's tags select) is
registered in the recovery region as a translated revision: its images in the source's own ECR registry rewritten
to the replica repositories (the repository is a link, so the ECR handler replicates it first), its task and
execution roles the recovered ones (the production roles themselves in the same account), its awslogs configuration
pointing at the recovery region (the log group is created there when missing), and every other document in it
(environment, secrets, volumes) translated like a policy. A revision number is not portable between regions, so a
registered revision is found again by drflow's tags: its source id ("<family>:<revision>") and a hash of what was
registered, so a re-run adopts it and a changed translation registers (exactly) one new revision. Environment
values may be secrets: they are translated but never logged nor reported.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import replace
from typing import Any, ClassVar

from botocore.exceptions import ClientError

from core.aws import Side, error_code, paginate
from core.capabilities import Audited, ClaimsArnKinds, Cleaner
from core.handler import Applied, ApplyContext, CleanupContext, Unrecoverable, delete_quietly
from core.images import repository_link, rewritten, source_repository
from core.models import Phase, Resource, canonical_json
from core.ownership import owned, recovered_name
from core.plan import Plan
from core.policy import ARN_RE, Translation, translate

CLUSTER = "ecs:cluster"
TASK_DEFINITION = "ecs:task-definition"
SERVICE = "ecs:service"
TAG_CONTENT = "drflow:content"
FARGATE_PROVIDERS = ("FARGATE", "FARGATE_SPOT")  # built in; any other capacity provider is an Auto Scaling group
ROLE_FIELDS = ("taskRoleArn", "executionRoleArn")
UNLINKED_ROLE_PATHS = ("/aws-service-role/", "/aws-reserved/")  # roles the IAM handler does not recover
CLUSTER_INCLUDE = ["SETTINGS", "CONFIGURATIONS", "TAGS"]


# -- shared by the ECS handlers -------------------------------------------------------------------------

def tag_dict(tags: list[dict[str, str]] | None) -> dict[str, str]:
    """ECS's tags ({key, value}, lower case) as a dict."""
    return {t["key"]: t["value"] for t in tags or []}


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in sorted(tags.items())]


def chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def clusters(ecs: Any) -> list[dict[str, Any]]:
    """Every ACTIVE cluster of a region, with its settings, configuration and tags (100 a describe)."""
    arns = paginate(ecs, "list_clusters", "clusterArns")
    found = [c for chunk in chunks(arns, 100)
             for c in ecs.describe_clusters(clusters=chunk, include=CLUSTER_INCLUDE)["clusters"]]
    return [c for c in found if c.get("status") == "ACTIVE"]


def services(ecs: Any, cluster_arn: str) -> list[dict[str, Any]]:
    """The ACTIVE services of a cluster, with their tags (10 a describe, the API's limit)."""
    arns = paginate(ecs, "list_services", "serviceArns", cluster=cluster_arn)
    found = [s for chunk in chunks(arns, 10)
             for s in ecs.describe_services(cluster=cluster_arn, services=chunk, include=["TAGS"])["services"]]
    return [s for s in found if s.get("status") == "ACTIVE"]


# -- task definitions ---------------------------------------------------------------------------------------

class TaskDefinitionHandler(ClaimsArnKinds, Cleaner, Audited):
    type: ClassVar[str] = TASK_DEFINITION
    phase: ClassVar[Phase] = Phase.COMPUTE
    arn_kinds: ClassVar[tuple[str, ...]] = ("ecs:task-definition",)
    pilot_light: ClassVar[bool] = True  # a registered revision costs nothing
    internet_facing: ClassVar[bool] = False
    version: ClassVar[int] = 1

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        """The revisions the services run, and the latest ACTIVE revision of every family (selected when the
        plan's tags are on it)."""
        ecs, logs = source.client("ecs"), source.client("logs")
        fields = set(ecs.meta.service_model.operation_model("RegisterTaskDefinition").input_shape.members)
        wanted = {s["taskDefinition"] for c in clusters(ecs) for s in services(ecs, c["clusterArn"])}
        wanted |= set(paginate(ecs, "list_task_definition_families", "families", status="ACTIVE"))
        out: dict[str, Resource] = {}
        retention: dict[str, int | None] = {}
        for ref in sorted(wanted):
            described = ecs.describe_task_definition(taskDefinition=ref, include=["TAGS"])
            td = described["taskDefinition"]
            source_id = f"{td['family']}:{td['revision']}"
            if source_id in out:
                continue
            definition = {k: v for k, v in td.items() if k in fields and k not in ("family", "tags")}
            links = set()
            for container in definition.get("containerDefinitions", []):
                repository = source_repository(container.get("image", ""), plan.source.account_id, plan.source.region)
                if repository:
                    links.add(repository_link(repository))
                group = _awslogs_group(container)
                if group and group not in retention:
                    retention[group] = _retention(logs, group)
            links |= {_role_link(definition[f], plan) for f in ROLE_FIELDS if definition.get(f)} - {None}
            groups = {g: retention[g] for c in definition.get("containerDefinitions", [])
                      if (g := _awslogs_group(c))}
            out[source_id] = Resource(type=TASK_DEFINITION, source_id=source_id, arn=td["taskDefinitionArn"],
                                      name=td["family"], tags=tag_dict(described.get("tags")), links=sorted(links),
                                      config={"family": td["family"], "definition": definition, "log_groups": groups})
        return list(out.values())

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        mine = self._registered(resource, ctx)
        return mine[0]["taskDefinitionArn"] if mine else None

    def _registered(self, resource: Resource, ctx: ApplyContext) -> list[dict[str, Any]]:
        """ACTIVE revisions drflow registered for this resource (newest first), each with its tags."""
        ecs = ctx.recovery.client("ecs")
        family = recovered_name(resource.config["family"], ctx)
        out = []
        for arn in paginate(ecs, "list_task_definitions", "taskDefinitionArns", familyPrefix=family,
                            status="ACTIVE", sort="DESC"):
            described = ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"])
            tags = tag_dict(described.get("tags"))
            if described["taskDefinition"]["family"] == family and owned(tags, resource, ctx):
                out.append({**described["taskDefinition"], "tags": tags})
        return out

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        ecs = ctx.recovery.client("ecs")
        definition, warnings = self._translated(resource, ctx)
        content = hashlib.sha256(canonical_json(definition).encode()).hexdigest()[:32]
        self._log_groups(resource, ctx, definition)
        mine = self._registered(resource, ctx)
        current = next((d for d in mine if d["tags"].get(TAG_CONTENT) == content), None)
        details = {"images": sorted({c["image"] for c in definition["containerDefinitions"]})}
        if current is None:
            tags = {**ctx.tags(resource), TAG_CONTENT: content}
            current = ecs.register_task_definition(family=recovered_name(resource.config["family"], ctx), **definition,
                                                   tags=tag_list(tags))["taskDefinition"]
        stale = [d["taskDefinitionArn"] for d in mine if d["taskDefinitionArn"] != current["taskDefinitionArn"]]
        for arn in stale:  # an earlier translation (a moved replica, a changed role): drflow's own, replaced
            ecs.deregister_task_definition(taskDefinition=arn)
        details.update(revision=current["revision"], deregistered=stale)
        return Applied(current["taskDefinitionArn"], created=not mine, changed=bool(mine) and bool(stale),
                       details=details, warnings=warnings)

    def _translated(self, resource: Resource, ctx: ApplyContext) -> tuple[dict[str, Any], list[str]]:
        """The definition to register in the recovery region, and what could not be translated (never a value
        of an environment variable: it may be a secret)."""
        cfg, warnings = resource.config, []
        t = _document_translation(resource, ctx)
        source = copy.deepcopy(cfg["definition"])
        containers = source.pop("containerDefinitions")
        roles = {f: source.pop(f) for f in ROLE_FIELDS if source.get(f)}
        done = translate(source, t)
        definition = done.document
        warnings += [f"task definition {w}" for w in done.warnings]
        for field, arn in roles.items():
            link = _role_link(arn, ctx.plan)
            if link:
                definition[field] = ctx.linked(link).recovered_id
            else:
                done = translate(arn, t)
                definition[field], warnings = done.document, warnings + [f"{field}: {w}" for w in done.warnings]
        definition["containerDefinitions"] = [self._container(c, resource, ctx, t, warnings) for c in containers]
        return definition, warnings

    def _container(self, container: dict[str, Any], resource: Resource, ctx: ApplyContext, t: Translation,
                   warnings: list[str]) -> dict[str, Any]:
        name, image = container["name"], container.get("image", "")
        environment = container.pop("environment", None)
        done = translate({k: v for k, v in container.items() if k != "image"}, t)
        out = {**done.document, "image": image}
        warnings += [f"container {name} {w}" for w in done.warnings]
        repository = source_repository(image, ctx.plan.source.account_id, ctx.plan.source.region)
        if repository:
            replica = ctx.linked(repository_link(repository)).recovered_id
            if not replica:
                raise Unrecoverable(f"container {name}: ECR repository {repository} has no replica in "
                                    f"{ctx.plan.recovery.region} yet (its image {image} cannot be pulled there)")
            out["image"] = rewritten(image, replica)
        group = _awslogs_group(out)
        if group:
            options = out["logConfiguration"]["options"]
            options["awslogs-group"] = recovered_name(group, ctx)
            options["awslogs-region"] = ctx.plan.recovery.region
        if environment is not None:
            out["environment"] = []
            for variable in environment:
                value = translate(variable.get("value", ""), t)
                out["environment"].append({**variable, "value": value.document})
                if value.warnings:
                    warnings.append(f"container {name}: environment variable {variable['name']} keeps a reference "
                                    "drflow could not translate (value not shown: it may be a secret)")
        return out

    def read_back(self, resource: Resource, recovered_id: str, ctx: ApplyContext) -> dict[str, Any]:
        """The registered revision as ECS answers it: containers (images, environment, secrets, logging), roles,
        volumes (an EFS file system id)."""
        td = ctx.recovery.client("ecs").describe_task_definition(taskDefinition=recovered_id)["taskDefinition"]
        return {k: td[k] for k in ("containerDefinitions", "taskRoleArn", "executionRoleArn", "volumes",
                                   "proxyConfiguration") if td.get(k)}

    def _log_groups(self, resource: Resource, ctx: ApplyContext, definition: dict[str, Any]) -> None:
        """The awslogs groups the containers write to, created in the recovery region when missing (tagged:
        a drill's are removed with it); a task cannot start when its log group is missing."""
        logs = ctx.recovery.client("logs")
        retention = {recovered_name(g, ctx): days for g, days in resource.config["log_groups"].items()}
        for group in sorted({g for c in definition["containerDefinitions"] if (g := _awslogs_group(c))}):
            listed = paginate(logs, "describe_log_groups", "logGroups", logGroupNamePrefix=group)
            found = next((g for g in listed if g["logGroupName"] == group), None)
            if found is None:
                try:
                    logs.create_log_group(logGroupName=group, tags=ctx.tags(resource))
                except ClientError as exc:
                    if error_code(exc) != "ResourceAlreadyExistsException":
                        raise
            # also on a group found: a run killed between the create and this call left it without its retention
            if retention.get(group) and (found or {}).get("retentionInDays") != retention[group]:
                logs.put_retention_policy(logGroupName=group, retentionInDays=retention[group])

    def cleanup(self, ctx: CleanupContext) -> list[str]:
        """The drills' revisions (deregistered, then deleted) and the log groups made for them; after their
        services."""
        ecs, logs = ctx.recovery.client("ecs"), ctx.recovery.client("logs")
        removed, groups = [], set()
        for status in ("ACTIVE", "INACTIVE"):
            for arn in paginate(ecs, "list_task_definitions", "taskDefinitionArns", status=status):
                described = ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"])
                if not ctx.matches(tag_dict(described.get("tags"))):
                    continue
                groups |= {g for c in described["taskDefinition"].get("containerDefinitions", [])
                           if (g := _awslogs_group(c))}
                if status == "ACTIVE":
                    ecs.deregister_task_definition(taskDefinition=arn)
                ecs.delete_task_definitions(taskDefinitions=[arn])
                removed.append(arn)
        for group in sorted(groups):
            for listed in paginate(logs, "describe_log_groups", "logGroups", logGroupNamePrefix=group):
                if listed["logGroupName"] != group:
                    continue
                arn = listed["arn"].removesuffix(":*")
                if ctx.matches(logs.list_tags_for_resource(resourceArn=arn).get("tags")) and \
                        delete_quietly(logs.delete_log_group, logGroupName=group):
                    removed.append(arn)
        return removed


def _awslogs_group(container: dict[str, Any]) -> str | None:
    config = container.get("logConfiguration") or {}
    if config.get("logDriver") != "awslogs":
        return None
    return (config.get("options") or {}).get("awslogs-group")


def _retention(logs: Any, group: str) -> int | None:
    listed = paginate(logs, "describe_log_groups", "logGroups", logGroupNamePrefix=group)
    return next((g.get("retentionInDays") for g in listed if g["logGroupName"] == group), None)


def _role_link(arn: str, plan: Plan) -> str | None:
    """"iam:role:<name>" for a role of the source account that the IAM handler recovers; None for another
    account's or a service-linked role (kept, translated like any ARN)."""
    match = ARN_RE.match(arn)
    if not match or match["service"] != "iam" or match["account"] != plan.source.account_id:
        return None
    path = "/" + match["resource"].removeprefix("role/")
    if path.startswith(UNLINKED_ROLE_PATHS):
        return None
    return f"iam:role:{path.rsplit('/', 1)[-1]}"


def _document_translation(resource: Resource, ctx: ApplyContext) -> Translation:
    """ctx.translation without the renames of roles and repositories: those are set where they stand (a
    container named like a role must keep its name)."""
    t = ctx.translation(resource)
    named = {r.source_id for key in resource.dependencies if (r := ctx.deps.get(key))
             and r.type.split(":", 1)[0] in ("iam", "ecr")}
    return replace(t, renames={k: v for k, v in t.renames.items() if k not in named})
