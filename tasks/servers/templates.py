"""The versions drflow writes into a server's DRS launch template, and how a drill borrows that template.

Support for the servers handler (not a handler itself). DRS launches a source server from the DEFAULT version
of the EC2 launch template it keeps for that server, and reads it only when the launch step of the job comes.
Nightly staging keeps that default pointed at the recovered (pilot light) network; the digest of what it wants
is the version's description, so an unchanged template costs one read.

A drill needs its own network in the template for its launch, and nothing else: it makes a version of its own
(described `drflow-drill:<drill id>:<digest>`, tagged with the drill in its instance tags), makes it the
default, and as soon as DRS has decided the launch puts the production default back. A drill killed in that
window leaves its version the default: the next staging run repairs it once no drill launch is running, and
drill cleanup resets it and deletes the drill's versions. A real failover never waits for any of this: it
always writes its own version and makes it the default before it launches.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from core.aws import error_code, paginate
from core.handler import ApplyContext, CleanupContext, tags_of
from core.models import canonical_json

# The DRS launch settings of every source server drflow launches, forward (failover, drill) and back (failback):
# the template drflow writes decides the instance type, address and tags (no right-sizing overwriting the type, no
# copied IP or tags), the instance starts, and it is a new instance, never one launched into an existing instance
# (DRS's "launch into source instance" default sets that on reversed servers: failback would take over the original)
LAUNCH_SETTINGS: dict[str, Any] = {"copyPrivateIp": False, "copyTags": False, "launchDisposition": "STARTED",
                                   "targetInstanceTypeRightSizingMethod": "NONE", "launchIntoInstanceProperties": {}}
DRILL_MARK = "drflow-drill:"
PRODUCTION_MARK = "drflow:"
DELETE_BATCH = 200  # DeleteLaunchTemplateVersions takes at most 200 versions
GONE = "launchTemplateVersionDoesNotExist"


def description(data: dict[str, Any], drill_id: str | None) -> str:
    """What a version drflow writes is described with: the digest of its data, and the drill's id in a drill."""
    digest = hashlib.sha256(canonical_json(data).encode()).hexdigest()[:32]
    return f"{DRILL_MARK}{drill_id}:{digest}" if drill_id else PRODUCTION_MARK + digest


def drill_of(version: dict[str, Any]) -> str | None:
    """The drill a template version was written for (None: production's, or DRS's own)."""
    text = version.get("VersionDescription") or ""
    return text[len(DRILL_MARK):].split(":", 1)[0] if text.startswith(DRILL_MARK) else None


def _versions(ec2: Any, template_id: str) -> list[dict[str, Any]]:
    return paginate(ec2, "describe_launch_template_versions", "LaunchTemplateVersions", LaunchTemplateId=template_id)


def _default(ec2: Any, template_id: str) -> dict[str, Any]:
    return ec2.describe_launch_template_versions(LaunchTemplateId=template_id, Versions=["$Default"])[
        "LaunchTemplateVersions"][0]


def _newest_production(versions: list[dict[str, Any]]) -> dict[str, Any]:
    return max((v for v in versions if drill_of(v) is None), key=lambda v: v["VersionNumber"])


def sync_production(ec2: Any, template_id: str, data: dict[str, Any], drill_launching: Any) -> bool:
    """Nightly staging and failover: the default version launches `data`; True when written.

    When a drill's version is the default (a drill is launching, or one was killed while it did), staging
    keeps its hands off the default while that drill's launch runs (`drill_launching()`: the drill puts back
    the newest production version itself) and repairs it otherwise. A failover passes `lambda: False`: it
    never waits for a drill."""
    wanted = description(data, None)
    current = _default(ec2, template_id)
    if current.get("VersionDescription") == wanted:
        return False
    if drill_of(current) is None:
        _make_default(ec2, template_id, _create(ec2, template_id, wanted, data))
        return True
    newest = _newest_production(_versions(ec2, template_id))
    version, written = newest["VersionNumber"], False
    if newest.get("VersionDescription") != wanted:
        version, written = _create(ec2, template_id, wanted, data), True
    if not drill_launching():
        _make_default(ec2, template_id, version)
        written = True
    return written


@dataclass
class DrillLaunch:
    """A drill's version made the default of a server's template for the drill's launch."""

    template_id: str
    version: int
    previous: int  # the production default before it (or the newest production version, when a drill's was)


