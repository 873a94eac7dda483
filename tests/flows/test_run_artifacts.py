"""What every run leaves in the Prefect UI, read back from the Prefect server: a progress artifact that follows the
run, the resources table with durations, the markdown report with RTO, and console links to what was recovered;
and no secret in any of them."""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

import boto3
from prefect import flow, get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.runtime import flow_run

import core.artifacts
from conftest import RECOVERY, SOURCE, make_plan
from core.aws import AwsAccess
from core.engine import RunSpec, run_graph
from core.plan import load_plan
from drflow.sandbox.drs import drs_backend
from drflow.sandbox.faults import Faults
from drflow.sandbox.server import SECRET
from drflow.sandbox.workload import seed_workload
from flows import common
from flows.failover import failover
from flows.replicate import replicate
from flows_helper import run
from tasks.registry import default_registry
from engine_helper import Recorder, things
from artifacts_helper import published_artifacts

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "shop-plan.yaml"


def _links(artifacts: list) -> list[str]:
    """The URLs of the run's link artifacts (Prefect stores a link artifact as markdown: `[text](url)`, no key)."""
    return [a.data.rsplit("](", 1)[1][:-1] for a in artifacts
            if a.type == "markdown" and a.key is None and a.data.startswith("[") and a.data.endswith(")")]


def test_a_failover_publishes_progress_durations_rto_and_console_links(sandbox):
    ids = seed_workload(boto3.Session(), SOURCE)
    plan = load_plan(EXAMPLE, set(default_registry()))
    drs_backend(plan.recovery.account_id, RECOVERY).set_latency(0.2)
    assert run(replicate, plan=plan)["failed"] == []
    sandbox.faults = Faults(dark={SOURCE})
    report = run(failover, plan=plan)
    assert report["failed"] == []
    idmap = report["identity_map"]
    artifacts = published_artifacts(report["run_id"])

    [progress] = [a for a in artifacts if a.type == "progress"]  # one artifact, updated in place
    assert progress.key == "shop-failover-progress" and float(progress.data) == 100.0
    total = report["resources"]["total"]
    assert progress.description.startswith(f"{total} of {total} resources done")

    [table] = [a for a in artifacts if a.key == "shop-failover-resources"]
    rows = {row["resource"]: row for row in json.loads(table.data)}
    assert set(rows) == {d["key"] for d in report["details"]}
    db = rows["rds:db-instance/shop-db"]
    assert db["outcome"] == "created" and db["recovered_id"] == "shop-db"
    assert db["duration_s"] == next(d["seconds"] for d in report["details"] if d["key"] == db["resource"]) > 0
    assert all(isinstance(row["duration_s"], float) for row in rows.values() if row["outcome"] != "skipped")

    [markdown] = [a.data for a in artifacts if a.key == "shop-failover-report"]
    assert f"RTO {report['rto_seconds']} s" in markdown and "## Time per phase" in markdown

    links = _links(artifacts)
    lb_arn = next(d["recovered_id"] for d in report["details"] if d["key"].startswith("elbv2:load-balancer/"))
    expected = {"vpc": f"#VpcDetails:VpcId={idmap[ids['vpc']]}", "instance": "#InstanceDetails:instanceId=",
                "db": "#database:id=shop-db;is-cluster=false", "lb": f"#LoadBalancer:loadBalancerArn={lb_arn}",
                "bucket": f"/s3/buckets/{ids['bucket']}-{RECOVERY}?region={RECOVERY}",
                "efs": f"#/file-systems/{idmap[ids['efs']]}"}
    for what, fragment in expected.items():
        assert any(fragment in link for link in links), (what, fragment, links)
    servers = [d["recovered_id"] for d in report["details"] if d["key"].startswith("ec2:instance/")]
    assert servers and all(any(link.endswith(f"instanceId={i}") for link in links) for i in servers)
    assert all(f"region={RECOVERY}" in link and f"https://{RECOVERY}.console.aws.amazon.com/" in link
               for link in links if "/s3/" not in link)
    assert not any(SOURCE in link for link in links)  # the primary is dark: nothing links there
    app_kinds = ("sqs:", "secretsmanager:", "ssm:")
    app = [d for d in report["details"] if d["key"].startswith(app_kinds)]
    assert len(app) == 7  # three queues, the database secret, three configuration parameters
    assert all(any(console in link for link in links) for console in ("/sqs/", "/secretsmanager/", "/systems-manager/"))
    messaging = [d for d in report["details"] if d["key"].startswith(("sns:", "events:", "dynamodb:"))]
    assert len(messaging) == 5  # the topic, the shop's order bus and its rule, the nightly schedule, the table
    assert any("#/eventbus/default/rules/shop-nightly" in link for link in links)
    # VPC, load balancer, database, bucket, file system, and each queue, secret, parameter, topic, bus, rule, table
    assert len(links) == len(servers) + 5 + len(app) + len(messaging)

    everything = " ".join(f"{a.data} {a.description}" for a in artifacts)
    assert SECRET not in everything and "sandbox-secret" not in everything


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
    assert len(big) == 1 and big[0].key == f"{plan}-failover-console-links" and _links(big) == []
    assert "i-r0000" in big[0].data and f"i-r{common.LINK_ARTIFACTS_MAX:04d}" in big[0].data
    assert "subnet-9" not in big[0].data  # subnets have no page worth opening; a failed VPC has no id

    small = published_artifacts(publishing("failback", details[:2]))
    assert sorted(_links(small)) == [
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
