"""EC2 launch templates (`ec2:launch-template`) that Auto Scaling groups launch from, staged nightly.

A template is protected when it carries the plan's scope tags or an Auto Scaling group uses it (the group links
"ec2:launch-template:<name>"). What is captured is the data of each version a group uses ("$Default",
"$Latest" or a number), with security groups and subnets as resource keys, the instance profile as a link and
the KMS keys of its volumes described, so that the template is rebuilt from the recovery point alone.

Nightly, the template's AMI is copied into the recovery region (shared with the recovery account first, when
that is another account) and tagged with drflow's plan and the SOURCE AMI id: an AMI id never changes content,
so the recovery point, written before staging, already names the copy a failover launches from. Then the
template is created or reconciled in the recovery region under its own name, one version per captured version,
each described by the digest of its data ("drflow-lt:<digest>"): unchanged data costs no write.

These templates are not the DRS launch templates that tasks/servers/templates.py keeps per source server: those
are found through DRS and described "drflow:<digest>"; these are found by drflow's tags with the SOURCE template
id, and neither module ever lists the other's. A drill never touches the staged template: it makes a copy of
its own (suffixed name, drill tag), removed by drill cleanup.
"""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

from core.amis import image_snapshots, share_image, share_problems, snapshot_keys
from core.aws import Side, paginate
from core.capabilities import Audited, ClaimsArnKinds, Cleaner, Preflight
from core.ec2_index import Lookup, created, find_owned
from core.handler import (TAG_PLAN, TAG_SOURCE_ID, Applied, ApplyContext, CleanupContext, Unrecoverable, delete_quietly,
                          tags_of)
from core.keys import KeyCatalog, created_key, key_links, key_problems, recovery_key
from core.models import Phase, Resource, canonical_json, resource_key
from core.ownership import recovered_name
from core.plan import Plan
from core.policy import Translation, translate
from core.references import decode_user_data, encode_user_data
from core.vault import Vault

NAME_LIMIT = 116  # launch template names: 128 characters, less room for drflow's own suffixes
LAUNCH_TEMPLATE = "ec2:launch-template"
MARK = "drflow-lt:"
TAG_KIND, KIND = "drflow:kind", "launch-template-image"  # tells these AMI copies from the imaged servers'
LOOKUP = Lookup("describe_launch_templates", "LaunchTemplates", "LaunchTemplateId", "LaunchTemplateIds")
DROPPED = ("LicenseSpecifications", "CapacityReservationSpecification", "ElasticGpuSpecifications",
           "ElasticInferenceAccelerators", "KeyName", "SecurityGroups", "RamDiskId", "KernelId")
# templates another service keeps for itself (DRS's per source server, Beanstalk's), or a drflow copy: not protected
MANAGED_TAGS = ("AWSElasticDisasterRecoveryManaged", "elasticbeanstalk:environment-name",
                "elasticbeanstalk:environment-id", TAG_SOURCE_ID)
INSTANCE_TAG_TYPES = ("instance", "volume", "network-interface", "spot-instances-request")


def link_to(name: str) -> str:
    """The link an Auto Scaling group names its template by."""
    return f"{LAUNCH_TEMPLATE}:{name}"


def _versions_in_use(source: Side) -> dict[str, set[str]]:
    """Template id -> the versions the source's Auto Scaling groups launch from ("$Default", "$Latest", "3")."""
    used: dict[str, set[str]] = {}
    for group in paginate(source.client("autoscaling"), "describe_auto_scaling_groups", "AutoScalingGroups"):
        spec = group.get("LaunchTemplate") or (group.get("MixedInstancesPolicy") or {}).get(
            "LaunchTemplate", {}).get("LaunchTemplateSpecification")
        if spec and spec.get("LaunchTemplateId"):
            used.setdefault(spec["LaunchTemplateId"], set()).add(spec.get("Version") or "$Default")
    return used


