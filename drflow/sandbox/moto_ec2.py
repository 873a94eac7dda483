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
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from moto.ec2.models import ec2_backends
from moto.ec2.models.amis import Ami, AmiBackend
from moto.ec2.models.instances import Instance, InstanceBackend
from moto.ec2.models.nat_gateways import NatGatewayBackend
from moto.ec2.models.security_groups import SecurityGroupBackend
from moto.ec2.models.vpcs import VPCBackend
from moto.ec2.responses.dhcp_options import DHCPOptions
from moto.ec2.utils import random_ami_id

_own_copy_image = AmiBackend.copy_image
_own_prep_nics = Instance.prep_nics
_own_delete_vpc = VPCBackend.delete_vpc
_own_delete_nat_gateway = NatGatewayBackend.delete_nat_gateway
_own_create_dhcp_options = DHCPOptions.create_dhcp_options
_own_terminate = Instance.terminate
_own_describe_security_group_rules = SecurityGroupBackend.describe_security_group_rules
_own_all_reservations = InstanceBackend.all_reservations

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
    if source_image_id in ec2_backends[self.account_id][source_region].amis:
        return _own_copy_image(self, source_image_id, source_region, name, description)
    shared = _shared_image(self.account_id, source_region, source_image_id)
    if shared is None:
        return _own_copy_image(self, source_image_id, source_region, name, description)  # moto's own not-found
    ami = Ami(self, random_ami_id(), instance=None, source_ami=shared, name=name, description=description)
    self.amis[ami.id] = ami
    return ami


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
    SecurityGroupBackend.describe_security_group_rules = _describe_security_group_rules
    DHCPOptions.create_dhcp_options = _create_dhcp_options
    AmiBackend.copy_image = _copy_image
    Instance.prep_nics = _prep_nics
    VPCBackend.delete_vpc = _delete_vpc
    NatGatewayBackend.delete_nat_gateway = _delete_nat_gateway
    Instance.terminate = _terminate
    InstanceBackend.all_reservations = _all_reservations
