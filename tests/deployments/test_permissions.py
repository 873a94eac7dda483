"""The IAM policies drflow ships (deployments/iam/) cover every call the code makes, and grant nothing more.

The sample shop runs end to end (two nightly replications, a drill and its cleanup, a failover with the primary
dark, a failback that recreates a lost NAT gateway; and across accounts) while
every AwsAccess the flows create records the (side, "<prefix>:<Operation>") of each call it makes
(core.aws.CallStats.actions). deployments/iam_actions.py maps the operations to the IAM actions they need;
each must be allowed by the policy of its side (source: drflow-source.json; recovery and vault:
drflow-recovery.json), and each policy must grant nothing that no call needs, beyond the short allow-list
below of calls the sample run does not reach (each names the code path that makes it).

The evaluator is deliberately small: Allow statements only (drflow's policies have no Deny), actions with
IAM's wildcards; Resource and Condition scoping is not evaluated here (moto does not enforce IAM), it is
checked for shape in test_the_policy_documents_are_well_formed.
"""

from __future__ import annotations

import json
import re
from fnmatch import fnmatchcase
from pathlib import Path

import boto3
import yaml

import flows.cleanup
import flows.failback
import flows.failover
import flows.replicate
from conftest import RECOVERY, SOURCE
from core.aws import AwsAccess
from core.plan import parse_plan
from deployments.iam_actions import required
from drflow.sandbox.drs import drs_backend
from drflow.sandbox.faults import Faults
from drflow.sandbox.workload import seed_workload
from flows_helper import run
from tasks.registry import default_registry
from accounts_helper import OTHER, agents_replicate_into, cross_account_plan, recovery_account_ready
from accounts_helper import age_source_snapshots
from conftest import EXAMPLE

POLICIES = Path(__file__).resolve().parents[2] / "deployments" / "iam"
SOURCE_POLICY, RECOVERY_POLICY = POLICIES / "drflow-source.json", POLICIES / "drflow-recovery.json"
FAILBACK_POLICY = POLICIES / "drflow-source-failback.json"  # added to the source identity for a failback only
TRUST_POLICY = POLICIES / "drflow-recovery-trust.json"
# whose policy authorises a side's calls: the vault lives in the recovery account, reached with its role
POLICY_OF_SIDE = {"source": SOURCE_POLICY, "recovery": RECOVERY_POLICY, "vault": RECOVERY_POLICY}

