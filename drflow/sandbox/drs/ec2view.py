"""What the DRS double knows about machines, read straight from moto's EC2 backends.

DRS learns about a source server from its replication agent; in the sandbox the agent is a tag
(`drs-agent=installed`) on a running instance, and the machine's facts (NICs, disks, CPUs) come from
moto's own records. Reading the backends directly, not over HTTP, is deliberate: a dark primary
region must not stop the recovery region's DRS from describing what it already replicated.
"""

from __future__ import annotations

from typing import Any, Iterator

from moto.ec2.models import ec2_backends
from moto.ec2.models.instance_types import INSTANCE_TYPES

AGENT_TAG, AGENT_VALUE = "drs-agent", "installed"
TARGET_REGION_TAG = "drs-target-region"
TARGET_ACCOUNT_TAG = "drs-target-account"
MANAGED_TAG, MANAGED_VALUE = "AWSElasticDisasterRecoveryManaged", "drs.amazonaws.com"
SOURCE_SERVER_TAG = "AWSElasticDisasterRecoverySourceServerID"
GIB = 1024 ** 3


def ec2(account_id: str, region: str) -> Any:
    return ec2_backends[account_id][region]


def tags_of(backend: Any, resource_id: str) -> dict[str, str]:
    return dict(backend.tags.get(resource_id, {}))


def find_instance(backend: Any, instance_id: str) -> Any | None:
    return next((i for i in backend.all_instances() if i.id == instance_id), None)


def agent_instances(account_id: str, drs_region: str) -> Iterator[tuple[str, str, Any, dict[str, str]]]:
    """(account, region, instance, tags) of every agent-tagged instance this DRS region replicates.

    An agent replicates into its own account, or into the account its `drs-target-account` tag names (DRS's
    cross-account replication: the agent installed with the recovery account's credentials).
    Only regions moto has already created are scanned (creating the others would cost seconds).
    Recovery instances (DRS-managed) are never source servers, even when they copied the agent tag.
    """
    for account, regions in list(ec2_backends.items()):
        for region, backend in list(regions.items()):
            if region == drs_region and account == account_id:
                continue
            for instance in backend.all_instances():
                tags = tags_of(backend, instance.id)
                if tags.get(AGENT_TAG) != AGENT_VALUE or MANAGED_TAG in tags:
                    continue
                if tags.get(TARGET_REGION_TAG, drs_region) != drs_region:
                    continue
                if tags.get(TARGET_ACCOUNT_TAG, account) != account_id:
                    continue
                yield account, region, instance, tags


def os_device_name(ec2_device: str, index: int, nitro: bool) -> str:
    """A disk's name as the agent reports it: the name the machine's OS sees, not the block device mapping's.

    DRS "uses the device name as defined on the source server to map disks on the drill or recovery instance" (DRS
    user guide, Key considerations for EC2 launch templates). On a Nitro instance EBS volumes are NVMe devices,
    /dev/nvme0n1, /dev/nvme1n1, ... in attachment order, whatever device name the mapping gave (EC2 user guide,
    Amazon EBS and NVMe); on Xen the OS sees the mapping's name (/dev/xvdb; /dev/sdb as /dev/xvdb)."""
    if nitro:
        return f"/dev/nvme{index}n1"
    return ec2_device.replace("/dev/sd", "/dev/xvd", 1)


def machine(backend: Any, instance: Any) -> dict[str, Any]:
    """The facts DRS reports about a machine: hints, NICs, disks (with volume ids), CPUs, RAM, OS."""
    tags = tags_of(backend, instance.id)
    info = INSTANCE_TYPES.get(instance.instance_type, {})
    vcpus = info.get("VCpuInfo", {}).get("DefaultVCpus", 2)
    ram_mib = info.get("MemoryInfo", {}).get("SizeInMiB", 4096)
    nics = []
    for index, nic in sorted(instance.nics.items()):
        ips = [nic.private_ip_address] if nic.private_ip_address else []
        ips += [a["PrivateIpAddress"] for a in nic.private_ip_addresses
                if a.get("PrivateIpAddress") and a["PrivateIpAddress"] not in ips]
        nics.append({"macAddress": nic.mac_address, "ips": ips, "isPrimary": index == 0})
    disks = []
    nitro = info.get("Hypervisor") == "nitro"
    for index, (device, mapping) in enumerate(instance.get_block_device_mapping):
        volume = backend.volumes.get(mapping.volume_id)
        size = volume.size if volume is not None else (mapping.size or 8)
        disks.append({"deviceName": os_device_name(device, index, nitro), "ec2DeviceName": device,
                      "bytes": int(size) * GIB, "volumeId": mapping.volume_id})
    windows = (instance.platform or "").lower() == "windows"
    return {
        "identificationHints": {"hostname": tags.get("Name") or instance.private_dns_name.split(".")[0],
                                "fqdn": instance.private_dns_name, "awsInstanceID": instance.id},
        "networkInterfaces": nics,
        "disks": disks,
        "cpus": [{"cores": vcpus, "modelName": "Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz"}],
        "ramBytes": ram_mib * 1024 * 1024,
        "os": {"fullString": "Microsoft Windows Server 2022" if windows else "Linux 5.10 (Amazon Linux 2)"},
        "architecture": "arm64" if instance.architecture == "arm64" else "x86_64",
        "instanceType": instance.instance_type,
        "availabilityZone": instance.placement.zone,
        "privateIp": instance.private_ip,
    }

