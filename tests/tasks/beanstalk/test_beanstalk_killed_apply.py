"""A Beanstalk apply killed after any one of its writes, run again, converges (tests/contract/test_killed_apply.py's
three checks, for the two handlers the sandbox cannot run: moto 5.2.5 has no application versions, configuration
settings or environment termination).

Elastic Beanstalk is answered by tests/tasks/beanstalk/beanstalk_fake.py: an account in memory behind botocore's
Stubber, every request and answer checked against botocore's model, each describe answering what the calls before
it made, so that the re-run meets exactly what the killed run left (nothing set up by hand per case). S3 (the
bundles and the vault) is the sandbox's moto. A kill is the sandbox's `fail_write=k` fault, counted over both: the
k-th write (Beanstalk's or S3's) and every later one is refused. At each write a clean apply makes in turn (the
second version and its bundle copy as well as the first), the run is killed, then run again with the fault lifted in the same run (the run's per-run state
kept, as a task retry), and:

- no duplicate: no making call (a Beanstalk Create*, an S3 PUT: a new object version in the versioned vault)
  succeeded more often over the killed apply and its re-run than in one clean apply;
- nothing half-configured: every kind of write of the clean apply succeeded in one of the two, and the account
  holds what the clean apply left (names, descriptions, bundles, option settings, tags);
- the handler's `find` gives what the re-run made.

An application is written by nightly staging (a drill uses the staged one and writes nothing); an environment by a
drill or failover. CreateApplication and CreateEnvironment carry their tags (one call each, so never untagged), and
an environment is created with its option settings, not updated after.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Callable

import boto3
import pytest
from botocore.exceptions import ClientError

from beanstalk_fake import BeanstalkAccount
from conftest import ACCOUNT, RECOVERY, SOURCE
from core.aws import AwsAccess
from core.models import Endpoint, RecoveryPoint
from core.vault import Vault
from drflow.sandbox.faults import Faults
from tasks.beanstalk import ApplicationHandler, EnvironmentHandler
from test_beanstalk import APP, NOW, _deps, context, discovered, world  # noqa: F401 - world: the fixture

STALE = "v41/0123/v41.zip"  # a bundle copy no kept recovery point names: staging prunes it (a write of its own)


def _makes(operation: str) -> bool:
    return operation.startswith(("Create", "PUT "))


class Run:
    """One attempt: a Beanstalk account of its own (behind `client`), the sandbox's S3 for the rest."""

    def __init__(self, sandbox: Any, client: Any, bundle_exists: Callable[[str, str], bool]):
        self.sandbox = sandbox
        self.account = BeanstalkAccount(ACCOUNT, RECOVERY, bundle_exists,
                                        interrupts=lambda write: sandbox.faults.interrupts(write),
                                        clock=lambda: len(sandbox.calls))
        self.stubber = self.account.attach(client)

    def writes(self, apply: Callable[[], Any], fail_write: int = 0
               ) -> tuple[list[tuple[str, bool]], str | None, Exception | None]:
        """(operation, succeeded) of each write of one apply, Beanstalk's and S3's in the order made; the apply's
        recovered id and its error (the killed run's, expected)."""
        self.sandbox.app.clear_log()
        self.account.calls.clear()
        self.sandbox.faults = Faults(fail_write=fail_write)
        recovered, error = None, None
        try:
            recovered = apply().recovered_id
        except Exception as exc:  # noqa: BLE001 - the killed run's error, expected
            error = exc
        finally:
            self.sandbox.faults = Faults()
        s3 = [((i, 1, 0), c.operation, c.succeeded) for i, c in enumerate(self.sandbox.calls) if c.write]
        eb = [((c.after, 0, j), c.operation, c.succeeded) for j, c in enumerate(self.account.calls) if c.write]
        return [(op, ok) for _, op, ok in sorted(s3 + eb)], recovered, error


def _converges(make_run: Callable[[], tuple[Run, Callable[[], Any], Callable[[], Any], Callable[[], Any]]]
               ) -> tuple[list[str], list[str]]:
    """The clean apply's writes, and the problems of the killed-and-re-run attempts (empty when all converge).

    `make_run()` gives a fresh attempt: its Run, the apply to make (one run: its per-run state kept over the kill
    and the re-run), the handler's find, and the account's state after it."""
    run, apply, _, state = make_run()
    clean, _, error = run.writes(apply)
    assert error is None, f"a clean apply failed: {error}"
    wanted = [op for op, ok in clean if ok]
    clean_state = state()
    run.stubber.deactivate()
    made = Counter(op for op in wanted if _makes(op))
    problems = []
    for k in range(1, len(wanted) + 1):  # at every write, not only each kind's first: the second version's too
        run, apply, find, state = make_run()
        killed, _, killed_by = run.writes(apply, fail_write=k)
        assert killed_by is not None, f"killed at write {k} ({wanted[k - 1]}), the apply did not fail"
        again, recovered, error = run.writes(apply)
        if error is not None:
            problems.append(f"killed at write {k} ({wanted[k - 1]}), the re-run failed: {error}")
            run.stubber.deactivate()
            continue
        landed = [op for op, ok in killed + again if ok]
        extra = Counter(op for op in landed if _makes(op)) - made
        if extra:
            problems.append(f"killed at write {k} ({wanted[k - 1]}): made again {dict(extra)}")
        missing = set(wanted) - set(landed)
        if missing:
            problems.append(f"killed at write {k} ({wanted[k - 1]}): never done {sorted(missing)}")
        if state() != clean_state:
            problems.append(f"killed at write {k} ({wanted[k - 1]}): left {state()}, a clean apply {clean_state}")
        if find() != recovered:
            problems.append(f"killed at write {k}: find gives {find()}, the re-run made {recovered}")
        run.stubber.deactivate()
    return wanted, problems


