"""A run killed after any one of a handler's writes, run again, converges: one resource, fully configured.

For every handler of the registry, one resource of the sample shop's recovery point is applied as the engine would
apply it (`handler.apply` with the context a run gives), but with the sandbox's `fail_write=k` fault: the run dies at
its k-th write (that write and every later one refused), for each kind of write a clean apply makes, where it
first comes. The fault is then lifted and the resource applied again in the same run (as a task retry would: the
run's per-run state kept). Three things must hold each time:

- no duplicate: no resource-making call (Create*, Run*, Allocate*, Copy*, ...) succeeded more often over the killed
  apply and its re-run together than in one clean apply: the re-run found what the killed one had made;
- nothing half-configured: every kind of write of a clean apply succeeded in the killed apply or its re-run, so the
  re-run finished what the killed one left (its alias, tags, rules, attributes);
- the handler's `find` gives what the re-run made (where the kind has a resource of its own to find).

Each attempt is its own drill (its own drill id: names and tags of its own), with the resource's dependencies
applied for it first without faults, so that attempts never meet each other's resources. Internet-facing handlers,
which a drill leaves out, are applied in recovery mode under the same drill ids. What only nightly staging writes
(a key, a replica bucket or repository) is staged into a recovery region of its own per attempt, and IAM (no
regions) into a recovery account of its own, as a cross-account plan stages it. The handlers are driven directly,
without Prefect (but for the one nightly replication that stages the recovery point), to stay within the suite's
time budget.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import boto3
import pytest

from conftest import ACCOUNT, EXAMPLE, SOURCE
from core.aws import AwsAccess
from core.capabilities import Cleaner
from core.engine import RunSpec, _paired
from core.graph import dependency_closure, topological_order
from core.handler import CleanupContext
from core.models import Mode, Outcome, Resource, ResourceResult
from core.plan import load_plan
from core.vault import Vault
from drflow.sandbox.accounts import recovery_role
from drflow.sandbox.faults import Faults
from drflow.sandbox.workload import seed_workload
from flows.replicate import replicate
from flows_helper import run
from tasks.registry import HANDLERS, default_registry

# one worker builds the staged shop once and runs every handler's attempts on it
pytestmark = pytest.mark.xdist_group("killed-apply")

# what the sandbox cannot run: moto 5.2.5 has no Elastic Beanstalk application versions, configuration settings or
# environment termination. tests/tasks/beanstalk/test_beanstalk_killed_apply.py holds those handlers to the same
# three checks, killed at each write, against an in-memory Beanstalk behind botocore's Stubber
# (tests/tasks/beanstalk/beanstalk_fake.py)
NOT_IN_THE_SANDBOX = {"elasticbeanstalk:application", "elasticbeanstalk:environment"}
# what the sample shop has none of, and whose one write is a change of production that no drill attempt makes: a
# CloudFront distribution is switched at a failover's cutover only (a drill leaves it alone). The test named holds it
# to the same three checks, killed at each of its writes (cutover, nightly origin groups, failback)
# An API Gateway custom domain name is the production name itself, one per region, which no drill takes: every
# attempt here would need that one name again under a drill id of its own. Its test kills a failover's apply at each
# write (create, mapping, tags) and runs it again on the one name
ELSEWHERE = {"cloudfront:distribution": "tests/tasks/cloudfront/test_cloudfront_killed_apply.py",
             "apigateway:domain-name": "tests/tasks/apigateway/test_domains.py"}
# calls that make a new resource each time they succeed (a name-unique create succeeds once, AWS refuses the next)
MAKES = ("Create", "Run", "Allocate", "Copy", "Restore", "Register", "Publish", "Start", "Import", "POST ")
TAGGING = ("Tag", "AddTags")
# staging attempts' recovery regions: neither the shop's source nor its recovery region (moto has every region)
STAGING_REGIONS = ("us-east-2", "us-west-1", "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-north-1",
                   "ap-southeast-1", "ap-southeast-2", "ap-northeast-1", "ap-northeast-2", "ap-south-1", "ca-central-1",
                   "sa-east-1", "ap-northeast-3", "eu-south-1", "me-south-1", "af-south-1", "ap-east-1", "eu-central-2",
                   "ap-south-2", "ap-southeast-3", "me-central-1", "il-central-1", "eu-south-2", "ap-southeast-4")
GLOBAL_SERVICES = ("iam",)  # no regions: staged into a recovery account of its own instead  # CreateTags, TagResource, AddTagsToResource...: idempotent, repeated by a re-run


def _makes(operation: str) -> bool:
    return operation.startswith(MAKES) and not any(t in operation for t in TAGGING) and operation != "RegisterTargets"


@pytest.fixture(scope="module")
def staged(sandbox_server):
    """The sample shop (with an Aurora cluster and an interface endpoint, so that every type is there) seeded and
    replicated once, its recovery point staged; boto3 pointed at the sandbox."""
    sandbox_server.reset()
    with pytest.MonkeyPatch.context() as patch:
        for key, value in sandbox_server.env(ACCOUNT).items():
            patch.setenv(key, value)
        ids = seed_workload(boto3.Session(), SOURCE, aurora=True)
        boto3.client("ec2", region_name=SOURCE).create_vpc_endpoint(
            VpcId=ids["vpc"], ServiceName=f"com.amazonaws.{SOURCE}.ssm", VpcEndpointType="Interface",
            SubnetIds=[ids["private-a"], ids["private-b"]], SecurityGroupIds=[ids["sg-app"]],
            TagSpecifications=[{"ResourceType": "vpc-endpoint", "Tags": [{"Key": "app", "Value": "shop"}]}])
        plan = load_plan(EXAMPLE, set(default_registry()))
        replicated = run(replicate, plan=plan)
        assert replicated["failed"] == []
        point = Vault(AwsAccess(plan).vault, plan.vault_bucket, plan.name).load("latest")
        yield sandbox_server, plan, point.resources
    sandbox_server.faults = Faults()


class Attempt:
    """One attempt in a recovery target of its own: a drill of its own (`drill_id`), or for nightly staging, which
    has no drill id, a recovery region of its own (`region`). The target's dependencies are applied first, without
    faults, then the target under one."""

    def __init__(self, sandbox: Any, plan: Any, resources: list[Resource], target: Resource, drill_id: str,
                 region: str | None = None, account: str | None = None):
        self.sandbox, self.target = sandbox, target
        registry = default_registry()
        self.handler = registry[target.type]
        self.own_account = bool(account)
        if account:  # IAM is global: a recovery account of its own, which a cross-account plan stages IAM into
            role = recovery_role(account, [ACCOUNT])
            plan = plan.model_copy(update={"recovery": plan.recovery.model_copy(update={
                "account_id": account, "role_arn": role, "mode": None})})
            mode, drill_id = Mode.STAGE, None
        elif region:
            plan = plan.model_copy(update={"recovery": plan.recovery.model_copy(update={"region": region})})
            mode, drill_id = Mode.STAGE, None
            # as the plan for that region would have discovered it (a replica bucket's name holds its region)
            again = {r.key: r for r in self.handler.discover(AwsAccess(plan).source, plan)}[target.key]
            self.target = target = target.model_copy(update={"config": again.config})
        else:
            mode = Mode.RECOVER if self.handler.internet_facing else Mode.DRILL
        self.spec = RunSpec(plan=plan, aws=AwsAccess(plan), registry=registry, mode=mode,
                            scope=f"{drill_id}{region}{account}", drill_id=drill_id)
        by_key = {r.key: r for r in resources}
        edges = {r.key: r.dependencies for r in resources}
        closure = dependency_closure(edges, target.dependencies)
        self.results: dict[str, ResourceResult] = {}
        for key in topological_order({k: [d for d in edges[k] if d in closure] for k in closure}):
            self.results[key] = self._apply(by_key[key])

    def _apply(self, resource: Resource) -> ResourceResult:
        handler = self.spec.registry[resource.type]
        # as the engine does: internet-facing kinds are left out of a drill, and staging makes only the pilot light;
        # in a recovery account of its own, only the target's own service (a replica bucket's name, global in S3,
        # would meet the sample plan's)
        other_service = resource.type.split(":")[0] != self.target.type.split(":")[0]
        if (self.spec.mode == Mode.DRILL and handler.internet_facing
                or self.spec.mode == Mode.STAGE and not handler.pilot_light
                or self.own_account and other_service):
            return ResourceResult(key=resource.key, type=resource.type, source_id=resource.source_id,
                                  name=resource.name, outcome=Outcome.SKIPPED)
        applied = handler.apply(resource, self.spec.context({d: self.results[d] for d in resource.dependencies}))
        return ResourceResult(key=resource.key, type=resource.type, source_id=resource.source_id, name=resource.name,
                              outcome=Outcome.CREATED if applied.created else Outcome.UPDATED,
                              recovered_id=applied.recovered_id, details=applied.details,
                              endpoints=_paired(resource, applied))  # as the engine hands them to dependants

    def writes(self, fail_write: int = 0) -> tuple[list[Any], BaseException | None]:
        """Apply the target (killed at its `fail_write`-th write), returning the sandbox's record of its writes."""
        self.sandbox.app.clear_log()
        self.sandbox.faults = Faults(fail_write=fail_write)
        error = None
        try:
            self.recovered = self._apply(self.target).recovered_id
        except Exception as exc:  # noqa: BLE001 - the killed run's error, expected
            error = exc
        finally:
            self.sandbox.faults = Faults()
        return [c for c in self.sandbox.calls if c.write], error

    def named(self, operation: str) -> str:
        """An operation as any attempt makes it: a staging attempt's region in a name (a replica bucket's) is
        `{region}`."""
        region = self.spec.plan.recovery.region
        return operation.replace(region, "{region}") if self.spec.mode == Mode.STAGE else operation

    def found(self) -> str | None:
        return self.handler.find(self.target, self.spec.context({d: self.results[d] for d in self.target.dependencies}))

    def clean_up(self) -> None:
        """The attempt's copy of the target removed by the handler's own drill cleanup, where it has one: some
        kinds allow one drill at a time (a file system's replica mounts in one VPC only)."""
        if self.spec.drill_id and isinstance(self.handler, Cleaner):
            self.handler.cleanup(CleanupContext(plan=self.spec.plan, recovery=self.spec.aws.recovery,
                                                drill_id=self.spec.drill_id))


