"""Where the sandbox's moto EC2 differs from AWS in a way drflow meets, made to behave like AWS.

Installed by drflow.sandbox.server, so it applies to the sandbox only.

- An AMI shared with another account (a launch permission naming it) is invisible there: moto's CopyImage looks
  for the source image in the caller's own account only. Here the image is found in the account that owns it
  when it is shared with the caller, as AWS does (share-then-copy, the cross-account path for imaged servers).
"""

from __future__ import annotations

from typing import Any

from moto.ec2.models import ec2_backends
from moto.ec2.models.amis import Ami, AmiBackend
from moto.ec2.utils import random_ami_id

_own_copy_image = AmiBackend.copy_image


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


def install() -> None:
    AmiBackend.copy_image = _copy_image