def _capture(data: dict[str, Any], keys: KeyCatalog) -> tuple[dict[str, Any], set[str], list[str], dict[str, Any]]:
    """A version's data with raw ids as resource keys; the keys; the links; the KMS keys it names, described."""
    data = {k: v for k, v in data.items() if k not in DROPPED}
    deps: set[str] = set()
    links: list[str] = []
    kms: dict[str, Any] = {}
    if data.get("SecurityGroupIds"):
        data["SecurityGroupIds"] = sorted(resource_key("ec2:security-group", g) for g in data["SecurityGroupIds"])
        deps.update(data["SecurityGroupIds"])
    interfaces = []
    for nic in data.get("NetworkInterfaces", []):
        nic = {k: v for k, v in nic.items() if k not in ("NetworkInterfaceId", "PrivateIpAddress",
                                                           "PrivateIpAddresses", "Ipv6Addresses")}
        if nic.get("SubnetId"):
            nic["SubnetId"] = resource_key("ec2:subnet", nic["SubnetId"])
            deps.add(nic["SubnetId"])
        if nic.get("Groups"):
            nic["Groups"] = sorted(resource_key("ec2:security-group", g) for g in nic["Groups"])
            deps.update(nic["Groups"])
        interfaces.append(nic)
    if interfaces:
        data["NetworkInterfaces"] = interfaces
    profile = data.pop("IamInstanceProfile", None) or {}
    name = profile.get("Name") or (profile.get("Arn") or "").rsplit("/", 1)[-1]
    if name:
        data["IamInstanceProfile"] = name
        links.append(f"iam:instance-profile:{name}")
    for mapping in data.get("BlockDeviceMappings", []):
        key_id = (mapping.get("Ebs") or {}).get("KmsKeyId")
        if key_id:
            kms[key_id] = keys.describe(key_id)
    data["TagSpecifications"] = [s for s in data.get("TagSpecifications", []) if s["ResourceType"] in INSTANCE_TAG_TYPES]
    placement = {k: v for k, v in (data.pop("Placement", None) or {}).items() if k == "Tenancy"}
    if placement:
        data["Placement"] = placement
    return data, deps, links, kms


