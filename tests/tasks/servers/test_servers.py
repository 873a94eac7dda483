"""Servers through the DRS double: launch templates kept right, launched in dependency order, ALB after."""

from __future__ import annotations

import boto3
import yaml
from typer.testing import CliRunner

from conftest import ACCOUNT, RECOVERY, SOURCE, ec2, make_plan, plan_data
from drflow.cli import app
from drflow.sandbox.drs import drs_backend
from drflow.sandbox.workload import PLAN_SERVERS, SERVERS
from flows.failover import failover
from flows.replicate import replicate
from flows_helper import run


def _instance(region: str, instance_id: str) -> dict:
    return ec2(region).describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]


def _launch_times(ids: dict[str, str]) -> dict[str, tuple]:
    """name -> (launch started, launched) from the DRS double's own log."""
    backend = drs_backend(ACCOUNT, RECOVERY)
    by_server = {backend.source_server_id_for(ids[name]): name for name in SERVERS}
    times: dict[str, dict[str, float]] = {}
    for when, server_id, event in backend.launch_log:
        times.setdefault(by_server.get(server_id, server_id), {})[event] = when
    return times


def test_servers_come_back_identically_in_dependency_order(servers, server_plan):
    drs_backend(ACCOUNT, RECOVERY).set_latency(0.9)  # decided by the watcher's first poll, 1 s after the start
    replicated = run(replicate, plan=server_plan)
    assert replicated["failed"] == []
    report = run(failover, plan=server_plan)
    assert report["failed"] == [], report["failed"]
    idmap = report["identity_map"]
    for name, (subnet, ip, itype, group, _) in SERVERS.items():
        source, recovered = _instance(SOURCE, servers[name]), _instance(RECOVERY, idmap[servers[name]])
        assert recovered["InstanceType"] == source["InstanceType"] == itype
        assert recovered["SubnetId"] == idmap[servers[subnet]]
        assert recovered["PrivateIpAddress"] == ip
        assert [g["GroupId"] for g in recovered["SecurityGroups"]] == [idmap[servers[group]]]
        assert recovered["State"]["Name"] == "running"
    times = _launch_times(servers)
    for name, (*_, deps) in SERVERS.items():
        for dep in deps:  # a server starts only once every server it depends on is up
            assert min(times[name].values()) >= max(times[dep].values()), (name, dep, times)
    # the app servers become ready at one moment (db-proxy up) and share a DRS job; when db-proxy and cache
    # become ready depends on their two subnets, so whether they share one is test_launch.py's to pin down
    jobs = {d["name"]: d["details"].get("job") for d in report["details"] if d["key"].startswith("ec2:instance/")}
    assert jobs["app-a"] == jobs["app-b"] != jobs["db-proxy"]
    # independent servers overlap (each launch takes 0.9 s): the two app servers, and db-proxy with cache
    for a, b in (("app-a", "app-b"), ("db-proxy", "cache")):
        assert min(times[a].values()) < max(times[b].values()) and min(times[b].values()) < max(times[a].values())


def test_launch_templates_are_synced_nightly_and_unchanged_ones_cost_nothing(servers, server_plan):
    first = run(replicate, plan=server_plan)
    rows = {d["key"]: d for d in first["details"]}
    web = rows[f"ec2:instance/{servers['web']}"]
    template_id = web["details"]["launch_template"]
    data = ec2(RECOVERY).describe_launch_template_versions(LaunchTemplateId=template_id, Versions=["$Default"])[
        "LaunchTemplateVersions"][0]["LaunchTemplateData"]
    assert data["InstanceType"] == "t3.large"
    nic = data["NetworkInterfaces"][0]
    assert nic["PrivateIpAddress"] == "10.0.10.20"
    assert nic["SubnetId"] == first["identity_map"][servers["private-a"]]
    # DRS maps volumes by the disk names the source server reports (a Nitro t3: NVMe names), not by EC2's
    assert [d["DeviceName"] for d in data["BlockDeviceMappings"]] == ["/dev/nvme0n1", "/dev/nvme1n1"]
    second = run(replicate, plan=server_plan, refresh=True)
    assert second["api_calls"]["write"] == 0