# Granted although the sample run does not call them: code paths it does not reach. Keep it short; each entry
# names where the call is made.
NOT_REACHED = {
    SOURCE_POLICY: {
        # tasks/s3/replication.py _role: a role that exists with another trust policy / without tags on GetRole
        "iam:UpdateAssumeRolePolicy", "iam:ListRoleTags",
        # tasks/rds/snapshots.py: Aurora's twins of the instance snapshot calls, and of sharing
        "rds:CreateDBClusterSnapshot", "rds:DeleteDBClusterSnapshot",
        "rds:DescribeDBClusterSnapshotAttributes", "rds:ModifyDBClusterSnapshotAttribute",
        # tasks/kms.py: a multi-region key is replicated from the source side (same-account plans)
        "kms:ReplicateKey", "kms:CreateKey", "kms:TagResource",
        # tasks/beanstalk.py: the sample shop has no Beanstalk application (moto has no application versions,
        # nor DescribeConfigurationSettings: tests/tasks/beanstalk/test_beanstalk.py drives these with botocore's Stubber)
        "elasticbeanstalk:DescribeApplicationVersions", "elasticbeanstalk:DescribeConfigurationSettings",
        "elasticbeanstalk:ListTagsForResource",
        # tasks/servers/images.py: the source keeps only its newest image per server, and prunes the older one
        # when a night takes a new image; the sample run's nights are minutes apart, so they reuse the first
        # (younger than half the RPO) and never prune (tests/tasks/servers/test_images.py)
        "ec2:DeregisterImage", "ec2:DeleteSnapshot",
        # tasks/launch_templates.py _image_keys: the keys of a template AMI's encrypted snapshots (the sample
        # shop's batch AMI is not encrypted; tests/tasks/servers/test_aws_managed_keys.py)
        "ec2:DescribeSnapshots",
        # tasks/ssm.py, tasks/secrets.py: reading a SecureString or a secret encrypted with a customer key needs
        # kms:Decrypt, which the service calls on the caller's behalf (kms:ViaService); moto never calls KMS
        "kms:Decrypt",
        # tasks/cloudfront: the sample shop has no distribution (discovery lists them, finding none to read the tags
        # of); tests/tasks/cloudfront/ drives the handler
        "cloudfront:ListTagsForResource",
    },
    FAILBACK_POLICY: {
        # flows/failback.py phase 1 recreating what else the primary may lose (the sample run loses its NAT
        # gateway and a managed policy): the calls the recovery side's network and IAM handlers make
        "ec2:AllocateAddress", "ec2:AssociateDhcpOptions", "ec2:AssociateRouteTable", "ec2:AssociateVpcCidrBlock",
        "ec2:AttachInternetGateway", "ec2:CreateDhcpOptions", "ec2:CreateEgressOnlyInternetGateway",
        "ec2:CreateInternetGateway", "ec2:CreateNetworkAcl", "ec2:CreateNetworkAclEntry", "ec2:CreateRoute",
        "ec2:CreateRouteTable", "ec2:CreateSubnet", "ec2:CreateVpc", "ec2:CreateVpcEndpoint",
        "ec2:ModifySubnetAttribute", "ec2:ModifyVpcAttribute", "ec2:ReplaceNetworkAclAssociation",
        "ec2:ReplaceNetworkAclEntry", "ec2:ReplaceRouteTableAssociation",
        "iam:AddRoleToInstanceProfile", "iam:CreateInstanceProfile", "iam:CreatePolicyVersion", "iam:CreateRole",
        "iam:DeletePolicyVersion", "iam:ListPolicyVersions", "iam:PutRolePermissionsBoundary", "iam:PutRolePolicy",
        "iam:TagInstanceProfile", "iam:TagRole",
        # the nightly policy's ec2:CreateTags is for images only (its condition, which this evaluator does not
        # read): tags given at the creation of recreated network resources need their own grant
        "ec2:CreateTags",
        # tasks/rds/snapshots.py copy_back: Aurora's twin
        "rds:CopyDBClusterSnapshot",
        # tasks/cloudfront: a distribution's origins sent home (the sample shop has none; tests/tasks/cloudfront/)
        "cloudfront:GetDistribution", "cloudfront:GetDistributionConfig", "cloudfront:UpdateDistribution",
    },
    RECOVERY_POLICY: {
        # tasks/route53/private.py _associate: a private zone serving more than one VPC (the shop's serves one), and
        # one whose source dropped a VPC (tests/tasks/route53/)
        "route53:AssociateVPCWithHostedZone", "route53:DisassociateVPCFromHostedZone",
        # tasks/cloudfront: a distribution's origins switched in the traffic phase, its health, its read-back (the
        # sample shop has none; tests/tasks/cloudfront/)
        "cloudfront:GetDistribution", "cloudfront:GetDistributionConfig", "cloudfront:UpdateDistribution",
        # tasks/dynamodb/: a failover that finds its import already started (ListImports, a resumed run), and a
        # table with a time to live, which the sample shop's has not (tests/tasks/dynamodb/)
        "dynamodb:ListImports", "dynamodb:UpdateTimeToLive",
        # tasks/servers/images.py: recovery copies beyond the plan's `keep` are pruned when a night takes a new
        # image; the sample run's nights, minutes apart, reuse the first (tests/tasks/servers/test_images.py)
        "ec2:DeregisterImage",
        # tasks/beanstalk.py (see the source policy's note): applications, versions and environments
        "elasticbeanstalk:DescribeApplications", "elasticbeanstalk:DescribeApplicationVersions",
        "elasticbeanstalk:ListTagsForResource", "elasticbeanstalk:AddTags", "elasticbeanstalk:CheckDNSAvailability",
        "elasticbeanstalk:CreateApplication", "elasticbeanstalk:CreateApplicationVersion",
        "elasticbeanstalk:CreateEnvironment", "elasticbeanstalk:TerminateEnvironment",
        "elasticbeanstalk:DescribeConfigurationSettings",  # the audit's read-back of a recovered environment
        # tasks/awslambda: drift repair of a recovered function's configuration or alias
        "lambda:UpdateFunctionConfiguration", "lambda:UpdateAlias",
        # tasks/sqs.py: a recovered queue whose attributes drifted (or lost a policy the source dropped)
        "sqs:SetQueueAttributes",
        # tasks/secrets.py: the shop's secret has no resource policy nor rotation, and never drifts; RotateSecret
        # needs lambda:InvokeFunction on the rotation function (Secrets Manager User Guide, "Permissions for
        # rotation"); tasks/ssm.py and secrets.py write values encrypted with a customer key, for which the
        # service calls KMS on the caller's behalf (moto never does)
        "secretsmanager:PutResourcePolicy", "secretsmanager:DeleteResourcePolicy", "secretsmanager:UpdateSecret",
        "secretsmanager:RotateSecret", "lambda:InvokeFunction", "kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey",
        # tasks/sns.py: a recovered topic or subscription whose attributes drifted
        "sns:SetTopicAttributes", "sns:SetSubscriptionAttributes",
        # tasks/events/buses.py: a staged bus whose source changed its settings (UpdateEventBus: moto has none,
        # tests/tasks/events/test_bus_drift.py drives it with botocore's Stubber) or dropped its policy
        "events:UpdateEventBus", "events:RemovePermission",
        # tasks/autoscaling.py: a resumed failover puts a drifted group right
        "autoscaling:UpdateAutoScalingGroup",
        # tasks/iam/roles.py: CreateRole with a permissions boundary needs it too (the mapping goes by operation, and
        # the source side's CreateRole, the S3 replication role, has no boundary)
        "iam:PutRolePermissionsBoundary",
        # tasks/iam*.py: drift repair of a role, policy or instance profile drflow made in the recovery account
        "iam:UpdateRole", "iam:UpdateAssumeRolePolicy", "iam:DeleteRolePermissionsBoundary", "iam:UntagRole",
        "iam:DeleteRolePolicy", "iam:DetachRolePolicy", "iam:CreatePolicyVersion", "iam:DeletePolicyVersion",
        "iam:ListPolicyVersions", "iam:RemoveRoleFromInstanceProfile",
        # tasks/rds*.py: Aurora's twins of the instance calls
        "rds:DescribeDBClusterSnapshots", "rds:CopyDBClusterSnapshot",
        "rds:DeleteDBClusterSnapshot", "rds:RestoreDBClusterFromSnapshot", "rds:CreateDBClusterParameterGroup",
        "rds:DescribeDBClusterParameters", "rds:ModifyDBClusterParameterGroup",
        # tasks/rds/groups.py: a staged group that drifted is put right
        "rds:ModifyDBSubnetGroup", "rds:ModifyOptionGroup",
        # tasks/efs/file_systems.py: drift of mount targets
        "elasticfilesystem:DescribeMountTargetSecurityGroups", "elasticfilesystem:ModifyMountTargetSecurityGroups",
        "ec2:ModifyNetworkInterfaceAttribute",
        # tasks/load_balancers.py, route_tables.py, network_acls.py, gateways.py, vpc_endpoints.py: drift repair
        "elasticloadbalancing:ModifyListener", "elasticloadbalancing:ModifyRule", "elasticloadbalancing:DeleteRule",
        "elasticloadbalancing:ModifyTargetGroup", "elasticloadbalancing:DeregisterTargets",
        "elasticloadbalancing:SetSecurityGroups", "elasticloadbalancing:SetSubnets",
        "ec2:DeleteRoute", "ec2:ReplaceRoute", "ec2:ReplaceRouteTableAssociation",
        "ec2:DeleteNetworkAclEntry", "ec2:ReplaceNetworkAclEntry", "ec2:DetachInternetGateway",
        "ec2:ModifyVpcEndpoint",
        # tasks/s3/replication.py: mirroring a source without lifecycle / policy / public access block, or with
        "s3:PutLifecycleConfiguration", "s3:DeleteBucketPolicy",
        # drill cleanup (flows/cleanup.py): what an isolated drill never makes (gateways, Elastic IPs), and Aurora
        "ec2:DeleteInternetGateway", "ec2:DeleteEgressOnlyInternetGateway", "ec2:DeleteNatGateway",
        "ec2:DisassociateAddress", "ec2:ReleaseAddress", "rds:DeleteDBCluster", "rds:DeleteDBClusterParameterGroup",
    },
}


