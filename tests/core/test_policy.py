"""Policy translation (core.policy): real-world policy shapes, table-driven, and properties over any policy."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.policy import Translation, translate

SRC, DST, OTHER = "111111111111", "222222222222", "999999999999"
T = Translation(source_account=SRC, recovery_account=DST, source_region="us-east-1", recovery_region="us-west-2",
                renames={"shop-assets": "shop-assets-us-west-2", "vpc-0a1b2c3d": "vpc-9f8e7d6c",
                         "vpce-01234567": "vpce-76543210", "sg-0123abcd": "sg-dcba3210",
                         f"arn:aws:kms:us-east-1:{SRC}:key/1111aaaa-11aa-11aa-11aa-111111aaaaaa":
                             f"arn:aws:kms:us-west-2:{DST}:key/2222bbbb-22bb-22bb-22bb-222222bbbbbb"})


def _stmt(**body) -> dict:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", **body}]}


# (name, source statement body, expected recovery statement body, number of warnings)
SHAPES = [
    ("wildcard everything", {"Action": "*", "Resource": "*"}, {"Action": "*", "Resource": "*"}, 0),
    ("s3 bucket and keys renamed", {"Action": ["s3:GetObject", "s3:ListBucket"],
                                    "Resource": ["arn:aws:s3:::shop-assets", "arn:aws:s3:::shop-assets/*"]},
     {"Action": ["s3:GetObject", "s3:ListBucket"],
      "Resource": ["arn:aws:s3:::shop-assets-us-west-2", "arn:aws:s3:::shop-assets-us-west-2/*"]}, 0),
    ("s3 key prefix kept under the renamed bucket", {"Action": "s3:PutObject",
                                                     "Resource": "arn:aws:s3:::shop-assets/uploads/${aws:username}/*"},
     {"Action": "s3:PutObject", "Resource": "arn:aws:s3:::shop-assets-us-west-2/uploads/${aws:username}/*"}, 0),
    ("s3 bucket not recovered is kept", {"Action": "s3:GetObject", "Resource": "arn:aws:s3:::logs/*"},
     {"Action": "s3:GetObject", "Resource": "arn:aws:s3:::logs/*"}, 0),
    ("regional ARN: region and account", {"Action": "sqs:SendMessage",
                                          "Resource": f"arn:aws:sqs:us-east-1:{SRC}:orders"},
     {"Action": "sqs:SendMessage", "Resource": f"arn:aws:sqs:us-west-2:{DST}:orders"}, 0),
    ("wildcard region and account in an ARN", {"Action": "logs:*", "Resource": "arn:aws:logs:*:*:log-group:/shop/*"},
     {"Action": "logs:*", "Resource": "arn:aws:logs:*:*:log-group:/shop/*"}, 0),
    ("NotResource", {"NotAction": "iam:*", "NotResource": f"arn:aws:dynamodb:us-east-1:{SRC}:table/audit"},
     {"NotAction": "iam:*", "NotResource": f"arn:aws:dynamodb:us-west-2:{DST}:table/audit"}, 0),
    ("aws:SourceAccount condition", {"Principal": {"Service": "s3.amazonaws.com"}, "Action": "sts:AssumeRole",
                                     "Condition": {"StringEquals": {"aws:SourceAccount": SRC}}},
     {"Principal": {"Service": "s3.amazonaws.com"}, "Action": "sts:AssumeRole",
      "Condition": {"StringEquals": {"aws:SourceAccount": DST}}}, 0),
    ("aws:SourceVpce and aws:SourceVpc conditions", {
        "Action": "s3:*", "Resource": "*",
        "Condition": {"StringEquals": {"aws:SourceVpce": ["vpce-01234567"], "aws:SourceVpc": "vpc-0a1b2c3d"}}},
     {"Action": "s3:*", "Resource": "*",
      "Condition": {"StringEquals": {"aws:SourceVpce": ["vpce-76543210"], "aws:SourceVpc": "vpc-9f8e7d6c"}}}, 0),
    ("unknown endpoint id kept and warned", {"Action": "s3:*", "Resource": "*",
                                             "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-0fffffff"}}},
     {"Action": "s3:*", "Resource": "*", "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-0fffffff"}}}, 1),
    ("account root principal", {"Principal": {"AWS": f"arn:aws:iam::{SRC}:root"}, "Action": "kms:*", "Resource": "*"},
     {"Principal": {"AWS": f"arn:aws:iam::{DST}:root"}, "Action": "kms:*", "Resource": "*"}, 0),
    ("bare account principal", {"Principal": {"AWS": SRC}, "Action": "sts:AssumeRole"},
     {"Principal": {"AWS": DST}, "Action": "sts:AssumeRole"}, 0),
    ("third-party account kept and warned", {"Principal": {"AWS": [f"arn:aws:iam::{OTHER}:role/vendor", SRC]},
                                             "Action": "sts:AssumeRole",
                                             "Condition": {"StringEquals": {"sts:ExternalId": "abc"}}},
     {"Principal": {"AWS": [f"arn:aws:iam::{OTHER}:role/vendor", DST]}, "Action": "sts:AssumeRole",
      "Condition": {"StringEquals": {"sts:ExternalId": "abc"}}}, 1),
    ("service-linked role", {"Action": "iam:PassRole",
                             "Resource": f"arn:aws:iam::{SRC}:role/aws-service-role/elasticloadbalancing.amazonaws.com/"
                                         "AWSServiceRoleForElasticLoadBalancing"},
     {"Action": "iam:PassRole", "Resource": f"arn:aws:iam::{DST}:role/aws-service-role/"
                                            "elasticloadbalancing.amazonaws.com/AWSServiceRoleForElasticLoadBalancing"}, 0),
    ("AWS managed policy ARN untouched", {"Action": "iam:AttachRolePolicy",
                                          "Condition": {"ArnEquals": {"iam:PolicyARN": "arn:aws:iam::aws:policy/ReadOnlyAccess"}}},
     {"Action": "iam:AttachRolePolicy",
      "Condition": {"ArnEquals": {"iam:PolicyARN": "arn:aws:iam::aws:policy/ReadOnlyAccess"}}}, 0),
    ("mapped KMS key", {"Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                        "Resource": f"arn:aws:kms:us-east-1:{SRC}:key/1111aaaa-11aa-11aa-11aa-111111aaaaaa"},
     {"Action": ["kms:Decrypt", "kms:GenerateDataKey"],
      "Resource": f"arn:aws:kms:us-west-2:{DST}:key/2222bbbb-22bb-22bb-22bb-222222bbbbbb"}, 0),
    ("requested region", {"Action": "ec2:*", "Resource": "*",
                          "Condition": {"StringEquals": {"aws:RequestedRegion": ["us-east-1", "eu-west-1"]}}},
     {"Action": "ec2:*", "Resource": "*",
      "Condition": {"StringEquals": {"aws:RequestedRegion": ["us-west-2", "eu-west-1"]}}}, 0),
    ("security groups in EC2 ARNs: recovered renamed, unknown warned", {
        "Action": "ec2:RunInstances", "Resource": [f"arn:aws:ec2:us-east-1:{SRC}:security-group/sg-0123abcd",
                                                   f"arn:aws:ec2:us-east-1:{SRC}:security-group/sg-0fff0fff"]},
     {"Action": "ec2:RunInstances", "Resource": [f"arn:aws:ec2:us-west-2:{DST}:security-group/sg-dcba3210",
                                                 f"arn:aws:ec2:us-west-2:{DST}:security-group/sg-0fff0fff"]}, 1),
    ("a name holding the account id is kept and warned", {"Action": "s3:*",
                                                          "Resource": f"arn:aws:s3:::backups-{SRC}/*"},
     {"Action": "s3:*", "Resource": f"arn:aws:s3:::backups-{SRC}/*"}, 1),
]


@pytest.mark.parametrize("source,expected,warnings", [s[1:] for s in SHAPES], ids=[s[0] for s in SHAPES])
def test_real_world_policy_shapes_translate_as_expected(source, expected, warnings):
    result = translate(_stmt(**source), T)
    assert result.document == _stmt(**expected)
    assert len(result.warnings) == warnings, result.warnings


def test_every_warning_names_where_the_kept_value_stands():
    [warning] = translate(_stmt(Principal={"AWS": f"arn:aws:iam::{OTHER}:root"}), T).warnings
    assert warning.startswith("$.Statement[0].Principal.AWS: kept") and OTHER in warning


def test_the_input_document_is_not_changed():
    source = _stmt(Resource=f"arn:aws:sqs:us-east-1:{SRC}:orders")
    before = json.dumps(source)
    translate(source, T)
    assert json.dumps(source) == before


# -- properties over any policy -------------------------------------------------------------------------

ACCOUNTS = st.sampled_from([SRC, DST, OTHER, "*", ""])
REGIONS = st.sampled_from(["us-east-1", "us-west-2", "eu-west-1", "*", ""])
SERVICES = st.sampled_from(["s3", "sqs", "iam", "kms", "ec2", "dynamodb", "lambda", "logs"])
NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-/*", min_size=1, max_size=20)
ARNS = st.builds(lambda svc, region, account, name: f"arn:aws:{svc}:{region}:{account}:{name}",
                 SERVICES, REGIONS, ACCOUNTS, NAMES)
VALUES = st.one_of(ARNS, st.sampled_from([SRC, OTHER, "us-east-1", "vpce-01234567", "vpce-0fffffff", "*",
                                          "s3.amazonaws.com", "shop-assets"]), NAMES)
ONE_OR_MANY = st.one_of(VALUES, st.lists(VALUES, min_size=1, max_size=4))
CONDITIONS = st.dictionaries(st.sampled_from(["StringEquals", "ArnLike", "StringNotEquals"]),
                             st.dictionaries(st.sampled_from(["aws:SourceAccount", "aws:SourceVpce", "aws:SourceArn",
                                                              "aws:RequestedRegion", "aws:PrincipalAccount"]),
                                             ONE_OR_MANY, min_size=1, max_size=3), max_size=2)
STATEMENTS = st.fixed_dictionaries(
    {"Effect": st.sampled_from(["Allow", "Deny"]), "Action": st.one_of(st.just("*"), st.lists(
        st.sampled_from(["s3:GetObject", "kms:Decrypt", "sqs:*", "iam:PassRole"]), min_size=1, max_size=3))},
    optional={"Sid": st.sampled_from(["AllowShop", "DenyOthers"]), "Resource": ONE_OR_MANY, "NotResource": ONE_OR_MANY,
              "Principal": st.one_of(st.just("*"), st.fixed_dictionaries({"AWS": ONE_OR_MANY})),
              "Condition": CONDITIONS})
POLICIES = st.fixed_dictionaries({"Version": st.just("2012-10-17"),
                                  "Statement": st.lists(STATEMENTS, min_size=1, max_size=4)})


def _strings(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
    elif isinstance(node, str):
        yield node


@settings(max_examples=300, deadline=None)
@given(POLICIES)
def test_no_source_account_or_region_remains_unless_warned(policy):
    result = translate(policy, T)
    warned = " ".join(result.warnings)
    for value in _strings(result.document):
        assert value not in (SRC, "us-east-1")
        if value.startswith("arn:"):  # never in an ARN's account or region field, warned or not
            _, _, _, region, account, *_ = value.split(":", 5)
            assert account != SRC and region != "us-east-1", value
        if SRC in value:  # elsewhere only inside a name, and then listed
            assert value in warned, value


@settings(max_examples=300, deadline=None)
@given(POLICIES)
def test_the_translated_policy_keeps_its_shape_and_stays_valid_json(policy):
    document = translate(policy, T).document
    assert json.loads(json.dumps(document)) == document
    assert document["Version"] == "2012-10-17"
    assert [sorted(s) for s in document["Statement"]] == [sorted(s) for s in policy["Statement"]]
    for before, after in zip(policy["Statement"], document["Statement"]):
        assert after["Effect"] == before["Effect"] and after["Action"] == before["Action"]
        assert sorted(after.get("Condition", {})) == sorted(before.get("Condition", {}))


@settings(max_examples=200, deadline=None)
@given(POLICIES)
def test_translating_within_one_account_and_region_changes_nothing(policy):
    same = Translation(source_account=SRC, recovery_account=SRC, source_region="us-east-1",
                       recovery_region="us-east-1")
    assert translate(policy, same).document == policy