def _of_type(resources: list[Resource], resource_type: str) -> list[Resource]:
    order = topological_order({r.key: r.dependencies for r in resources})
    by_key = {r.key: r for r in resources}
    return [by_key[k] for k in order if by_key[k].type == resource_type]


def _place(path: str, slot: int) -> dict[str, str]:
    """Where an attempt runs: its own drill (its drill id is enough), staging into a recovery region of its own,
    or (what only a separate recovery account gets: IAM) staging into a recovery account of its own. Slots from
    0 for the killed attempts, from -1 down for the clean ones."""
    if path == "stage":
        return {"region": STAGING_REGIONS[slot]}
    if path == "account":
        return {"account": f"3333333{slot % 100:05d}"}
    return {}


def _configures(writes: list[Any]) -> bool:
    """More than tags: the first route table of a VPC, say, is its main one, which a recovery only adopts."""
    return any(c.succeeded and not any(t in c.operation for t in TAGGING) for c in writes)


def _clean_writes(sandbox: Any, plan: Any, resources: list[Resource], handler: Any
                  ) -> tuple[Resource, list[str], str, str | None]:
    """The resource to kill, the writes a clean apply of it makes, where its attempts run ("drill", "stage"), and
    what the handler's `find` gives after the clean apply.

    A drill first, each attempt a drill of its own. Where no candidate's drill apply configures anything (a key, a
    bucket, a role: staged nightly, only used by a drill), nightly staging: each attempt in a recovery region of its
    own, or, for a service without regions (IAM), in a recovery account of its own (what a cross-account plan
    stages; same-account staging keeps the production's roles).
    Two clean applies of a drill: the second's writes are what any new drill makes once what drills share (a
    replica bucket's source rule, a published layer) exists."""
    candidates = _of_type(resources, handler.type)[:3]
    assert candidates, f"the sample shop's recovery point holds no {handler.type}: seed one"
    tag = handler.type.replace(":", "-")
    staging = "account" if handler.type.split(":")[0] in GLOBAL_SERVICES else "stage"
    for path in ["drill", staging] if handler.pilot_light else ["drill"]:
        for n, target in enumerate(candidates):
            for i in range(2 if path == "drill" else 1):  # staging: each region or account is new
                attempt = Attempt(sandbox, plan, resources, target, f"{tag}-{n}-clean{i}", **_place(path, -1 - n))
                writes, error = attempt.writes()
                assert error is None, f"a clean apply of {target.label} ({path}) failed: {error}"
                found = attempt.found()
                attempt.clean_up()
            if _configures(writes):
                return attempt.target, [attempt.named(c.operation) for c in writes if c.succeeded], path, found
    return candidates[0], [], "drill", None