# ---- the tiny evaluator ---------------------------------------------------------------------------------

def load(path: Path) -> dict:
    return json.loads(path.read_text())


def _listed(value: str | list[str] | None) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def granted(policy: dict) -> list[str]:
    """The Action patterns of the policy's Allow statements."""
    return [a for s in policy["Statement"] if s["Effect"] == "Allow" for a in _listed(s.get("Action"))]


def allows(policy: dict, action: str) -> bool:
    """IAM matches actions case-insensitively, with * and ? wildcards."""
    return any(fnmatchcase(action.lower(), pattern.lower()) for pattern in granted(policy))


def uncovered(policy: dict, actions: set[str]) -> set[str]:
    return {a for a in actions if not allows(policy, a)}


def unused(policy: dict, actions: set[str]) -> set[str]:
    """Patterns of the policy that no needed action matches."""
    return {p for p in granted(policy) if not any(fnmatchcase(a.lower(), p.lower()) for a in actions)}


# ---- recording what a run calls -------------------------------------------------------------------------

def record_calls(monkeypatch) -> list[AwsAccess]:
    """Every AwsAccess the flows create from now on (they run their tasks in threads of this process); a
    failback's is marked `failing_back`: its source-side calls are the failback policy's to allow."""
    made: list[AwsAccess] = []

    class Recorded(AwsAccess):
        failing_back = False

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    class RecordedFailback(Recorded):
        failing_back = True

    monkeypatch.setattr(flows.replicate, "AwsAccess", Recorded)
    monkeypatch.setattr(flows.failover, "AwsAccess", Recorded)
    monkeypatch.setattr(flows.cleanup, "AwsAccess", Recorded)
    monkeypatch.setattr(flows.failback, "AwsAccess", RecordedFailback)
    return made