def borrow(ctx: ApplyContext, template_id: str, data: dict[str, Any]) -> tuple[DrillLaunch, bool]:
    """Make the drill's version (adopted on a resumed drill) the template's default; True when written."""
    ec2 = ctx.recovery.client("ec2")
    versions = _versions(ec2, template_id)
    wanted = description(data, ctx.drill_id)
    default = next(v for v in versions if v.get("DefaultVersion"))
    previous = default if drill_of(default) is None else _newest_production(versions)
    mine = next((v["VersionNumber"] for v in versions if v.get("VersionDescription") == wanted), None)
    written = mine is None
    if mine is None:
        mine = _create(ec2, template_id, wanted, data)
    if default["VersionNumber"] != mine:
        _make_default(ec2, template_id, mine)
        written = True
    return DrillLaunch(template_id, mine, previous["VersionNumber"]), written


def give_back(ctx: ApplyContext, template_id: str, launch: DrillLaunch | None = None) -> int | None:
    """Once DRS has decided the drill's launch: the production default again, if a version of this drill is still
    the default (anything else was put there since by a failover or staging, and stands). Puts back the default
    from before the drill, or the newest production version written since (staged while the drill launched).
    Returns the version made default, None when nothing was to do."""
    ec2 = ctx.recovery.client("ec2")
    if drill_of(_default(ec2, template_id)) != ctx.drill_id:
        return None
    versions = _versions(ec2, template_id)
    newest = _newest_production(versions)["VersionNumber"]
    target = newest if launch is None or newest > launch.version else launch.previous
    _make_default(ec2, template_id, target)
    return target


def remove_drill_versions(ctx: CleanupContext, template_id: str) -> list[str]:
    """Drill cleanup: the drills' versions of one template, after putting the production default back when one of
    them is still the default (a drill killed mid-launch)."""
    ec2 = ctx.recovery.client("ec2")
    versions = _versions(ec2, template_id)
    ours = [v for v in versions if drill_of(v) and ctx.matches(_instance_tags(v))]
    if not ours:
        return []
    if any(v.get("DefaultVersion") for v in ours):
        _make_default(ec2, template_id, _newest_production(versions)["VersionNumber"])
    numbers = sorted(v["VersionNumber"] for v in ours)
    gone: list[str] = []
    for start in range(0, len(numbers), DELETE_BATCH):
        answer = ec2.delete_launch_template_versions(
            LaunchTemplateId=template_id, Versions=[str(n) for n in numbers[start:start + DELETE_BATCH]])
        failed = [f for f in answer.get("UnsuccessfullyDeletedLaunchTemplateVersions", [])
                  if f.get("ResponseError", {}).get("Code") != GONE]
        if failed:
            raise RuntimeError(f"launch template {template_id}: versions not deleted: " + "; ".join(
                f"{f['VersionNumber']}: {f['ResponseError'].get('Message')}" for f in failed))
        gone += [f"{template_id} v{d['VersionNumber']}" for d in answer.get("SuccessfullyDeletedLaunchTemplateVersions", [])]
    return gone


def _instance_tags(version: dict[str, Any]) -> dict[str, str]:
    """The tags a version gives its instances: a drill's carry the plan and the drill."""
    specs = version.get("LaunchTemplateData", {}).get("TagSpecifications", [])
    return next((tags_of(s) for s in specs if s.get("ResourceType") == "instance"), {})


def _create(ec2: Any, template_id: str, text: str, data: dict[str, Any]) -> int:
    return ec2.create_launch_template_version(LaunchTemplateId=template_id, VersionDescription=text,
                                              LaunchTemplateData=data)["LaunchTemplateVersion"]["VersionNumber"]


def _make_default(ec2: Any, template_id: str, version: int) -> None:
    ec2.modify_launch_template(LaunchTemplateId=template_id, DefaultVersion=str(version))


def settle_launch_configuration(drs: Any, server_id: str, config: dict[str, Any] | None = None) -> bool:
    """Give the source server drflow's LAUNCH_SETTINGS (its launch configuration, read here unless given); True when
    written. No launch-into instance reads the same whether DRS leaves the member out or empty."""
    config = config if config is not None else drs.get_launch_configuration(sourceServerID=server_id)
    current = {k: config.get(k) for k in LAUNCH_SETTINGS}
    current["launchIntoInstanceProperties"] = {k: v for k, v in (
        config.get("launchIntoInstanceProperties") or {}).items() if v}
    if current == LAUNCH_SETTINGS:
        return False
    drs.update_launch_configuration(sourceServerID=server_id, **LAUNCH_SETTINGS)
    return True


def template_of(drs: Any, server_id: str) -> str | None:
    """The EC2 launch template DRS keeps for a source server."""
    try:
        return drs.get_launch_configuration(sourceServerID=server_id).get("ec2LaunchTemplateID")
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None  # the source server went away since it was listed
        raise