def test_the_load_balancer_comes_back_in_front_of_the_recovered_servers(servers, server_plan):
    run(replicate, plan=server_plan)
    report = run(failover, plan=server_plan)
    assert report["failed"] == []
    idmap = report["identity_map"]
    elb = boto3.client("elbv2", region_name=RECOVERY)
    alb = elb.describe_load_balancers(Names=["shop-alb"])["LoadBalancers"][0]
    assert sorted(z["SubnetId"] for z in alb["AvailabilityZones"]) == sorted(
        idmap[servers[s]] for s in ("public-a", "public-b"))
    assert alb["SecurityGroups"] == [idmap[servers["sg-web"]]]
    web_tg = elb.describe_target_groups(Names=["shop-web"])["TargetGroups"][0]
    assert web_tg["HealthCheckPath"] == "/health" and web_tg["VpcId"] == idmap[servers["vpc"]]
    listener = elb.describe_listeners(LoadBalancerArn=alb["LoadBalancerArn"])["Listeners"][0]
    assert listener["DefaultActions"][0]["TargetGroupArn"] == web_tg["TargetGroupArn"]
    rules = [r for r in elb.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"] if not r["IsDefault"]]
    api_tg = elb.describe_target_groups(Names=["shop-api"])["TargetGroups"][0]
    assert rules[0]["Actions"][0]["TargetGroupArn"] == api_tg["TargetGroupArn"]
    targets = {d["Target"]["Id"] for d in elb.describe_target_health(TargetGroupArn=api_tg["TargetGroupArn"])[
        "TargetHealthDescriptions"]}
    assert targets == {idmap[servers["app-a"]], idmap[servers["app-b"]]}
    web_targets = elb.describe_target_health(TargetGroupArn=web_tg["TargetGroupArn"])["TargetHealthDescriptions"]
    assert [d["Target"]["Id"] for d in web_targets] == [idmap[servers["web"]]]


def test_second_failover_launches_nothing_new(servers, server_plan):
    run(replicate, plan=server_plan)
    first = run(failover, plan=server_plan)
    again = run(failover, plan=server_plan, refresh=True)
    assert again["resources"]["by_outcome"]["created"] == 0
    assert again["identity_map"] == first["identity_map"]
    running = [i for r in ec2(RECOVERY).describe_instances()["Reservations"] for i in r["Instances"]
               if i["State"]["Name"] == "running"]
    assert len(running) == len(SERVERS)


def test_a_launch_that_fails_once_is_retried(servers, server_plan):
    run(replicate, plan=server_plan)
    backend = drs_backend(ACCOUNT, RECOVERY)
    backend.fail_next_launches(backend.source_server_id_for(servers["app-a"]), 1)
    report = run(failover, plan=server_plan)
    assert report["failed"] == []
    assert _instance(RECOVERY, report["identity_map"][servers["app-a"]])["State"]["Name"] == "running"


def test_a_launch_that_keeps_failing_fails_that_server_and_its_dependants_only(servers, server_plan):
    run(replicate, plan=server_plan)
    backend = drs_backend(ACCOUNT, RECOVERY)
    backend.fail_next_launches(backend.source_server_id_for(servers["app-a"]), 99)
    report = run(failover, plan=server_plan)
    outcome = {d["key"]: d for d in report["details"]}
    assert outcome[f"ec2:instance/{servers['app-a']}"]["outcome"] == "failed"
    assert "FAILED" in outcome[f"ec2:instance/{servers['app-a']}"]["error"]
    web = outcome[f"ec2:instance/{servers['web']}"]
    assert web["outcome"] == "skipped" and servers["app-a"] in web["error"]
    for name in ("db-proxy", "app-b", "cache", "worker"):
        assert outcome[f"ec2:instance/{servers[name]}"]["outcome"] == "created", name
    assert report["failed"] and any(servers["app-a"] in f for f in report["failed"])


def plan_file(tmp_path, **overrides) -> str:
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan_data(**overrides)))
    return str(path)