@pytest.mark.parametrize("handler", HANDLERS, ids=lambda h: h.type)
def test_a_killed_apply_run_again_leaves_one_resource_fully_configured(staged, handler):
    if handler.type in NOT_IN_THE_SANDBOX:
        pytest.skip(f"{handler.type}: moto has no such API; see tests/tasks/beanstalk/test_beanstalk_killed_apply.py")
    if handler.type in ELSEWHERE:
        pytest.skip(f"{handler.type}: not in the sample shop, and written at a cutover only; see {ELSEWHERE[handler.type]}")
    sandbox, plan, resources = staged
    target, wanted, path, found_clean = _clean_writes(sandbox, plan, resources, handler)
    assert wanted, f"{target.label}: a clean apply wrote nothing, in a drill nor staging: the test proves nothing"
    assert path != "stage" or len(set(wanted)) <= len(STAGING_REGIONS) - 3, "more kinds of write than regions"
    made = Counter(op for op in wanted if _makes(op))
    findable = found_clean is not None  # else a kind with no resource of its own (a group's rules, registrations)
    tag = handler.type.replace(":", "-")
    problems = []
    # killed at each kind of write in turn, where it first comes (create, then tag, alias, attribute, rule...): a
    # bucket's fifty object copies are one kind
    kills = sorted({op: k for k, op in reversed(list(enumerate(wanted, start=1)))}.values())
    for n, k in enumerate(kills):
        attempt = Attempt(sandbox, plan, resources, target, f"{tag}-k{k}", **_place(path, n))
        killed, _ = attempt.writes(fail_write=k)
        again, error = attempt.writes()
        if error is not None:
            problems.append(f"killed at write {k} ({wanted[k - 1]}), the re-run failed: {error}")
            continue
        landed = [attempt.named(c.operation) for c in killed + again if c.succeeded]
        extra = Counter(op for op in landed if _makes(op)) - made
        if extra:
            problems.append(f"killed at write {k} ({wanted[k - 1]}): made again {dict(extra)}")
        missing = set(wanted) - set(landed)
        if missing:
            problems.append(f"killed at write {k} ({wanted[k - 1]}): never done {sorted(missing)}")
        found = attempt.found() if findable else attempt.recovered
        if found != attempt.recovered:
            problems.append(f"killed at write {k}: find gives {found}, the re-run made {attempt.recovered}")
        attempt.clean_up()
    assert problems == [], f"{target.label}, {path} (writes of a clean apply: {wanted})"
