"""The sample workload's databases: an encrypted Postgres instance (and, when asked, an Aurora cluster).

They live in the shop's database subnets (db-a, db-b) behind its db security group, encrypted with a
customer key `alias/shop-data`, so that a recovery needs a kms_key_map entry for it.
"""

from __future__ import annotations

from typing import Any

import boto3

APP_TAGS = [{"Key": "app", "Value": "shop"}]
PASSWORD = "sandbox-only-password"  # moto's databases hold no data; a real plan never sees a password
SUBNET_GROUP, PARAMETER_GROUP, OPTION_GROUP = "shop-db-subnets", "shop-postgres13", "shop-postgres13-options"
CLUSTER_PARAMETER_GROUP = "shop-aurora-postgres13"
DB, CLUSTER, CLUSTER_MEMBER = "shop-db", "shop-aurora", "shop-aurora-1"


def seed_rds(session: boto3.Session, region: str, ids: dict[str, str], aurora: bool = False) -> dict[str, Any]:
    """Create the shop's databases in the network `seed_network` made (`ids`); returns their ids by role."""
    kms, rds = session.client("kms", region_name=region), session.client("rds", region_name=region)
    key = kms.create_key(Description="shop data", Tags=[{"TagKey": "app", "TagValue": "shop"}])["KeyMetadata"]
    kms.create_alias(AliasName="alias/shop-data", TargetKeyId=key["KeyId"])
    out: dict[str, Any] = {"kms-key": key["Arn"], "subnet-group": SUBNET_GROUP, "db": DB}
    rds.create_db_subnet_group(DBSubnetGroupName=SUBNET_GROUP, DBSubnetGroupDescription="shop databases",
                               SubnetIds=[ids["db-a"], ids["db-b"]], Tags=APP_TAGS)
    rds.create_db_parameter_group(DBParameterGroupName=PARAMETER_GROUP, DBParameterGroupFamily="postgres13",
                                  Description="shop postgres settings", Tags=APP_TAGS)
    rds.modify_db_parameter_group(DBParameterGroupName=PARAMETER_GROUP, Parameters=[
        {"ParameterName": "log_min_duration_statement", "ParameterValue": "500", "ApplyMethod": "immediate"}])
    rds.create_option_group(OptionGroupName=OPTION_GROUP, EngineName="postgres", MajorEngineVersion="13",
                            OptionGroupDescription="shop postgres options", Tags=APP_TAGS)
    out["parameter-group"], out["option-group"] = PARAMETER_GROUP, OPTION_GROUP
    rds.create_db_instance(
        DBInstanceIdentifier=DB, Engine="postgres", EngineVersion="13.7", DBInstanceClass="db.m5.large",
        AllocatedStorage=100, StorageType="io1", Iops=1000, MultiAZ=True, Port=5433,
        MasterUsername="shop", MasterUserPassword=PASSWORD, DBSubnetGroupName=SUBNET_GROUP,
        VpcSecurityGroupIds=[ids["sg-db"]], DBParameterGroupName=PARAMETER_GROUP, OptionGroupName=OPTION_GROUP,
        StorageEncrypted=True, KmsKeyId="alias/shop-data", Tags=APP_TAGS)
    if aurora:
        rds.create_db_cluster_parameter_group(DBClusterParameterGroupName=CLUSTER_PARAMETER_GROUP,
                                              DBParameterGroupFamily="aurora-postgresql13",
                                              Description="shop aurora settings", Tags=APP_TAGS)
        rds.modify_db_cluster_parameter_group(DBClusterParameterGroupName=CLUSTER_PARAMETER_GROUP, Parameters=[
            {"ParameterName": "rds.force_ssl", "ParameterValue": "1", "ApplyMethod": "pending-reboot"}])
        rds.create_db_cluster(
            DBClusterIdentifier=CLUSTER, Engine="aurora-postgresql", EngineVersion="13.7", Port=5432,
            MasterUsername="shop", MasterUserPassword=PASSWORD, DBSubnetGroupName=SUBNET_GROUP,
            VpcSecurityGroupIds=[ids["sg-db"]], DBClusterParameterGroupName=CLUSTER_PARAMETER_GROUP,
            StorageEncrypted=True, KmsKeyId=key["Arn"], Tags=APP_TAGS)
        rds.create_db_instance(DBInstanceIdentifier=CLUSTER_MEMBER, DBClusterIdentifier=CLUSTER,
                               Engine="aurora-postgresql", DBInstanceClass="db.r6g.large", Tags=APP_TAGS)
        out.update({"cluster": CLUSTER, "cluster-member": CLUSTER_MEMBER,
                    "cluster-parameter-group": CLUSTER_PARAMETER_GROUP})
    return out
