"""Policy translation: an IAM (or bucket, or key) policy document of the source, rewritten for the recovery side.

A pure function, so that it can be property-tested and reused by every handler that carries a policy. What
it rewrites, in every string of the document (statement keys and condition operators are left as they are):

- ARNs: the source account becomes the recovery account, the source region the recovery region, and a
  resource the identity map renamed (a replica bucket, a mapped KMS key) gets its new name;
- bare account ids (principals, `aws:SourceAccount`, `aws:ResourceAccount`) and region names
  (`aws:RequestedRegion`);
- VPC, VPC endpoint, security group and subnet ids (conditions such as `aws:SourceVpce`) through the
  identity map;
- inside longer strings (URLs, connection strings, JSON in a string, scripts): known endpoints, embedded ARNs and
  regional service endpoints (core/references.py).

What it cannot translate (another account, an id the identity map does not know, a name that merely
contains the source account id) is kept as it is and listed in the warnings, each with where it stands,
never dropped: a recovery with a policy that still names the primary must be visible in the report.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from core.references import rewrite

ARN_RE = re.compile(r"^arn:(?P<partition>aws[a-z-]*):(?P<service>[a-z0-9-]*):(?P<region>[a-z0-9-*]*):"
                    r"(?P<account>[0-9]{12}|\*|aws|)?:(?P<resource>.*)$", re.DOTALL)
ACCOUNT_RE = re.compile(r"^[0-9]{12}$")
NETWORK_ID_RE = re.compile(r"^(vpc|vpce|sg|subnet)-[0-9a-f]{8,17}$")


@dataclass(frozen=True)
class Translation:
    """From where to where, and what the identity map renamed (source id, name or ARN -> recovered one)."""

    source_account: str
    recovery_account: str
    source_region: str
    recovery_region: str
    renames: dict[str, str] = field(default_factory=dict)
    # source endpoint -> recovered endpoint (hostnames, URLs, URL forms of a bucket), replaced inside any string
    endpoints: dict[str, str] = field(default_factory=dict)
    # nightly staging: source endpoints of dependencies made at failover only (a database): kept tonight without a
    # warning, since the failover, which knows what they became, translates them
    deferred: frozenset[str] = frozenset()


@dataclass
class Translated:
    document: Any
    warnings: list[str]


def translate(document: Any, t: Translation) -> Translated:
    """The document for the recovery side, and a warning for every value kept because it could not be
    translated. The input is not changed."""
    warnings: list[str] = []
    return Translated(_walk(copy.deepcopy(document), t, "$", warnings), warnings)


def _walk(node: Any, t: Translation, path: str, warnings: list[str]) -> Any:
    if isinstance(node, dict):
        return {key: _walk(value, t, f"{path}.{key}", warnings) for key, value in node.items()}
    if isinstance(node, list):
        return [_walk(item, t, f"{path}[{i}]", warnings) for i, item in enumerate(node)]
    if isinstance(node, str):
        return _value(node, t, path, warnings)
    return node


def _value(value: str, t: Translation, path: str, warnings: list[str]) -> str:
    if value in t.renames:
        return t.renames[value]
    if ACCOUNT_RE.match(value):
        if value == t.source_account:
            return t.recovery_account
        if value != t.recovery_account:
            warnings.append(f"{path}: kept {value}: account is neither the source nor the recovery account")
        return value
    if value == t.source_region:
        return t.recovery_region
    if NETWORK_ID_RE.match(value):
        warnings.append(f"{path}: kept {value}: not a resource drflow recovered (no recovered id for it)")
        return value
    if value in t.endpoints:
        return t.endpoints[value]
    match = ARN_RE.match(value)
    if not match:
        return rewrite(value, t, path, warnings, _walk)
    out = _arn(match, t, path, warnings)
    renamed = any(new in out for new in t.renames.values())  # a name the identity map gave: meant as it is
    if t.source_account != t.recovery_account and t.source_account in out and not renamed:
        warnings.append(f"{path}: kept {out}: contains the source account id {t.source_account} outside an "
                        "account field (a name?)")
    return out


def _arn(match: re.Match[str], t: Translation, path: str, warnings: list[str]) -> str:
    parts = match.groupdict()
    account, region, resource = parts["account"] or "", parts["region"], parts["resource"]
    if ACCOUNT_RE.match(account):
        if account == t.source_account:
            account = t.recovery_account
        elif account != t.recovery_account:
            warnings.append(f"{path}: kept {match.group(0)}: account {account} is neither the source nor the "
                            "recovery account")
    if region == t.source_region:
        region = t.recovery_region
    if parts["service"] == "s3" and resource:
        bucket, slash, rest = resource.partition("/")
        resource = t.renames.get(bucket, bucket) + slash + rest
    elif parts["service"] == "kms" and resource.startswith("key/") and resource != "key/*":
        key_id = resource.removeprefix("key/")
        renamed = t.renames.get(key_id)
        if renamed and renamed.startswith("arn:"):
            return renamed
        if renamed:
            resource = f"key/{renamed}"
        elif (account, region) != (parts["account"], parts["region"]):
            warnings.append(f"{path}: kept key id {key_id} in {match.group(0)}: no recovered key for it (map it in "
                            "kms_key_map), so the translated ARN names a key that may not exist")
    elif parts["service"] == "ec2" and "/" in resource:  # security-group/sg-..., vpc/vpc-..., subnet/...
        kind, _, resource_id = resource.partition("/")
        if resource_id in t.renames:
            resource = f"{kind}/{t.renames[resource_id]}"
        elif NETWORK_ID_RE.match(resource_id):
            warnings.append(f"{path}: kept {resource_id} in {match.group(0)}: not a resource drflow recovered")
    return f"arn:{parts['partition']}:{parts['service']}:{region}:{account}:{resource}"


def references(document: Any) -> list[str]:
    """What a policy names that drflow may have recovered under another name or id, or must create first, as
    "<service>:<name>" refs (core.scope.refer): buckets in S3 ARNs, KMS keys, VPC, endpoint, group and subnet
    ids, and IAM roles (a trust policy may only name a role that exists)."""
    found: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for item in node:
                visit(item)
        elif isinstance(node, str):
            if NETWORK_ID_RE.match(node):
                found.add(f"ec2:{node}")
                return
            match = ARN_RE.match(node)
            if not match:
                return
            service, resource = match["service"], match["resource"]
            if service == "s3" and resource and "*" not in resource.partition("/")[0]:
                found.add(f"s3:{resource.partition('/')[0]}")
            elif service == "kms" and resource.startswith("key/") and resource != "key/*":
                found.add(f"kms:{resource.removeprefix('key/')}")
            elif service == "iam" and resource.startswith("role/") and "*" not in resource:
                found.add(f"iam:role:{resource.rsplit('/', 1)[-1]}")
            elif service == "ec2" and "/" in resource and NETWORK_ID_RE.match(resource.partition("/")[2]):
                found.add(f"ec2:{resource.partition('/')[2]}")

    visit(document)
    return sorted(found)
