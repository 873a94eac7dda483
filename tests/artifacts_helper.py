"""The artifacts a flow run published, read back from the Prefect API."""

from __future__ import annotations

import json

from prefect import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

from conftest import RECOVERY, SOURCE
from drflow.sandbox.server import SECRET


def published_artifacts(run_id) -> list:
    with get_client(sync_client=True) as client:
        return client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[run_id])))


def link_urls(artifacts: list) -> list[str]:
    """The URLs of the run's console links: its link artifacts (Prefect stores one as markdown, `[text](url)`, no
    key), or, beyond flows.common.LINK_ARTIFACTS_MAX links, the rows of its one console-links markdown table."""
    cards = [a.data.rsplit("](", 1)[1][:-1] for a in artifacts
             if a.type == "markdown" and a.key is None and a.data.startswith("[") and a.data.endswith(")")]
    tables = [a.data for a in artifacts if a.key and a.key.endswith("-console-links")]
    rows = [line.rsplit("](", 1)[1].split(")", 1)[0] for table in tables for line in table.splitlines()
            if line.startswith("| `") and "](" in line]
    return cards + rows


def assert_the_failover_artifacts(report: dict, ids: dict) -> None:
    """What a failover of the sample shop (the primary dark) leaves in the Prefect UI, read back from the Prefect
    server: a progress artifact that followed the run to 100 %, the resources table with durations, the markdown
    report with RTO, and a console link to each recovered resource in the recovery region (none to the primary);
    and no secret in any of them. Asked by the sample-workload test of its own failover, which the artifacts test
    ran a second time before."""
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

    links = link_urls(artifacts)
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
    zones = [d for d in report["details"] if d["key"].startswith("route53:private-zone/") and d["recovered_id"]]
    assert all(any(f"#ListRecordSets/{z['recovered_id']}" in link for link in links) for z in zones)
    certificates = [d for d in report["details"] if d["key"].startswith("acm:")]
    assert len(certificates) == 1 and any(f"/acm/home?region={RECOVERY}#/certificates/" in link for link in links)
    apis = [d for d in report["details"] if d["key"].startswith(("apigateway:http-api/", "apigateway:rest-api/"))]
    assert len(apis) == 2  # the HTTP API in front of the function, and the REST API
    assert all(any(f"api={d['recovered_id']}" in link for link in links) for d in apis)
    domains = [d for d in report["details"] if d["key"].startswith("apigateway:domain-name/")]
    assert len(domains) == 1 and any("/apigateway/main/publish/domain-names" in link for link in links), links
    # VPC, load balancer, database, bucket, file system, and each queue, secret, parameter, topic, bus, rule, table,
    # private hosted zone, certificate, API, API domain name
    assert len(links) == (len(servers) + 5 + len(app) + len(messaging) + len(zones) + len(certificates) + len(apis)
                          + len(domains))

    everything = " ".join(f"{a.data} {a.description}" for a in artifacts)
    assert SECRET not in everything and "sandbox-secret" not in everything
