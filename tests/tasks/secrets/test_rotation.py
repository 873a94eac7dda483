"""A recovered secret's rotation is re-linked to the recovered rotation function, on the source's schedule.

moto 5.2.5's RotateSecret invokes the rotation function at once (a Docker container) even with RotateImmediately
false, so these calls are made against botocore's Stubber with the real secretsmanager model: the parameters drflow
sends are checked against it, and the answers are the model's shapes.
"""

from __future__ import annotations

import boto3
from botocore.stub import Stubber

from core.models import Resource
from core.policy import Translation
from tasks.secrets import SecretHandler

SOURCE, RECOVERY, ACCOUNT = "us-east-1", "us-west-2", "111111111111"
RECOVERED = f"arn:aws:secretsmanager:{RECOVERY}:{ACCOUNT}:secret:shop/db-AbCdEf"
ROTATOR = "arn:aws:lambda:{}:111111111111:function:shop-rotate"
RULES = {"AutomaticallyAfterDays": 30}


def _secret() -> Resource:
    return Resource(type="secretsmanager:secret", source_id="shop/db", name="shop/db", config={
        "rotation": {"lambda": ROTATOR.format(SOURCE), "rules": {**RULES, "Extra": "ignored"}}})


def _client():
    return boto3.client("secretsmanager", region_name=RECOVERY, aws_access_key_id="x", aws_secret_access_key="x")


T = Translation(ACCOUNT, ACCOUNT, SOURCE, RECOVERY, renames={"shop-rotate": ROTATOR.format(RECOVERY)})


def test_rotation_is_relinked_to_the_recovered_function_without_rotating_at_once():
    sm = _client()
    warnings: list[str] = []
    with Stubber(sm) as stub:
        stub.add_response("describe_secret", {"ARN": RECOVERED, "Name": "shop/db", "RotationEnabled": False},
                          {"SecretId": RECOVERED})
        stub.add_response("rotate_secret", {"ARN": RECOVERED, "Name": "shop/db"},
                          {"SecretId": RECOVERED, "RotationLambdaARN": ROTATOR.format(RECOVERY),
                           "RotationRules": RULES, "RotateImmediately": False})
        assert SecretHandler._rotation(sm, RECOVERED, _secret(), T, warnings) is True
        stub.assert_no_pending_responses()
    assert warnings == []


def test_rotation_already_linked_writes_nothing():
    sm = _client()
    with Stubber(sm) as stub:
        stub.add_response("describe_secret", {"ARN": RECOVERED, "Name": "shop/db", "RotationEnabled": True,
                                              "RotationLambdaARN": ROTATOR.format(RECOVERY)}, {"SecretId": RECOVERED})
        assert SecretHandler._rotation(sm, RECOVERED, _secret(), T, []) is False  # a second failover: no call
        stub.assert_no_pending_responses()
