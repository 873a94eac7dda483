"""Where the sandbox's moto EC2 differs from AWS in a way drflow meets, made to behave like AWS.

Installed by drflow.sandbox.server, so it applies to the sandbox only.

- An AMI shared with another account (a launch permission naming it) is invisible there: moto's CopyImage looks
  for the source image in the caller's own account only. Here the image is found in the account that owns it
  when it is shared with the caller, as AWS does (share-then-copy, the cross-account path for imaged servers).
- An instance's primary network interface, created by the launch, survives the instance's termination in moto
  (DeleteOnTermination false unless the call says true). In AWS it is deleted with the instance unless the launch
  said false; a subnet whose instances were terminated can then be deleted (drill cleanup does it).
- DeleteVpc leaves the VPC's default network ACL behind in moto, and deletes the VPC's DHCP option set. AWS
  deletes the default ACL with the VPC (as moto does the main route table and the default security group), and
  keeps the option set (several VPCs may share it; it is deleted on its own, as drill cleanup does).
- DeleteNatGateway keeps the gateway's Elastic IP associated and its network interface in moto. AWS releases the
  association (the address stays allocated, free for a new gateway: failback recreates a lost one with it) and
  deletes the interface.
- CreateDhcpOptions ignores its TagSpecifications in moto; AWS tags the new set in the same call (botocore's ec2
  model: CreateDhcpOptionsRequest.TagSpecifications, "The tags to assign to the DHCP option"). With moto's
  behaviour a run killed between the create and a separate CreateTags leaves an untagged set no re-run can find.
- DescribeSecurityGroupRules iterates moto's live dicts of groups, which another request's thread may change at the
  same moment ("dictionary changed size during iteration": a 500 with an HTML body botocore cannot parse, seen in
  the suite). AWS answers a consistent read; here the read, which changes nothing, is simply made again.
- A terminated instance stays in moto forever. In AWS it is visible for a while, then gone: "Recently terminated
  instances might appear in the returned results. This interval is usually less than one hour." (EC2 API
  Reference, DescribeInstances), after which DescribeInstances naming it answers InvalidInstanceID.NotFound. Here
  it is forgotten TERMINATED_VISIBLE_SECONDS after its termination, by `set_clock`'s clock (tests move it).
- EBS encryption keys. moto makes the account's default EBS key (for a volume encrypted without KmsKeyId) as a
  customer key named alias/aws/ebs; AWS uses the AWS managed key alias/aws/ebs (EC2 API Reference, CreateVolume,
  KmsKeyId: "If KmsKeyId is specified, the encrypted state must be true. If you omit this parameter and your
  account is enabled for encryption by default, or Encrypted is set to true, then the volume is encrypted using
  the default key"; ResetEbsDefaultKmsKeyId: "the Amazon Web Services managed KMS key for EBS"). Here it is that
  AWS managed key (drflow/sandbox/moto_kms.py), and a key named by alias or id is recorded by its ARN, as
  DescribeVolumes answers it. moto records no key on a snapshot; AWS's snapshot has its volume's (DescribeSnapshots,
  Snapshot.KmsKeyId: "the KMS key that was used to protect the volume encryption key for the parent volume").
- CreateImage in moto snapshots a made-up unencrypted 15 GiB volume; AWS snapshots each EBS volume of the instance,
  under that volume's key. Here the image maps each of the instance's volumes to a snapshot of it. CopyImage of an
  encrypted image makes encrypted snapshots, under the destination's default EBS key (EC2 API Reference,
  CopyImage, KmsKeyId: "The default KMS key for Amazon EBS is used unless you specify a non-default..."; drflow
  names none); moto's copy is unencrypted.
- Sharing what the AWS managed EBS key encrypts is refused, as AWS refuses it; moto shares it. EC2 User Guide,
  "Share an Amazon EBS snapshot": "You can't share snapshots that are encrypted with the default AWS managed key";
  "Share an AMI with specific AWS accounts": AMIs with encrypted snapshots must be encrypted with a customer
  managed key. The codes are AWS's as its users meet them (both listed in the EC2 API Reference's "Common client
  error codes"): ModifySnapshotAttribute adding another account's createVolumePermission answers
  OperationNotPermitted, "Encrypted snapshots with EBS default key cannot be shared"; ModifyImageAttribute adding
  another account's launchPermission to an AMI with such a snapshot answers InvalidParameter, "Snapshots
  encrypted with the AWS Managed CMK can't be shared. Specify another snapshot." (hashicorp/packer issues 7499
  and 7410 quote both answers).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from moto.ec2.exceptions import EC2ClientError, OperationNotPermitted
from moto.ec2.models import ec2_backends
from moto.ec2.models.elastic_block_store import EBSBackend, Snapshot
from moto.ec2.models.amis import Ami, AmiBackend
from moto.ec2.models.instances import Instance, InstanceBackend
from moto.ec2.models.nat_gateways import NatGatewayBackend
from moto.ec2.models.security_groups import SecurityGroupBackend
from moto.ec2.models.vpcs import VPCBackend
from moto.ec2.responses.dhcp_options import DHCPOptions
from moto.ec2.utils import random_ami_id, random_snapshot_id
from moto.kms.models import kms_backends

from drflow.sandbox.moto_kms import aws_managed_key, is_aws_managed

_own_copy_image = AmiBackend.copy_image
_own_prep_nics = Instance.prep_nics
_own_delete_vpc = VPCBackend.delete_vpc
_own_delete_nat_gateway = NatGatewayBackend.delete_nat_gateway
_own_create_dhcp_options = DHCPOptions.create_dhcp_options
_own_terminate = Instance.terminate
_own_describe_security_group_rules = SecurityGroupBackend.describe_security_group_rules
_own_all_reservations = InstanceBackend.all_reservations
_own_create_volume = EBSBackend.create_volume
_own_create_snapshot = EBSBackend.create_snapshot
_own_add_create_volume_permission = EBSBackend.add_create_volume_permission
_own_create_image = AmiBackend.create_image
_own_modify_image_attribute = AmiBackend.modify_image_attribute
_own_block_device_mappings = Ami.block_device_mappings
EBS_DEFAULT_KEY = "alias/aws/ebs"

TERMINATED_VISIBLE_SECONDS = 3600.0  # "usually less than one hour": the longest AWS may keep showing one


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


_clock: Callable[[], datetime] = _utcnow


def set_clock(clock: Callable[[], datetime] | None) -> None:
    """The clock terminated instances age by (a test's FakeClock); None: the real one (Sandbox.reset)."""
    global _clock
    _clock = clock or _utcnow


def _shared_image(account_id: str, region: str, image_id: str) -> Ami | None:
    for owner, regions in list(ec2_backends.items()):
        if owner == account_id or region not in regions:
            continue
        image = regions[region].amis.get(image_id)
        if image is not None and {"UserId": account_id} in image.launch_permissions:
            return image
    return None


def _copy_image(self: Any, source_image_id: str, source_region: str, name: str | None = None,
                description: str | None = None) -> Ami:
    own = ec2_backends[self.account_id][source_region].amis.get(source_image_id)
    shared = None if own else _shared_image(self.account_id, source_region, source_image_id)
    if own is not None or shared is None:
        ami = _own_copy_image(self, source_image_id, source_region, name, description)  # or moto's own not-found
    else:
        ami = Ami(self, random_ami_id(), instance=None, source_ami=shared, name=name, description=description)
        self.amis[ami.id] = ami
    source = own or shared
    if any(encrypted for *_, encrypted in _devices(source)):  # an encrypted image's copy is encrypted, under our key
        key = self._create_default_encryption_key() if not self.default_kms_key_id else self.default_kms_key_id
        _map_devices(self, ami, [(device, Snapshot(self, random_snapshot_id(), volume=_snapshot_of(source, sid).volume,
                                                   description=f"Copied for DestinationAmi {ami.id} from {sid}",
                                                   encrypted=True, kms_key_id=key, from_ami=ami.id), delete)
                                 for device, sid, delete, _ in _devices(source)])
    return ami


# -- EBS keys, image snapshots, and what AWS does not let be shared -----------------------------------


def _key_arn(self: EBSBackend, kms_key_id: str) -> str:
    """A key named by id, alias or alias ARN, as EBS records it: by its key ARN (unknown: as named)."""
    kms = kms_backends[self.account_id][self.region_name]
    if ":key/" in kms_key_id:
        return kms_key_id
    if "alias/" in kms_key_id:
        alias = "alias/" + kms_key_id.split("alias/", 1)[1]
        key_id = aws_managed_key(kms, alias).id if alias.startswith("alias/aws/") else kms.get_key_id_from_alias(alias)
    else:
        key_id = kms_key_id
    key = kms.keys.get(key_id or "")
    return key.arn if key is not None else kms_key_id


def _create_default_encryption_key(self: EBSBackend) -> str:
    self.default_kms_key_id = aws_managed_key(kms_backends[self.account_id][self.region_name], EBS_DEFAULT_KEY).arn
    return self.default_kms_key_id


def _create_volume(self: EBSBackend, size: int, zone_name: str, snapshot_id: str | None = None,
                   encrypted: bool = False, kms_key_id: str | None = None, *args: Any, **kwargs: Any) -> Any:
    if kms_key_id and encrypted:
        kms_key_id = _key_arn(self, kms_key_id)
    elif snapshot_id and not kms_key_id and snapshot_id in self.snapshots and self.snapshots[snapshot_id].encrypted:
        kms_key_id = self.snapshots[snapshot_id].kms_key_id  # a volume of an encrypted snapshot: under its key
        encrypted = True
    return _own_create_volume(self, size, zone_name, snapshot_id, encrypted, kms_key_id, *args, **kwargs)


def _create_snapshot(self: EBSBackend, volume_id: str, *args: Any, **kwargs: Any) -> Snapshot:
    snapshot = _own_create_snapshot(self, volume_id, *args, **kwargs)
    if snapshot.encrypted:
        snapshot.kms_key_id = self.get_volume(volume_id).kms_key_id
    return snapshot


def _devices(ami: Ami) -> list[tuple[str, str, bool, bool]]:
    """(device, snapshot id, delete on termination, encrypted) of each EBS device of an image."""
    return [(m["DeviceName"], m["Ebs"]["SnapshotId"], bool(m["Ebs"].get("DeleteOnTermination")),
             bool(m["Ebs"].get("Encrypted"))) for m in ami.block_device_mappings if m.get("Ebs", {}).get("SnapshotId")]


def _snapshot_of(ami: Ami, snapshot_id: str) -> Snapshot:
    return ami.ec2_backend.snapshots[snapshot_id]


def _map_devices(backend: Any, ami: Ami, devices: list[tuple[str, Snapshot, bool]]) -> None:
    """The image's devices are these snapshots (moto's stand-in snapshot goes)."""
    backend.snapshots.pop(ami.ebs_snapshot.id, None)
    for _, snapshot, _ in devices:
        backend.snapshots[snapshot.id] = snapshot
    ami.ebs_snapshot = next((s for d, s, _ in devices if d == ami.root_device_name), devices[0][1])
    ami._drflow_devices = devices


def _block_device_mappings(self: Ami) -> list[dict[str, Any]]:
    devices = getattr(self, "_drflow_devices", None)
    if not devices:
        return _own_block_device_mappings.fget(self)
    return [{"DeviceName": device, "Ebs": {"SnapshotId": s.id, "VolumeSize": s.volume.size, "Encrypted": s.encrypted,
                                           "DeleteOnTermination": delete, "VolumeType": s.volume.volume_type or "gp2"}}
            for device, s, delete in devices]


def _create_image(self: Any, instance_id: str, *args: Any, **kwargs: Any) -> Ami:
    ami = _own_create_image(self, instance_id, *args, **kwargs)
    instance = self.get_instance(instance_id)
    devices = [(device, self.create_snapshot(mapping.volume_id, f"Created by CreateImage({instance_id}) for {ami.id}",
                                             ami.owner_id, from_ami=ami.id),
                bool(getattr(mapping, "delete_on_termination", True)))
               for device, mapping in sorted(instance.block_device_mapping.items()) if mapping.volume_id]
    if devices:
        ami.root_device_name = instance.root_device_name or ami.root_device_name
        _map_devices(self, ami, devices)
    return ami


def _aws_managed(key_arn: str | None) -> bool:
    parts = str(key_arn or "").split(":")
    if len(parts) < 6 or ":key/" not in str(key_arn):
        return False
    key = kms_backends[parts[4]][parts[3]].keys.get(str(key_arn).rsplit("/", 1)[-1])
    return key is not None and is_aws_managed(key)


def _add_create_volume_permission(self: EBSBackend, snapshot_id: str, user_ids: list[str], groups: list[str]) -> None:
    snapshot = self.get_snapshot(snapshot_id)
    if any(u != self.account_id for u in user_ids or []) and snapshot.encrypted and _aws_managed(snapshot.kms_key_id):
        raise OperationNotPermitted("Encrypted snapshots with EBS default key cannot be shared")
    _own_add_create_volume_permission(self, snapshot_id, user_ids, groups)


def _modify_image_attribute(self: Any, ami_id: str, launch_permissions_to_add: list[dict[str, str]],
                            launch_permissions_to_remove: list[dict[str, str]]) -> None:
    others = [p for p in launch_permissions_to_add or [] if p.get("UserId", self.account_id) != self.account_id
              or "Group" in p or "OrganizationArn" in p or "OrganizationalUnitArn" in p]
    if others:
        [ami] = self.describe_images(ami_ids=[ami_id])
        if any(_aws_managed(_snapshot_of(ami, sid).kms_key_id) for _, sid, _, encrypted in _devices(ami)
               if encrypted and sid in ami.ec2_backend.snapshots):
            raise EC2ClientError("InvalidParameter", "Snapshots encrypted with the AWS Managed CMK can't be shared. "
                                 "Specify another snapshot.")
    _own_modify_image_attribute(self, ami_id, launch_permissions_to_add, launch_permissions_to_remove)


def _prep_nics(self: Instance, nic_spec: list[dict[str, Any]], *args: Any, **kwargs: Any) -> None:
    primary = next((n for n in nic_spec if int(n.get("DeviceIndex", 0)) == 0), {})
    _own_prep_nics(self, nic_spec, *args, **kwargs)
    nic = self.nics.get(0)
    if nic is not None and not primary.get("NetworkInterfaceId") and str(primary.get("DeleteOnTermination")).lower() != "false":
        nic.delete_on_termination = True  # created by this launch, and the launch did not say false


def _delete_vpc(self: Any, vpc_id: str) -> Any:
    vpc = self.vpcs.get(vpc_id)
    options = vpc.dhcp_options if vpc is not None else None
    if vpc is not None:
        vpc.dhcp_options = None  # moto would delete the set along with the VPC
    try:
        vpc = _own_delete_vpc(self, vpc_id)
    except Exception:
        if vpc is not None:
            vpc.dhcp_options = options
        raise
    if options is not None:
        options.vpc = None
    for acl_id in [a.id for a in self.network_acls.values() if a.vpc_id == vpc_id and a.default]:
        self.network_acls.pop(acl_id, None)
    return vpc


def _delete_nat_gateway(self: Any, nat_gateway_id: str) -> Any:
    gateway = _own_delete_nat_gateway(self, nat_gateway_id)
    interface = getattr(gateway, "_eni", None)
    if interface is not None:
        for address in list(self.addresses):
            if address.eni is interface:
                self.disassociate_address(association_id=address.association_id)
        self.delete_network_interface(interface.id)
    return gateway


def _create_dhcp_options(self: DHCPOptions) -> Any:
    tags = self._parse_tag_specification().get("dhcp-options", {})
    result = _own_create_dhcp_options(self)
    if tags:
        options = result.result["DhcpOptions"]
        self.ec2_backend.create_tags([options.id], tags)
    return result


def _terminate(self: Instance) -> Any:
    previous = _own_terminate(self)
    self._drflow_terminated_at = _clock()
    return previous


def _all_reservations(self: Any, filters: Any = None) -> Any:
    """Every describe, by id or by filter, reads the reservations here: those terminated long enough ago go first."""
    cutoff = _clock() - timedelta(seconds=TERMINATED_VISIBLE_SECONDS)
    for reservation_id, reservation in list(self.reservations.items()):
        kept = [i for i in reservation.instances
                if getattr(i, "_drflow_terminated_at", None) is None or i._drflow_terminated_at > cutoff]
        if len(kept) != len(reservation.instances):
            reservation.instances = kept
            if not kept:
                self.reservations.pop(reservation_id, None)
    return _own_all_reservations(self, filters)


def _describe_security_group_rules(self: Any, *args: Any, **kwargs: Any) -> Any:
    for _ in range(9):
        try:
            return _own_describe_security_group_rules(self, *args, **kwargs)
        except RuntimeError as exc:  # a concurrent request changed the groups while this one read them
            if "changed size during iteration" not in str(exc):
                raise
    return _own_describe_security_group_rules(self, *args, **kwargs)


def install() -> None:
    EBSBackend._create_default_encryption_key = _create_default_encryption_key
    EBSBackend.create_volume = _create_volume
    EBSBackend.create_snapshot = _create_snapshot
    EBSBackend.add_create_volume_permission = _add_create_volume_permission
    AmiBackend.create_image = _create_image
    AmiBackend.modify_image_attribute = _modify_image_attribute
    Ami.block_device_mappings = property(_block_device_mappings)
    SecurityGroupBackend.describe_security_group_rules = _describe_security_group_rules
    DHCPOptions.create_dhcp_options = _create_dhcp_options
    AmiBackend.copy_image = _copy_image
    Instance.prep_nics = _prep_nics
    VPCBackend.delete_vpc = _delete_vpc
    NatGatewayBackend.delete_nat_gateway = _delete_nat_gateway
    Instance.terminate = _terminate
    InstanceBackend.all_reservations = _all_reservations