def needed_by_policy(made: list[AwsAccess]) -> dict[Path, set[str]]:
    """The IAM actions the recorded calls need, by the policy that must allow them."""
    out: dict[Path, set[str]] = {SOURCE_POLICY: set(), RECOVERY_POLICY: set(), FAILBACK_POLICY: set()}
    for aws in made:
        for side, operation in aws.stats.actions | aws.vault_stats.actions:
            failback = side == "source" and getattr(aws, "failing_back", False)
            out[FAILBACK_POLICY if failback else POLICY_OF_SIDE[side]] |= required({operation})
    return out


def with_failback(policy: dict) -> dict:
    """The source identity while it fails back: its nightly policy and the failback policy together."""
    return {**policy, "Statement": policy["Statement"] + load(FAILBACK_POLICY)["Statement"]}


def add_a_server_without_the_drs_agent(ids: dict) -> None:
    """Imaged nightly instead of replicated by DRS."""
    boto3.client("ec2", region_name=SOURCE).run_instances(
        ImageId="ami-0legacy0000000001", MinCount=1, MaxCount=1, InstanceType="t3.micro",
        SubnetId=ids["private-b"], PrivateIpAddress="10.0.11.99", SecurityGroupIds=[ids["sg-app"]],
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "legacy"},
                                                                  {"Key": "app", "Value": "shop"}]}])


def run_the_sample_shop(sandbox) -> None:
    """The sample shop, plus what makes it reach more of the code: a server without the DRS agent (nightly
    images), no fresh automated database snapshot (drflow takes its own), and keeps of 1 so that the second
    night prunes images, snapshot copies and recovery points."""
    ids = seed_workload(boto3.Session(), SOURCE)
    add_a_server_without_the_drs_agent(ids)
    data = yaml.safe_load(EXAMPLE.read_text())
    data["vault"]["keep"] = 1
    data["databases"]["keep_snapshots"] = 1
    plan = parse_plan(data, set(default_registry()))
    drs_backend(plan.recovery.account_id, RECOVERY).set_latency(0.2)
    for _night in range(2):
        age_source_snapshots()
        assert run(flows.replicate.replicate, plan=plan)["failed"] == []
    drill = run(flows.failover.failover, plan=plan, drill=True)
    assert drill["failed"] == [], drill["failed"]
    cleanup = run(flows.cleanup.drill_cleanup, plan=plan, drill_id=drill["drill_id"])
    assert cleanup["failed"] == [] and cleanup["removed_count"], cleanup["failed"]
    sandbox.faults = Faults(dark={SOURCE})
    report = run(flows.failover.failover, plan=plan)
    assert report["failed"] == [], report["failed"]
    fail_back_after_losing_the_nat_gateway(sandbox, plan, ids)


