"""A run killed after any one of a handler's writes, run again, converges: one resource, fully configured.

For every handler of the registry, one resource of the sample shop's recovery point is applied as the engine would
apply it (`handler.apply` with the context a run gives), but with the sandbox's `fail_write=k` fault: the run dies at
its k-th write (that write and every later one refused), for k = 1 .. the number of writes a clean apply makes. The
fault is then lifted and the resource applied again, as a re-run would. Two things must hold each time:

- no duplicate: no resource-making call (Create*, Run*, Allocate*, Copy*, ...) succeeded more often over the killed
  apply and its re-run together than in one clean apply: the re-run found what the killed one had made;
- nothing half-configured: every kind of write of a clean apply succeeded in the killed apply or its re-run, so the
  re-run finished what the killed one left (its alias, tags, rules, attributes).

Each attempt is its own drill (its own drill id: names and tags of its own), with the resource's dependencies
applied for it first without faults, so that attempts never meet each other's resources. Internet-facing handlers,
which a drill leaves out, are applied in recovery mode under the same drill ids. The handlers are driven directly,
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
from core.engine import RunSpec
from core.graph import dependency_closure, topological_order
from core.handler import CleanupContext
from core.models import Mode, Outcome, Resource, ResourceResult
from core.plan import load_plan
from core.vault import Vault
from drflow.sandbox.faults import Faults
from drflow.sandbox.workload import seed_workload
from flows.replicate import replicate
from flows_helper import run
from tasks.registry import HANDLERS, default_registry

# one worker builds the staged shop once and runs every handler's attempts on it
pytestmark = pytest.mark.xdist_group("killed-apply")

# what the sandbox cannot run: moto 5.2.5 has no Elastic Beanstalk application versions, configuration settings or
# environment termination (tests/tasks/beanstalk/ runs those handlers against botocore's Stubber instead)
NOT_IN_THE_SANDBOX = {"elasticbeanstalk:application", "elasticbeanstalk:environment"}
# calls that make a new resource each time they succeed (a name-unique create succeeds once, AWS refuses the next)
MAKES = ("Create", "Run", "Allocate", "Copy", "Restore", "Register", "Publish", "Start", "Import", "POST ")
TAGGING = ("Tag", "AddTags")  # CreateTags, TagResource, AddTagsToResource...: idempotent, repeated by a re-run


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
    """One drill of its own: the resource's dependencies applied cleanly, then the resource under a fault."""

    def __init__(self, sandbox: Any, plan: Any, resources: list[Resource], target: Resource, drill_id: str):
        self.sandbox, self.target = sandbox, target
        registry = default_registry()
        self.handler = registry[target.type]
        mode = Mode.RECOVER if self.handler.internet_facing else Mode.DRILL
        self.spec = RunSpec(plan=plan, aws=AwsAccess(plan), registry=registry, mode=mode, scope=drill_id,
                            drill_id=drill_id)
        by_key = {r.key: r for r in resources}
        edges = {r.key: r.dependencies for r in resources}
        closure = dependency_closure(edges, target.dependencies)
        self.results: dict[str, ResourceResult] = {}
        for key in topological_order({k: [d for d in edges[k] if d in closure] for k in closure}):
            self.results[key] = self._apply(by_key[key])

    def _apply(self, resource: Resource) -> ResourceResult:
        handler = self.spec.registry[resource.type]
        if self.spec.mode == Mode.DRILL and handler.internet_facing:  # as the engine does: left out of a drill
            return ResourceResult(key=resource.key, type=resource.type, source_id=resource.source_id,
                                  name=resource.name, outcome=Outcome.SKIPPED)
        applied = handler.apply(resource, self.spec.context({d: self.results[d] for d in resource.dependencies}))
        return ResourceResult(key=resource.key, type=resource.type, source_id=resource.source_id, name=resource.name,
                              outcome=Outcome.CREATED if applied.created else Outcome.UPDATED,
                              recovered_id=applied.recovered_id, details=applied.details)

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

    def found(self) -> str | None:
        return self.handler.find(self.target, self.spec.context({d: self.results[d] for d in self.target.dependencies}))

    def clean_up(self) -> None:
        """The attempt's copy of the target removed by the handler's own drill cleanup, where it has one: some
        kinds allow one drill at a time (a file system's replica mounts in one VPC only)."""
        if isinstance(self.handler, Cleaner):
            self.handler.cleanup(CleanupContext(plan=self.spec.plan, recovery=self.spec.aws.recovery,
                                                drill_id=self.spec.drill_id))


def _first_of_each_type(resources: list[Resource]) -> dict[str, Resource]:
    order = topological_order({r.key: r.dependencies for r in resources})
    by_key = {r.key: r for r in resources}
    first: dict[str, Resource] = {}
    for key in order:
        first.setdefault(by_key[key].type, by_key[key])
    return first


@pytest.mark.parametrize("handler", HANDLERS, ids=lambda h: h.type)
def test_a_killed_apply_run_again_leaves_one_resource_fully_configured(staged, handler):
    if handler.type in NOT_IN_THE_SANDBOX:
        pytest.skip(f"{handler.type}: moto has no such API; its handler is tested against botocore's Stubber")
    sandbox, plan, resources = staged
    target = _first_of_each_type(resources).get(handler.type)
    assert target is not None, f"the sample shop's recovery point holds no {handler.type}: seed one"
    tag = handler.type.replace(":", "-")
    # two clean applies, each a drill of its own: the second's writes are what any new drill's apply makes, once
    # what drills share (a replica bucket, a published layer) exists
    for drill in ("clean1", "clean2"):
        clean = Attempt(sandbox, plan, resources, target, f"{tag}-{drill}")
        writes, error = clean.writes()
        assert error is None, f"a clean apply of {target.label} failed: {error}"
        clean.clean_up()
    wanted = [c.operation for c in writes if c.succeeded]
    made = Counter(op for op in wanted if _makes(op))
    problems = []
    for k in range(1, len(wanted) + 1):
        attempt = Attempt(sandbox, plan, resources, target, f"{tag}-k{k}")
        killed, died = attempt.writes(fail_write=k)
        again, error = attempt.writes()
        if error is not None:
            problems.append(f"killed at write {k} ({wanted[k - 1]}), the re-run failed: {error}")
            continue
        landed = [c.operation for c in killed + again if c.succeeded]
        extra = Counter(op for op in landed if _makes(op)) - made
        if extra:
            problems.append(f"killed at write {k} ({wanted[k - 1]}): made again {dict(extra)}")
        missing = set(wanted) - set(landed)
        if missing:
            problems.append(f"killed at write {k} ({wanted[k - 1]}): never done {sorted(missing)}")
        found = attempt.found()
        if found != attempt.recovered:
            problems.append(f"killed at write {k}: find gives {found}, the re-run made {attempt.recovered}")
        attempt.clean_up()
    assert problems == [], f"{target.label} (writes of a clean apply: {wanted})"
