"""Where the sandbox's moto KMS differs from AWS in a way drflow meets: AWS managed keys, made to look as AWS makes them.

Installed by drflow.sandbox.server (as the other shims are), so it applies to the sandbox only.

An AWS managed key (`alias/aws/rds`, `alias/aws/s3`, ...) is made by KMS in an account and region the first time
it is used, by a service or by naming its predefined alias (KMS API Reference, DescribeKey: "You can use
DescribeKey to create AWS managed keys from a predefined AWS alias with no key ID"). moto 5.2.5 makes one on first
use too, but as an ordinary customer key:

- DescribeKey answers `KeyManager: CUSTOMER`; AWS answers `AWS` (KMS API Reference, KeyMetadata: KeyManager,
  "customer managed or AWS managed"; botocore's kms model, KeyManagerType: AWS | CUSTOMER). Here it is `AWS`.
- Its key policy is moto's default (the account root may do kms:*). AWS's policy of an AWS managed key lets the
  account use the key only through the service that made it (conditions kms:ViaService and kms:CallerAccount),
  and lets the account read its metadata; it cannot be changed (KMS Developer Guide, "AWS managed keys": "You
  cannot manage these KMS keys, rotate them, change their key policies"). Here it carries that policy.
- ListAliases without a key lists the predefined aliases with moto's made-up TargetKeyIds, which name no key;
  AWS lists a predefined alias whose key was not made yet without a TargetKeyId (KMS API Reference, ListAliases:
  "The response might also include aliases that have no TargetKeyId field. These are predefined aliases that AWS
  has created but has not yet associated with a KMS key"). Here they are listed without one.
- Two first uses at once made two keys under the one predefined alias (moto's lookup-then-create is unlocked); AWS
  has one AWS managed key per service, account and region. Here the first use is serialised.
"""

from __future__ import annotations

import json
import threading

from moto.kms.models import Key, KmsBackend
from moto.kms.responses import KmsResponse
from moto.kms.utils import RESERVED_ALIASES

KEY_MANAGER_AWS = "AWS"


def is_aws_managed(key: Key) -> bool:
    return getattr(key, "key_manager", None) == KEY_MANAGER_AWS


def aws_managed_policy(account_id: str, region: str, alias: str) -> str:
    """The key policy AWS gives the AWS managed key of `alias` (alias/aws/<service>): use through that service,
    by principals of the account only; the account reads the key's metadata and revokes grants."""
    service = alias.removeprefix("alias/aws/")
    return json.dumps({"Version": "2012-10-17", "Id": f"auto-{service}-2", "Statement": [
        {"Sid": f"Allow access through {service} for all principals in the account that are authorized to use it",
         "Effect": "Allow", "Principal": {"AWS": "*"},
         "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant",
                    "kms:ListGrants", "kms:DescribeKey"], "Resource": "*",
         "Condition": {"StringEquals": {"kms:ViaService": f"{service}.{region}.amazonaws.com",
                                        "kms:CallerAccount": account_id}}},
        {"Sid": "Allow direct access to key metadata to the account", "Effect": "Allow",
         "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
         "Action": ["kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"], "Resource": "*"}]})


_own_generate_default_keys = KmsBackend._generate_default_keys
_own_get_key_id_from_alias = KmsBackend.get_key_id_from_alias
_first_use = threading.Lock()


def _get_key_id_from_alias(self: KmsBackend, alias_name: str) -> str | None:
    """moto looks the alias up, then makes the AWS managed key, unlocked: two RDS copies at once (a database's and a
    cluster's, on a night's first use of alias/aws/rds) made two keys under the one alias. AWS makes one."""
    if alias_name not in RESERVED_ALIASES:
        return _own_get_key_id_from_alias(self, alias_name)
    with _first_use:
        return _own_get_key_id_from_alias(self, alias_name)


def _generate_default_keys(self: KmsBackend, alias_name: str) -> str | None:
    key_id = _own_generate_default_keys(self, alias_name)
    if key_id is not None:
        key = self.keys[key_id]
        key.key_manager = KEY_MANAGER_AWS
        key.policy = aws_managed_policy(self.account_id, self.region_name, alias_name)
    return key_id


def aws_managed_key(backend: KmsBackend, alias_name: str) -> Key:
    """The account's AWS managed key of a predefined alias in this region, made now if it was never used (as AWS
    makes it on first use)."""
    key_id = backend.get_key_id_from_alias(alias_name)
    assert key_id is not None, f"{alias_name} is not a predefined alias"
    return backend.keys[key_id]


_own_list_aliases = KmsResponse.list_aliases


def _list_aliases(self: KmsResponse) -> str:
    answer = json.loads(_own_list_aliases(self))
    keys = self.kms_backend.keys
    for alias in answer.get("Aliases", []):
        if alias.get("AliasName") in RESERVED_ALIASES and alias.get("TargetKeyId") not in keys:
            alias.pop("TargetKeyId", None)  # predefined, and its key not made yet
    return json.dumps(answer)


def install() -> None:
    KmsBackend._generate_default_keys = _generate_default_keys  # type: ignore[method-assign]
    KmsBackend.get_key_id_from_alias = _get_key_id_from_alias  # type: ignore[method-assign]
    KmsResponse.list_aliases = _list_aliases  # type: ignore[method-assign]

