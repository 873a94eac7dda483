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
"""

from __future__ import annotations

from typing import Any

from moto.ec2.models import ec2_backends
from moto.ec2.models.amis import Ami, AmiBackend
from moto.ec2.models.instances import Instance
from moto.ec2.models.nat_gateways import NatGatewayBackend
from moto.ec2.models.vpcs import VPCBackend
from moto.ec2.responses.dhcp_options import DHCPOptions
from moto.ec2.utils import random_ami_id

_own_copy_image = AmiBackend.copy_image
_own_prep_nics = Instance.prep_nics
_own_delete_vpc = VPCBackend.delete_vpc
_own_delete_nat_gateway = NatGatewayBackend.delete_nat_gateway
_own_create_dhcp_options = DHCPOptions.create_dhcp_options


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


def install() -> None:
    DHCPOptions.create_dhcp_options = _create_dhcp_options
    AmiBackend.copy_image = _copy_image
    Instance.prep_nics = _prep_nics
    VPCBackend.delete_vpc = _delete_vpc
    NatGatewayBackend.delete_nat_gateway = _delete_nat_gateway