class LaunchTemplateHandler(ClaimsArnKinds, Preflight, Cleaner, Audited):
    type: ClassVar[str] = LAUNCH_TEMPLATE
    phase: ClassVar[Phase] = Phase.COMPUTE
    arn_kinds: ClassVar[tuple[str, ...]] = ("ec2:launch-template",)
    pilot_light: ClassVar[bool] = True  # a template costs nothing; its AMI copy is the nightly data copy
    internet_facing: ClassVar[bool] = False
    version: ClassVar[int] = 1

    def discover(self, source: Side, plan: Plan) -> list[Resource]:
        ec2 = source.client("ec2")
        used = _versions_in_use(source)
        keys = KeyCatalog(source)
        out = []
        for template in paginate(ec2, "describe_launch_templates", "LaunchTemplates"):
            if any(k in tags_of(template) for k in MANAGED_TAGS):
                continue
            template_id = template["LaunchTemplateId"]
            wanted = used.get(template_id, set()) | {"$Default"}
            versions: dict[str, Any] = {}
            deps: set[str] = set()
            links: set[str] = set()
            kms: dict[str, Any] = {}
            for label in sorted(wanted):
                [version] = ec2.describe_launch_template_versions(LaunchTemplateId=template_id, Versions=[label])[
                    "LaunchTemplateVersions"]
                data, more, named, described = _capture(version.get("LaunchTemplateData", {}), keys)
                versions[label] = {"number": version["VersionNumber"], "data": data}
                deps |= more
                links.update(named)
                kms.update(described)
            for key in kms.values():
                links.update(key_links(plan, key))
            image_keys = self._image_keys(ec2, plan, versions, keys)
            out.append(Resource(
                type=LAUNCH_TEMPLATE, source_id=template_id, name=template["LaunchTemplateName"],
                arn=f"arn:aws:ec2:{source.region}:{plan.source.account_id}:launch-template/{template_id}",
                tags=tags_of(template), config={"name": template["LaunchTemplateName"], "versions": versions,
                                                "kms_keys": kms, "image_keys": image_keys},
                links=sorted(links), dependencies=sorted(deps)))
        return out

    @staticmethod
    def _image_keys(ec2: Any, plan: Plan, versions: dict[str, Any], keys: KeyCatalog) -> dict[str, Any]:
        """The keys of the encrypted snapshots of the source's own AMIs the versions launch (what a cross-account
        night shares, `_stage_image`), by ARN; the snapshots' keys are on the snapshots only (DescribeSnapshots)."""
        ids = sorted({v["data"]["ImageId"] for v in versions.values() if v["data"].get("ImageId")})
        if not ids:
            return {}
        images = ec2.describe_images(Filters=[{"Name": "image-id", "Values": ids}])["Images"]  # a gone one: none
        encrypted = [m["Ebs"]["SnapshotId"] for i in images if i.get("OwnerId") == plan.source.account_id
                     for m in i.get("BlockDeviceMappings", []) if (m.get("Ebs") or {}).get("Encrypted")
                     and m["Ebs"].get("SnapshotId")]
        return snapshot_keys(ec2, encrypted, keys)

    # -- the AMI copy ---------------------------------------------------------------------------------

    @staticmethod
    def _images(resource: Resource) -> list[str]:
        return sorted({v["data"]["ImageId"] for v in resource.config["versions"].values() if v["data"].get("ImageId")})

    @staticmethod
    def _copy_of(ctx: ApplyContext, image_id: str) -> dict[str, Any] | None:
        images = ctx.recovery.client("ec2").describe_images(Owners=["self"], Filters=[
            {"Name": f"tag:{TAG_PLAN}", "Values": [ctx.plan.name]}, {"Name": f"tag:{TAG_SOURCE_ID}", "Values": [image_id]}])
        return next((i for i in images["Images"] if i.get("State") not in ("failed", "deregistered")), None)

    def _stage_image(self, ctx: ApplyContext, image_id: str) -> str:
        """Copy the source AMI into the recovery region once per plan (several templates may share it)."""
        def copy() -> str:
            found = self._copy_of(ctx, image_id)
            if found:
                return found["ImageId"]
            assert ctx.source is not None, "AMIs are copied during nightly staging only"
            source_ec2 = ctx.source.client("ec2")
            [image] = source_ec2.describe_images(ImageIds=[image_id])["Images"]
            if ctx.plan.cross_account and image.get("OwnerId") == ctx.plan.source.account_id:
                share_image(source_ec2, image_id, ctx.plan.recovery.account_id)
            token = hashlib.sha256(f"{ctx.plan.name}:{image_id}".encode()).hexdigest()[:60]
            ec2 = ctx.recovery.client("ec2")
            copied = ec2.copy_image(SourceImageId=image_id, SourceRegion=ctx.source.region, ClientToken=token,
                                    Name=f"drflow-{image_id}-{token[:8]}",
                                    Description=f"drflow copy of {image_id} ({image.get('Name', '')})"[:255])
            ec2.create_tags(Resources=[copied["ImageId"]], Tags=[
                {"Key": TAG_PLAN, "Value": ctx.plan.name}, {"Key": TAG_SOURCE_ID, "Value": image_id},
                {"Key": TAG_KIND, "Value": KIND},
                {"Key": "Name", "Value": f"drflow {image.get('Name') or image_id}"}])
            return copied["ImageId"]
        return ctx.shared.once(f"launch-template-ami:{image_id}", copy)

    def _prune(self, ctx: ApplyContext) -> list[str]:
        """Deregister the copies of AMIs that no template of the recovery points the vault keeps launches from
        (the point of this night is written before staging, so its AMIs are among them; older points are pruned
        after staging, so a copy only they name is no longer needed). Once per run, by whichever template is
        staged: an unchanged template is cached by the engine, so a copy goes at the latest with the weekly
        re-check."""
        def prune() -> list[str]:
            vault = Vault(ctx.recovery, ctx.plan.vault_bucket, ctx.plan.name)
            wanted = {image for point_id in vault.ids()[-ctx.plan.vault.keep:]
                      for r in vault.load(point_id).resources if r.type == LAUNCH_TEMPLATE for image in self._images(r)}
            if not wanted:
                return []  # no point names a template (a vault that cannot be read must not empty the region)
            ec2 = ctx.recovery.client("ec2")
            gone = []
            for image in paginate(ec2, "describe_images", "Images", Owners=["self"], Filters=[
                    {"Name": f"tag:{TAG_PLAN}", "Values": [ctx.plan.name]}, {"Name": f"tag:{TAG_KIND}", "Values": [KIND]}]):
                if tags_of(image).get(TAG_SOURCE_ID) not in wanted:
                    ec2.deregister_image(ImageId=image["ImageId"])
                    for snapshot in image_snapshots(image):
                        ec2.delete_snapshot(SnapshotId=snapshot)
                    gone.append(image["ImageId"])
            return gone
        return ctx.shared.once("launch-template-ami-prune", prune)

    def _image_map(self, resource: Resource, ctx: ApplyContext) -> dict[str, str]:
        out = {}
        for image_id in self._images(resource):
            if ctx.staging:
                out[image_id] = self._stage_image(ctx, image_id)
                continue
            found = self._copy_of(ctx, image_id)
            if found is None:
                raise Unrecoverable(f"launch template {resource.name}: no copy of {image_id} in "
                                    f"{ctx.recovery.region} (the nightly copy has not run or failed)")
            out[image_id] = found["ImageId"]
        return out

    def preflight(self, resources: list[Resource], ctx: ApplyContext) -> list[tuple[str, str]]:
        problems = [(f"launch_templates.{r.name}", message) for r in resources
                    for key in r.config["kms_keys"].values()
                    for _, message in key_problems(ctx.plan, key, f"launch template {r.name}", shared=True)]
        problems += [(f"launch_templates.{r.name}", f"{message} (its snapshots): copy the AMI with a customer managed "
                      "key (CopyImage with Encrypted and KmsKeyId) and launch the template from the copy")
                     for r in resources for message in share_problems(
                         ctx.plan, r.config.get("image_keys", {}), f"the AMI of launch template {r.name}")]
        if ctx.staging:
            return problems
        return problems + [(f"launch_templates.{r.name}", f"no copy of {image} in {ctx.recovery.region} (the nightly "
                            "copy has not run or failed)") for r in resources for image in self._images(r)
                           if self._copy_of(ctx, image) is None]

    # -- the template -----------------------------------------------------------------------------------

    def _data(self, resource: Resource, ctx: ApplyContext, captured: dict[str, Any],
              images: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
        """One version's data for the recovery side: ids, AMI, profile and keys mapped; the rest translated."""
        handled = ("ImageId", "SecurityGroupIds", "NetworkInterfaces", "IamInstanceProfile", "BlockDeviceMappings",
                   "UserData")
        translation = ctx.translation(resource)
        translated = translate({k: v for k, v in captured.items() if k not in handled}, translation)
        data = {**translated.document, **{k: v for k, v in captured.items() if k in handled}}
        warnings = list(translated.warnings)
        if data.get("UserData"):
            data["UserData"] = _user_data(data["UserData"], translation, warnings)
        if data.get("ImageId"):
            data["ImageId"] = images[data["ImageId"]]
        if data.get("SecurityGroupIds"):
            data["SecurityGroupIds"] = sorted(ctx.ref(g) for g in data["SecurityGroupIds"])
        interfaces = []
        for nic in data.get("NetworkInterfaces", []):
            nic = dict(nic)
            if nic.get("SubnetId"):
                nic["SubnetId"] = ctx.ref(nic["SubnetId"])
            if nic.get("Groups"):
                nic["Groups"] = sorted(ctx.ref(g) for g in nic["Groups"])
            interfaces.append(nic)
        if interfaces:
            data["NetworkInterfaces"] = interfaces
        if data.get("IamInstanceProfile"):
            recovered = ctx.linked(f"iam:instance-profile:{data['IamInstanceProfile']}").recovered_id or ""
            data["IamInstanceProfile"] = {"Arn": recovered} if recovered.startswith("arn:") else \
                {"Name": data["IamInstanceProfile"]}
        mappings = []
        for mapping in data.get("BlockDeviceMappings", []):
            # the AMI copy brings its own snapshots: a source snapshot id means nothing in the recovery region
            ebs = {k: v for k, v in (mapping.get("Ebs") or {}).items() if k != "SnapshotId"}
            if ebs.get("KmsKeyId"):
                key = resource.config["kms_keys"][ebs["KmsKeyId"]]
                ebs["KmsKeyId"] = recovery_key(ctx.plan, key, created_key(ctx, key))
            mappings.append({**mapping, **({"Ebs": ebs} if "Ebs" in mapping else {})})
        if mappings:
            data["BlockDeviceMappings"] = mappings
        return data, warnings

    def read_back(self, resource: Resource, recovered_id: str, ctx: ApplyContext) -> dict[str, Any]:
        """The recovered template's default version as EC2 answers it (user data included: the audit decodes
        it): what its group launches. Earlier versions staged on nights before the failover may still name the
        primary's database, whose recovered address no night can know; the failover's version replaces them
        as the default."""
        [version] = ctx.recovery.client("ec2").describe_launch_template_versions(
            LaunchTemplateId=recovered_id, Versions=["$Default"])["LaunchTemplateVersions"]
        return version["LaunchTemplateData"]

    def find(self, resource: Resource, ctx: ApplyContext) -> str | None:
        found = find_owned(ctx, resource, ctx.recovery.client("ec2"), LOOKUP)
        return found["LaunchTemplateId"] if found else None

    def apply(self, resource: Resource, ctx: ApplyContext) -> Applied:
        ec2 = ctx.recovery.client("ec2")
        images = self._image_map(resource, ctx)
        pruned = self._prune(ctx) if ctx.staging else []
        wanted: dict[str, tuple[str, dict[str, Any]]] = {}
        warnings: list[str] = []
        for label, version in sorted(resource.config["versions"].items()):
            data, more = self._data(resource, ctx, version["data"], images)
            digest = hashlib.sha256(canonical_json(data).encode()).hexdigest()[:32]
            wanted[label] = (f"{MARK}{digest}", data)  # by content: labels with the same data share a version
            warnings += [f"{label}: {w}" for w in more]
        found = find_owned(ctx, resource, ec2, LOOKUP)
        writes = 0
        if found is None:
            self._name_free(ec2, resource, ctx)
            text, data = wanted["$Default"]
            template = ec2.create_launch_template(
                LaunchTemplateName=recovered_name(resource.name, ctx, NAME_LIMIT), VersionDescription=text,
                LaunchTemplateData=data,
                TagSpecifications=ctx.tag_spec(resource, "launch-template"))["LaunchTemplate"]
            template_id = created(ctx, resource, LOOKUP, template["LaunchTemplateId"])
            writes += 1
        else:
            template_id = found["LaunchTemplateId"]
        existing = {v.get("VersionDescription"): v for v in paginate(
            ec2, "describe_launch_template_versions", "LaunchTemplateVersions", LaunchTemplateId=template_id)}
        numbers: dict[str, str] = {}
        for label, (text, data) in wanted.items():
            version = existing.get(text)
            if version is None:
                version = ec2.create_launch_template_version(LaunchTemplateId=template_id, VersionDescription=text,
                                                             LaunchTemplateData=data)["LaunchTemplateVersion"]
                existing[text] = version
                writes += 1
            numbers[label] = str(version["VersionNumber"])
        if found is not None and str(found.get("DefaultVersionNumber")) != numbers["$Default"]:
            ec2.modify_launch_template(LaunchTemplateId=template_id, DefaultVersion=numbers["$Default"])
            writes += 1
        return Applied(template_id, created=found is None, changed=bool(writes) and found is not None,
                       warnings=warnings, details={"name": recovered_name(resource.name, ctx, NAME_LIMIT),
                                                   "versions": numbers,
                                                   "images": images, **({"pruned_images": pruned} if pruned else {})})

    @staticmethod
    def _name_free(ec2: Any, resource: Resource, ctx: ApplyContext) -> None:
        name = recovered_name(resource.name, ctx, NAME_LIMIT)
        taken = ec2.describe_launch_templates(Filters=[{"Name": "launch-template-name", "Values": [name]}])[
            "LaunchTemplates"]
        if taken:
            raise Unrecoverable(f"launch template {name} exists in {ctx.recovery.region} ({taken[0]['LaunchTemplateId']})"
                                " but was not made by drflow for this plan; rename or remove it")

    def cleanup(self, ctx: CleanupContext) -> list[str]:
        """The drills' template copies (after their Auto Scaling groups: a group's template cannot go first)."""
        ec2 = ctx.recovery.client("ec2")
        return [t["LaunchTemplateId"] for t in ctx.ec2_items(ec2, LOOKUP)
                if delete_quietly(ec2.delete_launch_template, LaunchTemplateId=t["LaunchTemplateId"])]


def _user_data(encoded: str, translation: Translation, warnings: list[str]) -> str:
    """User data (base64, perhaps gzip) with its references translated like any document: a boot script that
    exports the database's address or a queue URL names the recovered ones. It may hold secrets: a reference
    left is warned without the script's text. Kept byte for byte when nothing changed (or not text)."""
    decoded = decode_user_data(encoded)
    if decoded is None:
        return encoded
    text, zipped = decoded
    done = translate(text, translation)
    if done.warnings:
        warnings.append("UserData keeps a reference drflow could not translate (the script is not shown: it may "
                        "hold a secret)")
    return encoded if done.document == text else encode_user_data(done.document, zipped)