def test_unknown_server_dependency_is_refused_before_any_write(servers, sandbox, tmp_path):
    ec2(SOURCE).create_tags(Resources=[servers["cache"]], Tags=[{"Key": "drflow:depends-on", "Value": "ghost"}])
    sandbox.app.clear_log()
    result = CliRunner().invoke(app, ["replicate", "--plan", plan_file(tmp_path, servers=PLAN_SERVERS)])
    assert result.exit_code == 2, result.output
    assert f"tag drflow:depends-on of {servers['cache']}: unknown server 'ghost'" in result.stderr
    assert not [c for c in sandbox.calls if c.write]


def test_a_dependency_on_an_unknown_database_is_refused_before_any_write(servers, sandbox, tmp_path):
    with_db = {**PLAN_SERVERS, "app-a": {"depends_on": ["db-proxy", "rds:ghost-db"]}}
    sandbox.app.clear_log()
    result = CliRunner().invoke(app, ["replicate", "--plan", plan_file(tmp_path, servers=with_db)])
    assert result.exit_code == 2, result.output
    assert "servers.app-a.depends_on: depends on 'rds:ghost-db', which matches no discovered resource" in result.stderr
    assert not [c for c in sandbox.calls if c.write]


def test_dependency_cycle_through_tags_is_refused_before_any_write(servers, sandbox, tmp_path):
    ec2(SOURCE).create_tags(Resources=[servers["db-proxy"]], Tags=[{"Key": "drflow:depends-on", "Value": "web"}])
    sandbox.app.clear_log()
    result = CliRunner().invoke(app, ["replicate", "--plan", plan_file(tmp_path, servers=PLAN_SERVERS)])
    assert result.exit_code == 2, result.output
    assert "dependency cycle" in result.stderr and servers["db-proxy"] in result.stderr
    assert not [c for c in sandbox.calls if c.write]


def test_missing_certificate_mapping_is_refused_before_any_write(servers, sandbox, tmp_path):
    acm = boto3.client("acm", region_name=SOURCE)
    cert = acm.request_certificate(DomainName="shop.example.com")["CertificateArn"]
    boto3.client("elbv2", region_name=SOURCE).create_listener(
        LoadBalancerArn=servers["alb"], Protocol="HTTPS", Port=443, Certificates=[{"CertificateArn": cert}],
        DefaultActions=[{"Type": "forward", "TargetGroupArn": servers["tg-web"]}])
    plan = plan_file(tmp_path, servers=PLAN_SERVERS)
    assert CliRunner().invoke(app, ["replicate", "--plan", plan]).exit_code == 0
    sandbox.app.clear_log()
    result = CliRunner().invoke(app, ["failover", "--plan", plan, "--yes"])
    assert result.exit_code == 2, result.output
    assert "certificates:" in result.stderr and cert in result.stderr
    assert not [c for c in sandbox.calls if c.write]


def test_a_private_ip_in_use_is_found_before_any_write(servers, server_plan, sandbox, tmp_path):
    replicated = run(replicate, plan=server_plan)
    staged_subnet = replicated["identity_map"][servers["private-a"]]
    ec2(RECOVERY).run_instances(ImageId="ami-0someone0else001", MinCount=1, MaxCount=1, SubnetId=staged_subnet,
                                PrivateIpAddress=SERVERS["web"][1])
    sandbox.app.clear_log()
    result = CliRunner().invoke(app, ["failover", "--plan", plan_file(tmp_path, servers=PLAN_SERVERS), "--yes"])
    assert result.exit_code == 2, result.output
    assert "servers.web: private IP 10.0.10.20 is in use" in result.stderr
    assert not [c for c in sandbox.calls if c.write]