def fail_back_after_losing_the_nat_gateway(sandbox, plan, ids: dict) -> None:
    """The primary is back without its NAT gateway and a managed policy: failback recreates them (and re-points
    the route table, re-attaches the policy), then brings data and servers home."""
    sandbox.faults = Faults()
    boto3.client("ec2", region_name=SOURCE).delete_nat_gateway(NatGatewayId=ids["nat"])
    iam = boto3.client("iam")
    arn = next(p["Arn"] for p in iam.list_policies(Scope="Local")["Policies"] if p["PolicyName"] == "shop-assets-read")
    for role in ("shop-app", "shop-web"):
        iam.detach_role_policy(RoleName=role, PolicyArn=arn)
    iam.delete_policy(PolicyArn=arn)
    report = run(flows.failback.failback, plan=plan)
    assert report["failed"] == [], report["failed"]


def run_the_shop_across_accounts(sandbox) -> None:
    """The same shop replicated into another account (IAM rebuilt there, snapshots and images shared then
    copied), and failed over there."""
    sandbox.reset()
    ids = seed_workload(boto3.Session(), SOURCE)
    add_a_server_without_the_drs_agent(ids)  # its nightly image is shared with the recovery account, then copied
    agents_replicate_into(OTHER, ids)
    recovery_account_ready()
    plan = cross_account_plan()
    assert run(flows.replicate.replicate, plan=plan)["failed"] == []
    sandbox.faults = Faults(dark={SOURCE})
    report = run(flows.failover.failover, plan=plan)
    assert report["failed"] == [], report["failed"]
    fail_back_after_losing_the_nat_gateway(sandbox, plan, ids)


def test_the_shipped_policies_cover_every_call_of_the_sample_run_and_grant_no_more(sandbox, monkeypatch):
    made = record_calls(monkeypatch)
    run_the_sample_shop(sandbox)
    run_the_shop_across_accounts(sandbox)
    needed = needed_by_policy(made)
    assert {side for aws in made for side, _ in aws.stats.actions | aws.vault_stats.actions} == set(POLICY_OF_SIDE)
    for path, actions in needed.items():
        policy = load(path)
        if path == FAILBACK_POLICY:  # what the nightly policy allows already is not repeated in the failback one
            actions = uncovered(load(SOURCE_POLICY), actions)
        lacking = sorted(uncovered(policy, actions))
        assert lacking == [], f"{path.name} lacks actions the code calls: {lacking}"
        extra = sorted(unused(policy, actions | NOT_REACHED[path]))
        assert extra == [], f"{path.name} grants what no call needs: {extra}"
        reached = sorted(NOT_REACHED[path] & actions)
        assert reached == [], f"{path.name}: these are reached now, drop them from NOT_REACHED: {reached}"
        # the check has teeth: without any one of the actions a call needs, the policy is found lacking
        for action in sorted(actions):
            assert uncovered(_without(policy, action), actions) == {action}, action


def _without(policy: dict, action: str) -> dict:
    """The policy with one action taken out of every statement (a statement left empty is dropped)."""
    statements = [{**s, "Action": [a for a in _listed(s["Action"]) if a != action]} for s in policy["Statement"]]
    return {**policy, "Statement": [s for s in statements if s["Action"]]}


def test_the_recording_names_each_side_and_iam_service_prefixes(sandbox):
    """What the policies are checked against: the side and the IAM service prefix of every call."""
    from core.plan import parse_plan as parse
    from conftest import plan_data

    aws = AwsAccess(parse(plan_data(), set(default_registry())))
    aws.source.client("elbv2").describe_load_balancers()
    aws.recovery.client("efs").describe_file_systems()
    aws.vault.client("s3").list_buckets()
    assert aws.stats.actions == {("source", "elasticloadbalancing:DescribeLoadBalancers"),
                                 ("recovery", "elasticfilesystem:DescribeFileSystems")}
    assert aws.vault_stats.actions == {("vault", "s3:ListBuckets")}
    assert required({"s3:ListBuckets", "s3:GetBucketEncryption", "ec2:DescribeVpcs", "sts:GetCallerIdentity"}) == {
        "s3:ListAllMyBuckets", "s3:GetEncryptionConfiguration", "ec2:DescribeVpcs"}


