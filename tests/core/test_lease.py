"""The plan's lease in the vault: one holder at a time, taken over only from a holder that is gone."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone

import boto3
import pytest

from conftest import RECOVERY
from core import lease as leases
from core.aws import AwsAccess
from core.lease import Holder, Lease, LeaseHeld, hold
from core.vault import Vault


@pytest.fixture
def vault(sandbox, plan):
    Vault(AwsAccess(plan).vault, plan.vault_bucket, plan.name).ensure()
    return AwsAccess(plan).vault


def _stored(plan) -> dict | None:
    s3 = boto3.client("s3", region_name=RECOVERY)
    try:
        return json.loads(s3.get_object(Bucket=plan.vault_bucket, Key=f"{plan.name}/lease.json")["Body"].read())
    except s3.exceptions.NoSuchKey:
        return None


def _plant(plan, **body) -> None:
    boto3.client("s3", region_name=RECOVERY).put_object(Bucket=plan.vault_bucket, Key=f"{plan.name}/lease.json",
                                                        Body=json.dumps(body).encode())


def test_a_second_holder_is_refused_with_the_first_named_and_the_lease_is_given_back_on_any_exit(vault, plan):
    with hold(vault, plan.vault_bucket, plan.name, Holder("run-1", "replicate")):
        assert _stored(plan)["run_id"] == "run-1"
        with pytest.raises(LeaseHeld) as refused:
            with hold(vault, plan.vault_bucket, plan.name, Holder("run-2", "failover")):
                pass
        assert "replicate run run-1" in str(refused.value) and refused.value.holder["flow"] == "replicate"
        assert _stored(plan)["run_id"] == "run-1"
    assert _stored(plan) is None
    with pytest.raises(RuntimeError, match="boom"):
        with hold(vault, plan.vault_bucket, plan.name, Holder("run-3", "failover")):
            raise RuntimeError("boom")
    assert _stored(plan) is None


def test_of_two_takers_at_the_same_moment_exactly_one_wins(vault, plan):
    """Two processes' leases (no shared memory between them): S3's conditional put decides."""
    won: list[str] = []
    refused: list[str] = []
    start = threading.Barrier(2)

    def take(run_id: str) -> None:
        lease = Lease(vault, plan.vault_bucket, plan.name)
        start.wait()
        try:
            lease.acquire(Holder(run_id, "replicate"))
            won.append(run_id)
        except LeaseHeld:
            refused.append(run_id)

    threads = [threading.Thread(target=take, args=(f"run-{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1 and len(refused) == 1
    assert _stored(plan)["run_id"] == won[0]


def test_an_expired_lease_of_another_machine_is_taken_over_and_a_live_one_is_not(vault, plan):
    now = datetime.now(timezone.utc)
    _plant(plan, run_id="gone", flow="replicate", host="elsewhere", pid=1, expires_at=(now - timedelta(1)).isoformat())
    with hold(vault, plan.vault_bucket, plan.name, Holder("run-new", "failover")):
        assert _stored(plan)["run_id"] == "run-new" and _stored(plan)["took_over_from"] == "gone"
    _plant(plan, run_id="alive", flow="replicate", host="elsewhere", pid=1, expires_at=(now + timedelta(1)).isoformat())
    with pytest.raises(LeaseHeld, match="replicate run alive"):
        Lease(vault, plan.vault_bucket, plan.name).acquire(Holder("run-x", "failover"))


def test_a_holder_killed_on_this_machine_is_taken_over_at_once(vault, plan):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    expires = (datetime.now(timezone.utc) + timedelta(minutes=5)).isoformat()
    _plant(plan, run_id="killed", flow="failover", host=socket.gethostname(), pid=int(dead.stdout), expires_at=expires)
    with hold(vault, plan.vault_bucket, plan.name, Holder("resumed", "failover")):
        assert _stored(plan)["took_over_from"] == "killed"


def test_the_holder_renews_its_lease_and_a_lease_taken_over_is_not_renewed(vault, plan, monkeypatch):
    monkeypatch.setattr(leases, "RENEW_EVERY", 0.05)
    first = Lease(vault, plan.vault_bucket, plan.name)
    first.acquire(Holder("run-1", "replicate"))
    before = _stored(plan)["expires_at"]
    assert first.renew() and _stored(plan)["expires_at"] >= before
    _plant(plan, **{**_stored(plan), "run_id": "usurper"})  # the lease changed under it (its ETag no longer matches)
    assert not first.renew()
    first.release()  # not ours any more: left alone
    assert _stored(plan)["run_id"] == "usurper"
