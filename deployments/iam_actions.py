"""Which IAM actions an AWS API operation needs, where they differ from "<service prefix>:<Operation>".

core.aws records every call a run makes as "<service prefix>:<Operation>" (the prefix is the client's signing
name, which is IAM's service prefix: "elasticloadbalancing", "elasticfilesystem", ...). For most operations
that is the IAM action too; this table holds the exceptions: S3 (whose actions are named after permissions,
not API calls), operations that need more than one action (tag-on-create, KMS grants, PassRole), and the
dependent actions the Service Authorization Reference lists for an operation.

It lives beside the policy documents it explains (deployments/iam/), not in core/: nothing in a run needs it;
it is what ties the shipped policies to the calls the code makes (tests/deployments/test_permissions.py).

Source: AWS Service Authorization Reference, "Actions, resources, and condition keys for <service>"
(https://docs.aws.amazon.com/service-authorization/latest/reference/ : list_amazons3.html,
list_amazonec2.html, list_amazonrds.html, list_amazonelasticfilesystem.html,
list_awselasticdisasterrecovery.html, list_awskeymanagementservice.html, list_elasticloadbalancingv2.html,
list_awsidentityandaccessmanagementiam.html), and the API references where an operation documents its
required permissions (EFS CreateMountTarget / DeleteMountTarget, S3 CopyObject / PutBucketReplication,
KMS ReplicateKey, RDS CopyDBSnapshot with KmsKeyId).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import botocore.loaders

# tag-on-create: tags given to a Create call are authorised as a separate tagging action
_RDS_TAGS = ("rds:AddTagsToResource",)
_ELB_TAGS = ("elasticloadbalancing:AddTags",)
# a KMS key named in the call is used through a grant by the service (RDS copies and restores)
_KMS_USE = ("kms:CreateGrant", "kms:DescribeKey")

# What DRS does with the caller's permissions when it launches recovery instances (list_awselasticdisasterrecovery:
# StartRecovery's dependent actions). DRS builds the instances from the launch template drflow keeps right.
_DRS_LAUNCH = (
    "drs:CreateRecoveryInstanceForDrs", "drs:ListTagsForResource",
    "ec2:AttachVolume", "ec2:AuthorizeSecurityGroupEgress", "ec2:AuthorizeSecurityGroupIngress",
    "ec2:CreateLaunchTemplate", "ec2:CreateLaunchTemplateVersion", "ec2:CreateSecurityGroup", "ec2:CreateSnapshot",
    "ec2:CreateTags", "ec2:CreateVolume", "ec2:DeleteLaunchTemplateVersions", "ec2:DeleteSnapshot",
    "ec2:DeleteVolume", "ec2:DescribeAccountAttributes", "ec2:DescribeAvailabilityZones", "ec2:DescribeImages",
    "ec2:DescribeInstanceAttribute", "ec2:DescribeInstanceStatus", "ec2:DescribeInstanceTypes",
    "ec2:DescribeInstances", "ec2:DescribeLaunchTemplateVersions", "ec2:DescribeLaunchTemplates",
    "ec2:DescribeSecurityGroups", "ec2:DescribeSnapshots", "ec2:DescribeSubnets", "ec2:DescribeVolumes",
    "ec2:DetachVolume", "ec2:ModifyInstanceAttribute", "ec2:ModifyLaunchTemplate", "ec2:RevokeSecurityGroupEgress",
    "ec2:RunInstances", "ec2:StartInstances", "ec2:StopInstances", "ec2:TerminateInstances", "iam:PassRole")

OPERATION_ACTIONS: dict[str, tuple[str, ...]] = {
    # ---- S3: actions named after permissions --------------------------------------------------------------
    "s3:ListBuckets": ("s3:ListAllMyBuckets",),
    "s3:ListObjectsV2": ("s3:ListBucket",),
    "s3:ListObjectVersions": ("s3:ListBucketVersions",),
    "s3:HeadBucket": ("s3:ListBucket",),
    "s3:HeadObject": ("s3:GetObject",),
    # the vault deletes old recovery points by version (VersionId): both actions
    "s3:DeleteObjects": ("s3:DeleteObject", "s3:DeleteObjectVersion"),
    # a server-side copy reads the source and writes the target; tags are copied along (TaggingDirective COPY)
    "s3:CopyObject": ("s3:GetObject", "s3:PutObject", "s3:GetObjectTagging", "s3:PutObjectTagging"),
    "s3:CreateMultipartUpload": ("s3:PutObject",),
    "s3:UploadPartCopy": ("s3:GetObject", "s3:PutObject"),
    "s3:CompleteMultipartUpload": ("s3:PutObject",),
    # CreateBucket with ObjectOwnership (the replica: BucketOwnerEnforced) also sets the ownership controls
    "s3:CreateBucket": ("s3:CreateBucket", "s3:PutBucketOwnershipControls"),
    "s3:GetBucketEncryption": ("s3:GetEncryptionConfiguration",),
    "s3:PutBucketEncryption": ("s3:PutEncryptionConfiguration",),
    "s3:GetBucketLifecycleConfiguration": ("s3:GetLifecycleConfiguration",),
    "s3:PutBucketLifecycleConfiguration": ("s3:PutLifecycleConfiguration",),
    "s3:DeleteBucketLifecycle": ("s3:PutLifecycleConfiguration",),
    "s3:GetPublicAccessBlock": ("s3:GetBucketPublicAccessBlock",),
    "s3:PutPublicAccessBlock": ("s3:PutBucketPublicAccessBlock",),
    "s3:DeletePublicAccessBlock": ("s3:PutBucketPublicAccessBlock",),
    "s3:GetBucketReplication": ("s3:GetReplicationConfiguration",),
    # S3 checks that the caller may pass the replication role (drflow's, under /drflow/)
    "s3:PutBucketReplication": ("s3:PutReplicationConfiguration", "iam:PassRole"),
    # ---- EFS: mount targets are network interfaces made with the caller's permissions -----------------------
    "elasticfilesystem:CreateMountTarget": ("elasticfilesystem:CreateMountTarget", "ec2:DescribeSubnets",
                                            "ec2:DescribeNetworkInterfaces", "ec2:CreateNetworkInterface"),
    "elasticfilesystem:DeleteMountTarget": ("elasticfilesystem:DeleteMountTarget", "ec2:DeleteNetworkInterface"),
    "elasticfilesystem:ModifyMountTargetSecurityGroups": ("elasticfilesystem:ModifyMountTargetSecurityGroups",
                                                          "ec2:ModifyNetworkInterfaceAttribute"),
    "elasticfilesystem:CreateFileSystem": ("elasticfilesystem:CreateFileSystem", "elasticfilesystem:TagResource",
                                           "kms:CreateGrant", "kms:DescribeKey"),
    "elasticfilesystem:CreateAccessPoint": ("elasticfilesystem:CreateAccessPoint", "elasticfilesystem:TagResource"),
    # across accounts EFS assumes the replication role the call names (RoleArn): the caller must pass it
    "elasticfilesystem:CreateReplicationConfiguration": ("elasticfilesystem:CreateReplicationConfiguration",
                                                         "iam:PassRole"),
    # ---- RDS: tag-on-create, and the recovery key used through a grant --------------------------------------
    "rds:CreateDBSnapshot": ("rds:CreateDBSnapshot", *_RDS_TAGS),
    "rds:CreateDBClusterSnapshot": ("rds:CreateDBClusterSnapshot", *_RDS_TAGS),
    "rds:CopyDBSnapshot": ("rds:CopyDBSnapshot", *_RDS_TAGS, *_KMS_USE),
    "rds:CopyDBClusterSnapshot": ("rds:CopyDBClusterSnapshot", *_RDS_TAGS, *_KMS_USE),
    "rds:RestoreDBInstanceFromDBSnapshot": ("rds:RestoreDBInstanceFromDBSnapshot", *_RDS_TAGS, *_KMS_USE),
    "rds:RestoreDBClusterFromSnapshot": ("rds:RestoreDBClusterFromSnapshot", *_RDS_TAGS, *_KMS_USE),
    "rds:CreateDBInstance": ("rds:CreateDBInstance", *_RDS_TAGS),
    "rds:CreateDBSubnetGroup": ("rds:CreateDBSubnetGroup", *_RDS_TAGS),
    "rds:CreateDBParameterGroup": ("rds:CreateDBParameterGroup", *_RDS_TAGS),
    "rds:CreateDBClusterParameterGroup": ("rds:CreateDBClusterParameterGroup", *_RDS_TAGS),
    "rds:CreateOptionGroup": ("rds:CreateOptionGroup", *_RDS_TAGS),
    # ---- EC2: tag-on-create (TagSpecifications), instance profiles -------------------------------------------
    "ec2:CreateImage": ("ec2:CreateImage", "ec2:CreateTags"),
    "ec2:RunInstances": ("ec2:RunInstances", "ec2:CreateTags", "iam:PassRole"),
    # ---- ELBv2: tag-on-create ------------------------------------------------------------------------------
    "elasticloadbalancing:CreateLoadBalancer": ("elasticloadbalancing:CreateLoadBalancer", *_ELB_TAGS),
    "elasticloadbalancing:CreateTargetGroup": ("elasticloadbalancing:CreateTargetGroup", *_ELB_TAGS),
    "elasticloadbalancing:CreateListener": ("elasticloadbalancing:CreateListener", *_ELB_TAGS),
    "elasticloadbalancing:CreateRule": ("elasticloadbalancing:CreateRule", *_ELB_TAGS),
    # ---- ACM: tags given to RequestCertificate are authorised as AddTagsToCertificate (list_awscertificatemanager)
    "acm:RequestCertificate": ("acm:RequestCertificate", "acm:AddTagsToCertificate"),
    # ---- KMS ---------------------------------------------------------------------------------------------
    "kms:CreateKey": ("kms:CreateKey", "kms:TagResource"),
    # the replica key is created (and tagged) in the recovery region with the caller's permissions there
    "kms:ReplicateKey": ("kms:ReplicateKey", "kms:CreateKey", "kms:TagResource"),
    # ---- IAM: tag-on-create --------------------------------------------------------------------------------
    "iam:CreateRole": ("iam:CreateRole", "iam:TagRole"),
    "iam:CreatePolicy": ("iam:CreatePolicy", "iam:TagPolicy"),
    "iam:CreateInstanceProfile": ("iam:CreateInstanceProfile", "iam:TagInstanceProfile"),
    # ---- Route 53: a private zone's VPC is checked with the caller's EC2 permissions (list_amazonroute53.html:
    # CreateHostedZone and AssociateVPCWithHostedZone, dependent action ec2:DescribeVpcs) ---------------------
    "route53:CreateHostedZone": ("route53:CreateHostedZone", "ec2:DescribeVpcs"),
    "route53:AssociateVPCWithHostedZone": ("route53:AssociateVPCWithHostedZone", "ec2:DescribeVpcs"),
    # ---- DRS ---------------------------------------------------------------------------------------------
    "drs:StartRecovery": ("drs:StartRecovery", *_DRS_LAUNCH),
    # DRS terminates the EC2 instances and their volumes with the caller's permissions (drill cleanup)
    "drs:TerminateRecoveryInstances": ("drs:TerminateRecoveryInstances", "drs:DeleteRecoveryInstance",
                                       "ec2:DeleteVolume", "ec2:DescribeInstances", "ec2:DescribeVolumes",
                                       "ec2:TerminateInstances"),
    # ---- adjacent compute (issue 8): tags given at creation are authorised as their service's tagging action;
    # a role handed to a function, a task definition or the instances of a group is passed (iam:PassRole) ----
    "ecr:CreateRepository": ("ecr:CreateRepository", "ecr:TagResource"),
    # ECR's replication runs as its service-linked role, made on the first PutReplicationConfiguration
    "ecr:PutReplicationConfiguration": ("ecr:PutReplicationConfiguration", "iam:CreateServiceLinkedRole"),
    "ecs:CreateCluster": ("ecs:CreateCluster", "ecs:TagResource"),
    "ecs:RegisterTaskDefinition": ("ecs:RegisterTaskDefinition", "ecs:TagResource", "iam:PassRole"),
    "ecs:CreateService": ("ecs:CreateService", "ecs:TagResource"),
    "logs:CreateLogGroup": ("logs:CreateLogGroup", "logs:TagResource"),
    "lambda:CreateFunction": ("lambda:CreateFunction", "lambda:TagResource", "iam:PassRole"),
    # the group launches from the template with the caller's permissions (its instance profile is passed)
    "autoscaling:CreateAutoScalingGroup": ("autoscaling:CreateAutoScalingGroup", "autoscaling:CreateOrUpdateTags",
                                           "ec2:RunInstances", "ec2:CreateTags", "iam:PassRole"),
    # ---- what applications talk to (issue 16): tags at creation need the tagging action too ("To tag a queue on
    # creation, you must have the sqs:CreateQueue and sqs:TagQueue permissions", SQS Developer Guide, "Tagging";
    # SNS CreateTopic: "you must have the sns:CreateTopic and sns:TagResource permissions"; Secrets Manager
    # CreateSecret: "to include tags, you also need secretsmanager:TagResource"; Parameter Store: tagging a
    # parameter as PutParameter creates it needs ssm:AddTagsToResource) ----
    "sqs:CreateQueue": ("sqs:CreateQueue", "sqs:TagQueue"),
    "sns:CreateTopic": ("sns:CreateTopic", "sns:TagResource"),
    "secretsmanager:CreateSecret": ("secretsmanager:CreateSecret", "secretsmanager:TagResource"),
    "ssm:PutParameter": ("ssm:PutParameter", "ssm:AddTagsToResource"),
    # the Tags of PutRule and CreateEventBus: granted as events:TagResource too, the tag-on-create rule of the
    # services above (the Service Authorization Reference lists aws:RequestTag/aws:TagKeys on both actions)
    # a rule's or a target's RoleArn is passed to EventBridge (iam:PassRole, iam:PassedToService events.amazonaws.com;
    # EventBridge User Guide, "Using identity-based policies": PutRule/PutTargets with a role need iam:PassRole)
    "events:PutRule": ("events:PutRule", "events:TagResource", "iam:PassRole"),
    "events:PutTargets": ("events:PutTargets", "iam:PassRole"),
    "events:CreateEventBus": ("events:CreateEventBus", "events:TagResource"),
    # ---- DynamoDB (tasks/dynamodb/) ----------------------------------------------------------------------------
    # CreateTable with Tags needs dynamodb:TagResource too (Developer Guide, "Tagging resources in DynamoDB")
    "dynamodb:CreateTable": ("dynamodb:CreateTable", "dynamodb:TagResource"),
    # UpdateTable adding a replica (ReplicaUpdates Create, global tables 2019.11.21): UpdateTable in the source
    # region, and in the replica's region CreateTable, CreateTableReplica and the item actions DynamoDB's
    # replication uses; its replication role is a service-linked one, made on the first replica (Developer Guide,
    # "DynamoDB global tables security", V2gt_IAM.html). Drift repair of a recovered table (stream, deletion
    # protection) is an UpdateTable too: the mapping goes by operation
    "dynamodb:UpdateTable": ("dynamodb:UpdateTable", "dynamodb:CreateTable", "dynamodb:CreateTableReplica",
                             "dynamodb:Scan", "dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:PutItem",
                             "dynamodb:GetItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem",
                             "iam:CreateServiceLinkedRole"),
    # an export writes into the vault with the caller's permissions (Developer Guide, "Requesting a table export
    # in DynamoDB": s3:AbortMultipartUpload, s3:PutObject, s3:PutObjectAcl)
    "dynamodb:ExportTableToPointInTime": ("dynamodb:ExportTableToPointInTime", "s3:AbortMultipartUpload",
                                          "s3:PutObject", "s3:PutObjectAcl"),
    # an import reads the vault with the caller's permissions, and logs to CloudWatch Logs (Developer Guide,
    # "Requesting a table import in DynamoDB")
    "dynamodb:ImportTable": ("dynamodb:ImportTable", "s3:GetObject", "s3:ListBucket", "logs:CreateLogGroup",
                             "logs:CreateLogStream", "logs:DescribeLogGroups", "logs:DescribeLogStreams",
                             "logs:PutLogEvents", "logs:PutRetentionPolicy"),
    # ---- Resource Groups Tagging API: its signing name is "tagging", its IAM prefix "tag" ----------------------
    "tagging:GetResources": ("tag:GetResources",),
    # ---- STS: "who am I" needs no permission (sts:GetCallerIdentity cannot be denied) ----------------------
    "sts:GetCallerIdentity": (),
}


@functools.lru_cache(maxsize=None)
def _apigateway_verbs() -> dict[str, str]:
    """API Gateway's management actions are the HTTP verbs of its API ("apigateway:GET", "apigateway:POST", ...:
    Service Authorization Reference, list_amazonapigatewaymanagement.html): each operation's verb, from botocore's
    models of both its APIs (HTTP APIs first: drflow's; they share the signing name "apigateway")."""
    loader = botocore.loaders.create_loader()
    verbs: dict[str, str] = {}
    for service in ("apigateway", "apigatewayv2"):
        model = loader.load_service_model(service, "service-2")
        verbs.update({name: op["http"]["method"] for name, op in model["operations"].items()})
    return verbs


def iam_actions(operation: str) -> tuple[str, ...]:
    """The IAM actions one recorded operation ("<prefix>:<Operation>") needs."""
    if operation in OPERATION_ACTIONS:
        return OPERATION_ACTIONS[operation]
    prefix, _, name = operation.partition(":")
    if prefix == "apigateway" and name in _apigateway_verbs():
        return (f"apigateway:{_apigateway_verbs()[name]}",)
    return (operation,)


def required(operations: Iterable[str]) -> set[str]:
    """Every IAM action a set of recorded operations needs."""
    return {action for operation in operations for action in iam_actions(operation)}
