"""What every run leaves in the Prefect UI, read back from the Prefect server: a progress artifact that follows the
run, the resources table with durations, the markdown report with RTO, and console links to what was recovered;
and no secret in any of them. The sample shop's own failover is asked these (artifacts_helper.
assert_the_failover_artifacts) in tests/flows/test_sample_workload.py, which runs that failover once for both."""

from __future__ import annotations

import threading
import time
import uuid

from prefect import flow, get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.runtime import flow_run

import core.artifacts
from conftest import RECOVERY, SOURCE, make_plan
from core.aws import AwsAccess
from core.engine import RunSpec, run_graph
from flows import common
from tasks.registry import default_registry
from engine_helper import Recorder, things
from artifacts_helper import link_urls, published_artifacts



def test_a_big_run_gets_one_markdown_of_links_and_failback_links_to_the_primary(monkeypatch):
    details = [{"key": f"ec2:instance/i-{n:04d}", "name": f"web-{n}", "outcome": "created",
                "recovered_id": f"i-r{n:04d}"} for n in range(common.LINK_ARTIFACTS_MAX + 1)]
    details += [{"key": "ec2:subnet/subnet-1", "name": "", "outcome": "created", "recovered_id": "subnet-9"},
                {"key": "ec2:vpc/vpc-gone", "name": "", "outcome": "failed", "recovered_id": None}]
    plan = f"big{uuid.uuid4().hex[:8]}"

    @flow
    def publishing(kind: str, rows: list) -> str:
        report = {"flow": kind, "plan": plan, "source": {"region": SOURCE}, "recovery": {"region": RECOVERY},
                  "details": rows}
        common.publish_links(report, f"{plan}-{kind}", default_registry())
        return str(flow_run.id)

    big = published_artifacts(publishing("failover", details))
    assert len(big) == 1 and big[0].key == f"{plan}-failover-console-links"  # one table, no link cards
    assert len(link_urls(big)) == common.LINK_ARTIFACTS_MAX + 1
    assert "i-r0000" in big[0].data and f"i-r{common.LINK_ARTIFACTS_MAX:04d}" in big[0].data
    assert "subnet-9" not in big[0].data  # subnets have no page worth opening; a failed VPC has no id

    small = published_artifacts(publishing("failback", details[:2]))
    assert sorted(link_urls(small)) == [
        f"https://{SOURCE}.console.aws.amazon.com/ec2/home?region={SOURCE}#InstanceDetails:instanceId=i-r000{n}"
        for n in (0, 1)]


def test_progress_follows_the_tasks_as_they_finish(monkeypatch):
    """Read from the server while the run is going: the artifact moves between 0 and 100, and ends at 100."""
    monkeypatch.setattr(core.artifacts, "PROGRESS_INTERVAL_SECONDS", 0.0)
    plan = make_plan(name=f"p{uuid.uuid4().hex[:10]}")
    handler = Recorder(delay=0.4)
    resources = things({"a": [], "b": ["a"], "c": ["b"], "d": ["c"], "e": ["d"]})  # one at a time: 20 % steps

    @flow
    def engine_flow():
        spec = RunSpec(plan=plan, aws=AwsAccess(plan), registry={"test:thing": handler}, mode="stage", scope="p")
        return run_graph(resources, spec)

    thread = threading.Thread(target=engine_flow)
    thread.start()
    seen: set[float] = set()
    key = f"{plan.name}-engine-flow-progress"
    while thread.is_alive():
        with get_client(sync_client=True) as client:
            found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
        seen.update(float(a.data) for a in found)
        time.sleep(0.1)
    thread.join()
    with get_client(sync_client=True) as client:
        [final] = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    assert float(final.data) == 100.0 and final.description == "5 of 5 resources done"
    assert {20.0, 40.0, 60.0, 80.0} & seen, seen  # seen on its way, not only at the end