def test_servers_launch_from_the_snapshot_of_a_point_in_time(servers, server_plan):
    from datetime import datetime, timedelta, timezone

    run(replicate, plan=server_plan)
    backend = drs_backend(ACCOUNT, RECOVERY)
    drs = boto3.client("drs", region_name=RECOVERY)
    yesterday = datetime.now(timezone.utc) - timedelta(days=1)
    for name in SERVERS:
        backend.add_snapshot(backend.source_server_id_for(servers[name]), yesterday)
    moment = (yesterday + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    report = run(failover, plan=server_plan, point_in_time=moment)
    assert report["failed"] == []
    web = next(d for d in report["details"] if d["key"] == f"ec2:instance/{servers['web']}")
    snapshots = drs.describe_recovery_snapshots(sourceServerID=web["details"]["source_server"])["items"]
    chosen = next(s for s in snapshots if s["snapshotID"] == web["details"]["snapshot"])
    assert abs(datetime.fromisoformat(chosen["timestamp"].replace("Z", "+00:00")) - yesterday) < timedelta(seconds=1)


def test_a_server_without_the_agent_comes_back_from_its_nightly_image(shop, sandbox):
    src = ec2(SOURCE)
    legacy = src.run_instances(ImageId="ami-0legacy0000000001", MinCount=1, MaxCount=1, InstanceType="t3.micro",
                               SubnetId=shop["private-b"], PrivateIpAddress="10.0.11.99", SecurityGroupIds=[shop["sg-app"]],
                               TagSpecifications=[{"ResourceType": "instance", "Tags": [
                                   {"Key": "Name", "Value": "legacy"}, {"Key": "app", "Value": "shop"}]}],
                               )["Instances"][0]["InstanceId"]
    plan = make_plan(vault={"keep": 1})
    first = run(replicate, plan=plan)
    second = run(replicate, plan=plan)
    assert first["failed"] == [] and second["failed"] == []
    rec = ec2(RECOVERY)
    copies = rec.describe_images(Owners=["self"], Filters=[{"Name": "tag:drflow:source-id", "Values": [legacy]}])["Images"]
    assert len(copies) == 1  # a new image each night, older copies pruned to the plan's keep
    report = run(failover, plan=plan)
    assert report["failed"] == []
    recovered = _instance(RECOVERY, report["identity_map"][legacy])
    assert recovered["ImageId"] == copies[0]["ImageId"]
    assert recovered["InstanceType"] == "t3.micro" and recovered["PrivateIpAddress"] == "10.0.11.99"
    assert recovered["SubnetId"] == report["identity_map"][shop["private-b"]]
    assert [g["GroupId"] for g in recovered["SecurityGroups"]] == [report["identity_map"][shop["sg-app"]]]


def test_drs_job_concurrency_is_held_by_the_prefect_limit(servers, server_plan):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, GlobalConcurrencyLimitUpdate
    from prefect.exceptions import ObjectNotFound

    backend = drs_backend(ACCOUNT, RECOVERY)
    backend.limits["concurrent_jobs"] = 1  # DRS itself would refuse a second running job
    slow = {backend.source_server_id_for(servers["db-proxy"]): 1.5}
    backend.set_latency(lambda server_id: slow.get(server_id, 0.1))  # cache's dependant is ready while db-proxy runs
    name = f"drflow-drs-jobs-{ACCOUNT}-{RECOVERY}"
    with get_client(sync_client=True) as client:
        try:
            # active_slots=0: a process killed mid-launch elsewhere in the session (test_resume) leaves its slot
            # held until the lease expires (300 s); this test needs the limit to itself
            client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(limit=1, active_slots=0))
        except ObjectNotFound:
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
    try:
        run(replicate, plan=server_plan)
        report = run(failover, plan=server_plan)
    finally:
        with get_client(sync_client=True) as client:
            client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(limit=20))
    assert report["failed"] == [], report["failed"]
    jobs = boto3.client("drs", region_name=RECOVERY).describe_jobs()["items"]
    spans = sorted((j["creationDateTime"], j.get("endDateTime") or "") for j in jobs if j["type"] == "LAUNCH")
    assert len(spans) >= 2
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert start >= end  # never two launch jobs at once