ACTION = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9*?]+$")


def test_the_policy_documents_are_well_formed():
    for path in (SOURCE_POLICY, RECOVERY_POLICY, FAILBACK_POLICY, TRUST_POLICY):
        policy = load(path)
        assert set(policy) == {"Version", "Statement"} and policy["Version"] == "2012-10-17", path.name
        sids = [s["Sid"] for s in policy["Statement"]]
        assert len(sids) == len(set(sids)) and all(re.fullmatch(r"[A-Za-z0-9]+", sid) for sid in sids), path.name
        for statement in policy["Statement"]:
            assert statement["Effect"] == "Allow"
            assert set(statement) <= {"Sid", "Effect", "Principal", "Action", "Resource", "Condition"}
            actions = _listed(statement["Action"])
            assert actions == sorted(set(actions)) or path == TRUST_POLICY, f"{path.name} {statement['Sid']}"
            # least privilege: named actions only, never "*" or "<service>:*"
            assert all(ACTION.match(a) and not a.endswith(":*") for a in actions), statement["Sid"]
            if path == TRUST_POLICY:
                assert "Principal" in statement and "Resource" not in statement
            else:
                assert "Principal" not in statement and statement["Resource"], statement["Sid"]
                for arn in _listed(statement["Resource"]):
                    assert arn == "*" or arn.startswith("arn:aws:"), arn
    for path in (SOURCE_POLICY, RECOVERY_POLICY, FAILBACK_POLICY):  # one statement per action: the Sid says why it is granted
        actions = granted(load(path))
        assert len(actions) == len(set(actions)), path.name


def test_the_trust_policy_admits_only_the_runner_with_the_external_id():
    [statement] = load(TRUST_POLICY)["Statement"]
    assert statement["Action"] == "sts:AssumeRole"
    principal = statement["Principal"]["AWS"]
    assert principal.startswith("arn:aws:iam::") and ":role/" in principal and principal != "*"
    assert statement["Condition"]["StringEquals"]["sts:ExternalId"]
    # the session name core/aws.py uses, so that CloudTrail shows drflow's sessions as such
    from core.aws import SESSION_NAME
    assert statement["Condition"]["StringEquals"]["sts:RoleSessionName"] == SESSION_NAME
    readme = (POLICIES / "README.md").read_text()
    for placeholder in re.findall(r"<[A-Z_]+>", TRUST_POLICY.read_text()):
        assert placeholder in readme, f"{placeholder} is not explained in deployments/iam/README.md"


def test_the_vault_and_the_replication_role_are_narrowed_to_drflows_names():
    from core.plan import parse_plan as parse
    from conftest import plan_data
    from tasks.s3.replication import ROLE_PATH, role_name

    plan = parse(plan_data(), set(default_registry()))
    recovery, source = load(RECOVERY_POLICY), load(SOURCE_POLICY)
    vault_objects = next(s for s in recovery["Statement"] if "s3:DeleteObjectVersion" in s["Action"])
    assert fnmatchcase(f"arn:aws:s3:::{plan.vault_bucket}/point.json", vault_objects["Resource"])
    from tasks.efs.replication_role import ROLE_PATH as EFS_PATH, role_name as efs_role_name

    role = f"arn:aws:iam::{plan.source.account_id}:role{ROLE_PATH}{role_name(plan, 'shop-assets')}"
    efs_role = f"arn:aws:iam::{plan.source.account_id}:role{EFS_PATH}{efs_role_name(plan.name, 'fs-0123456789abcdef0')}"
    for statement in source["Statement"]:
        if any(a.startswith("iam:") for a in statement["Action"]) and statement["Sid"] != "ReadRolesInScope":
            for name in (role, efs_role):  # the S3 and the EFS replication roles
                assert any(fnmatchcase(name, r) for r in _listed(statement["Resource"])), statement["Sid"]