def test_a_killed_staging_of_an_application_run_again_leaves_it_with_every_version(world, sandbox):
    app, _ = discovered(world)
    app = app.model_copy(update={"config": {**app.config, "versions": [
        *app.config["versions"], {**app.config["versions"][0], "label": "v43", "description": "release 43"}]},
        "data": {"bundles": {**app.data["bundles"], "v43": app.data["bundles"]["v42"].replace("/v42/", "/v43/")}}})
    plan = world["plan"]
    aws = AwsAccess(plan)
    Vault(aws.vault, plan.vault_bucket, plan.name).write(RecoveryPoint(
        id=RecoveryPoint.new_id(), plan_name=plan.name, created_at=NOW, plan={}, resources=[app],
        source=Endpoint(account_id=ACCOUNT, region=SOURCE), recovery=Endpoint(account_id=ACCOUNT, region=RECOVERY)))
    vault = boto3.client("s3", region_name=RECOVERY)
    prefix = f"beanstalk/{plan.name}/"

    def bundle_exists(bucket: str, key: str) -> bool:
        return vault.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1).get("KeyCount", 0) > 0

    def copies() -> list[str]:
        return sorted(o["Key"] for o in vault.list_objects_v2(Bucket=plan.vault_bucket, Prefix=prefix).get(
            "Contents", []))

    def make_run():
        """A recovery region as before the first night: no application, no bundle copy, one stale copy."""
        listing = vault.list_object_versions(Bucket=plan.vault_bucket, Prefix=prefix)
        doomed = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                  for v in listing.get("Versions", []) + listing.get("DeleteMarkers", [])]
        if doomed:
            vault.delete_objects(Bucket=plan.vault_bucket, Delete={"Objects": doomed})
        vault.put_object(Bucket=plan.vault_bucket, Key=prefix + f"{APP}/{STALE}", Body=b"stale")
        ctx = context(plan, "stage", {}, source=AwsAccess(plan).source)
        run = Run(sandbox, ctx.recovery.client("elasticbeanstalk"), bundle_exists)
        return (run, lambda: ApplicationHandler().apply(app, ctx), lambda: ApplicationHandler().find(app, ctx),
                lambda: (run.account.state(), copies()))

    wanted, problems = _converges(make_run)
    assert [op for op in wanted if not op.startswith(("PUT ", "POST "))] == [
        "CreateApplication", "CreateApplicationVersion", "CreateApplicationVersion"]
    assert {op.split(" ")[0] for op in wanted if op.startswith(("PUT ", "POST "))} == {"PUT", "POST"}  # copy, prune
    assert problems == []


def test_a_killed_environment_creation_run_again_leaves_one_environment_fully_configured(world, sandbox):
    _, env = discovered(world)
    env, deps = _deps(world, env, drill=True)
    plan = world["plan"]

    def make_run():
        """A drill on the staged application (its version created through the account's own API), in an account
        of its own: one drill id for all, so that their results compare."""
        ctx = context(plan, "drill", deps, drill_id="drill-20260101T000000Z")
        client = ctx.recovery.client("elasticbeanstalk")
        run = Run(sandbox, client, lambda bucket, key: True)  # the staged version's bundle copy: in the vault
        client.create_application(ApplicationName=APP, Description="the shop")
        client.create_application_version(ApplicationName=APP, VersionLabel="v42", Process=True,
                                          SourceBundle={"S3Bucket": plan.vault_bucket, "S3Key": "v42.zip"})
        return (run, lambda: EnvironmentHandler().apply(env, ctx), lambda: EnvironmentHandler().find(env, ctx),
                run.account.state)

    wanted, problems = _converges(make_run)
    assert wanted == ["CreateEnvironment"]
    assert problems == []


def test_the_fake_refuses_what_aws_refuses(world, sandbox):
    """The account refuses a second application of one name (what a re-run that did not find the first would
    make), and a version whose bundle is not in S3 (a re-run that skipped the copy)."""
    ctx = context(world["plan"], "stage", {})
    client = ctx.recovery.client("elasticbeanstalk")
    Run(sandbox, client, lambda bucket, key: False)
    client.create_application(ApplicationName=APP)
    with pytest.raises(ClientError, match="InvalidParameterValue.*already exists"):
        client.create_application(ApplicationName=APP)
    with pytest.raises(ClientError, match="InvalidParameterCombination.*Unable to download"):
        client.create_application_version(ApplicationName=APP, VersionLabel="v1",
                                          SourceBundle={"S3Bucket": "b", "S3Key": "k.zip"})
    assert client.describe_application_versions(ApplicationName=APP)["ApplicationVersions"] == []
