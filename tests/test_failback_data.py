"""Failback of data that failover makes writable in the recovery region: EFS file systems and imaged servers.

EFS: the recovered file system replicates into the ORIGINAL one (its overwrite protection disabled first);
the replication API is the sandbox's double (drflow/sandbox/efs_replication.py, checked against botocore's
model in tests/test_efs.py). Imaged servers (no DRS agent): an AMI of the recovered instance, copied into
the primary, launched in the server's original subnet. Assertions are on the accounts' state."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from conftest import ACCOUNT, RECOVERY, SOURCE, make_plan
from core.handler import TAG_PLAN
from drflow.sandbox.accounts import recovery_role
from drflow.sandbox.faults import Faults
from drflow.sandbox.seed_efs import seed_efs
from flows.failback import failback
from flows.failover import failover
from flows.replicate import replicate
from flows_helper import run

OTHER_ACCOUNT = "222222222222"


def efs(region: str = SOURCE) -> Any:
    return boto3.client("efs", region_name=region)


def row(report: dict, key: str) -> dict:
    return next(d for d in report["details"] if d["key"] == key)


def protection(fs_id: str, region: str = SOURCE) -> str:
    fs = efs(region).describe_file_systems(FileSystemId=fs_id)["FileSystems"][0]
    return fs["FileSystemProtection"]["ReplicationOverwriteProtection"]


def efs_writes(sandbox: Any) -> list[tuple[str, str]]:
    return [(c.region, c.operation) for c in sandbox.calls if c.service == "elasticfilesystem" and c.write]


@pytest.fixture
def files(shop, sandbox):
    ids = seed_efs(boto3.Session(), SOURCE, dict(shop))
    sandbox.app.clear_log()
    return ids


@pytest.fixture
def encrypted(shop, sandbox):
    """The shop's file system encrypted with a customer key, mapped to one in the recovery region: the
    recovered file system (an EFS replica, always encrypted) then replicates into an encrypted original."""
    key = boto3.client("kms", region_name=SOURCE).create_key(Description="shop files")["KeyMetadata"]
    target = boto3.client("kms", region_name=RECOVERY).create_key(Description="shop files DR")["KeyMetadata"]
    ids = seed_efs(boto3.Session(), SOURCE, dict(shop), kms_key_id=key["Arn"])
    ids["plan"] = make_plan(kms_key_map={key["Arn"]: target["Arn"]})
    sandbox.app.clear_log()
    return ids


def _fail_over(plan: Any, sandbox: Any) -> dict:
    assert run(replicate, plan=plan)["failed"] == []
    sandbox.faults = Faults(dark={SOURCE})
    report = run(failover, plan=plan)
    sandbox.faults = Faults()  # the primary is back
    assert report["failed"] == [], report["failed"]
    return report


def assert_replicates_home(recovered: str, original: str) -> None:
    """The original file system is the destination of a replication from the recovered one, read-only."""
    for client, name in ((efs(SOURCE), original), (efs(RECOVERY), recovered)):
        [replication] = client.describe_replication_configurations(FileSystemId=name)["Replications"]
        assert replication["SourceFileSystemId"] == recovered and replication["SourceFileSystemRegion"] == RECOVERY
        [destination] = replication["Destinations"]
        assert (destination["FileSystemId"], destination["Region"], destination["Status"]) == \
            (original, SOURCE, "ENABLED")
    assert protection(original) == "REPLICATING"


# -- EFS -------------------------------------------------------------------------------------------------------

def test_the_recovered_file_system_replicates_into_the_original_and_a_rerun_writes_nothing(encrypted, sandbox):
    files, plan = encrypted, encrypted["plan"]
    recovered = _fail_over(plan, sandbox)["identity_map"][files["efs"]]
    assert protection(recovered, RECOVERY) == "ENABLED" and protection(files["efs"]) == "ENABLED"
    sandbox.app.clear_log()
    report = run(failback, plan=plan)
    assert report["failed"] == [], report["failed"]
    fs_row = row(report, f"efs:file-system/{files['efs']}")
    assert fs_row["outcome"] == "created" and fs_row["recovered_id"] == files["efs"]
    assert fs_row["details"]["replication"] == f"{recovered} ({RECOVERY}) -> {files['efs']} ({SOURCE})"
    assert_replicates_home(recovered, files["efs"])
    # two EFS writes (the sandbox logs EFS calls by path): the original's protection, the replication
    assert sorted(efs_writes(sandbox)) == [(SOURCE, "PUT /2015-02-01"), (RECOVERY, "POST /2015-02-01")]
    # the original keeps its mount targets: the primary's clients mount what they always mounted
    assert len(efs().describe_mount_targets(FileSystemId=files["efs"])["MountTargets"]) == 2

    sandbox.app.clear_log()
    again = run(failback, plan=plan)
    assert again["failed"] == [] and again["api_calls"]["write"] == 0
    assert row(again, f"efs:file-system/{files['efs']}")["outcome"] == "adopted"
    assert_replicates_home(recovered, files["efs"])


def test_the_old_replication_the_primary_still_lists_is_deleted_on_its_side_first(encrypted, sandbox):
    files, plan = encrypted, encrypted["plan"]
    assert run(replicate, plan=plan)["failed"] == []
    [replica] = [fs for fs in efs(RECOVERY).describe_file_systems()["FileSystems"]
                 if any(t["Key"] == TAG_PLAN for t in fs["Tags"])]
    # what a failover does when it cannot reach the primary: the replica's side only; the primary keeps a
    # broken configuration that names the original as a source (EFS then refuses it as a destination)
    efs(RECOVERY).delete_replication_configuration(SourceFileSystemId=replica["FileSystemId"],
                                                   DeletionMode="LOCAL_CONFIGURATION_ONLY")
    sandbox.faults = Faults(dark={SOURCE})
    assert run(failover, plan=plan)["failed"] == []
    sandbox.faults = Faults()
    [stale] = efs().describe_replication_configurations(FileSystemId=files["efs"])["Replications"]
    assert stale["Destinations"][0]["Status"] == "ERROR"
    report = run(failback, plan=plan)
    assert report["failed"] == [], report["failed"]
    assert_replicates_home(replica["FileSystemId"], files["efs"])
    assert any("old replication" in w for w in row(report, f"efs:file-system/{files['efs']}")["warnings"])


def test_a_refused_replication_leaves_the_original_writable(files, sandbox):
    """The sandbox refuses an encrypted source into an unencrypted destination (ConflictException): the
    protection failback disabled is enabled again, so the original is not left read-only for nothing."""
    plan = make_plan()
    _fail_over(plan, sandbox)
    report = run(failback, plan=plan)
    [failed] = report["failed"]
    assert failed.startswith(f"efs:file-system/{files['efs']}: ConflictException")
    assert protection(files["efs"]) == "ENABLED"


def test_a_cross_account_file_system_is_skipped_with_the_reason_before_any_efs_write(files, sandbox):
    role = recovery_role(OTHER_ACCOUNT, trusted=ACCOUNT)
    plan = make_plan(recovery={"account_id": OTHER_ACCOUNT, "region": RECOVERY, "role_arn": role})
    _fail_over(plan, sandbox)
    sandbox.app.clear_log()
    report = run(failback, plan=plan)
    assert report["failed"] == [], report["failed"]
    fs_row = row(report, f"efs:file-system/{files['efs']}")
    assert fs_row["outcome"] == "skipped" and "IAM role" in fs_row["details"]["reason"]
    assert efs_writes(sandbox) == [] and protection(files["efs"]) == "ENABLED"
