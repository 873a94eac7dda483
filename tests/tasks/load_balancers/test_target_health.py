"""A recovered load balancer is healthy only when its targets are (LoadBalancerHandler.health, the traffic
phase's gate), on a sandbox whose targets pass through `initial` and can fail their checks, as AWS's do
(drflow/sandbox/target_health.py)."""

from __future__ import annotations

import time

import boto3
import pytest

from conftest import RECOVERY, make_plan
from core.aws import AwsAccess
from core.ec2_index import OwnedIndex
from core.handler import ApplyContext
from core.models import Mode
from core.netmap import NetworkMapper
from drflow.sandbox import target_health
from tasks.load_balancers import LoadBalancerHandler


def _balancer(attached: bool = True) -> dict[str, str]:
    ec2, elb = boto3.client("ec2", region_name=RECOVERY), boto3.client("elbv2", region_name=RECOVERY)
    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.7.{i}.0/24", AvailabilityZone=f"{RECOVERY}{z}")["Subnet"]["SubnetId"]
               for i, z in enumerate("ab")]
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, SubnetId=subnets[0])["Instances"][0]
    lb = elb.create_load_balancer(Name="web", Subnets=subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    tg = elb.create_target_group(Name="web", Protocol="HTTP", Port=80, VpcId=vpc, HealthyThresholdCount=2,
                                 HealthCheckIntervalSeconds=10)["TargetGroups"][0]["TargetGroupArn"]
    if attached:
        elb.create_listener(LoadBalancerArn=lb, Protocol="HTTP", Port=80,
                            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": instance["InstanceId"]}])
    return {"lb": lb, "tg": tg, "instance": instance["InstanceId"]}


def _health(lb_arn: str) -> str | None:
    plan = make_plan()
    ctx = ApplyContext(plan=plan, recovery=AwsAccess(plan).recovery, mode=Mode.RECOVER, deps={},
                       net=NetworkMapper({}, {}, RECOVERY), index=OwnedIndex())
    return LoadBalancerHandler().health(None, lb_arn, ctx)  # type: ignore[arg-type]


def _state(tg: str) -> str:
    described = boto3.client("elbv2", region_name=RECOVERY).describe_target_health(TargetGroupArn=tg)
    return described["TargetHealthDescriptions"][0]["TargetHealth"]["State"]


@pytest.fixture
def quick_checks(monkeypatch):
    monkeypatch.setattr(target_health, "TIME_SCALE", 0.05)  # 2 checks x 10 s = 1 s here
    yield
    target_health.release()


def test_a_new_target_is_initial_then_healthy_and_the_balancer_with_it(sandbox, quick_checks):
    made = _balancer()
    assert _state(made["tg"]) == "initial"  # moto alone answers healthy at once
    assert "0 healthy (1 initial)" in _health(made["lb"])
    time.sleep(1.1)
    assert _state(made["tg"]) == "healthy"
    assert _health(made["lb"]) is None


def test_a_target_failing_its_checks_keeps_the_balancer_unhealthy(sandbox, quick_checks):
    made = _balancer()
    target_health.hold_unhealthy(made["instance"])
    time.sleep(1.1)
    assert _state(made["tg"]) == "unhealthy"
    assert "target group web: 0 healthy (1 unhealthy)" in _health(made["lb"])
    target_health.release(made["instance"])
    assert _health(made["lb"]) is None


def test_a_target_group_no_listener_forwards_to_is_unused_and_the_balancer_serves_nothing(sandbox, quick_checks):
    made = _balancer(attached=False)
    assert _state(made["tg"]) == "unused"
    assert _health(made["lb"]) == "load balancer web forwards to no target group"
