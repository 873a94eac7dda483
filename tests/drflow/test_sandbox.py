"""The sandbox as a user meets it: `drflow sandbox up` in its own process, reached by endpoint settings."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import boto3
from botocore.config import Config

from drflow.sandbox.faults import Faults


def test_sandbox_up_serves_the_sample_workload_and_prints_its_environment():
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    proc = subprocess.Popen([sys.executable, "-m", "drflow.cli", "sandbox", "up", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        exports = {}
        deadline = time.monotonic() + 60
        while "AWS_DEFAULT_REGION" not in exports and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line.startswith("export "):
                key, _, value = line[len("export "):].strip().partition("=")
                exports[key] = value
        assert exports["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
        assert exports["AWS_ENDPOINT_URL_DRS"] == exports["AWS_ENDPOINT_URL"]
        session = boto3.Session(aws_access_key_id=exports["AWS_ACCESS_KEY_ID"],
                                aws_secret_access_key=exports["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1")
        ec2 = session.client("ec2", endpoint_url=exports["AWS_ENDPOINT_URL"])
        sts = session.client("sts", endpoint_url=exports["AWS_ENDPOINT_URL"])
        assert sts.get_caller_identity()["Account"] == "111111111111"
        vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:app", "Values": ["shop"]}])["Vpcs"]
        assert len(vpcs) == 1 and vpcs[0]["CidrBlock"] == "10.0.0.0/16"
        drs = session.client("drs", endpoint_url=exports["AWS_ENDPOINT_URL_DRS"], region_name="us-west-2")
        servers = drs.describe_source_servers()["items"]
        assert len(servers) == 6  # the sample's servers, replicating into us-west-2
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


def test_injected_throttling_is_retried_by_botocore_and_counted(sandbox):
    sandbox.faults = Faults(throttle=0.25, seed=4)
    from core.aws import CallStats, Side

    stats = CallStats()
    side = Side(boto3.Session(), "us-east-1", stats)
    for _ in range(12):
        side.client("ec2").describe_vpcs()
    summary = stats.summary()
    assert summary["read"] == 12 and summary["retried"] > 0
    assert summary["retried"] == len([c for c in sandbox.calls if c.fault == "throttle"])


def test_error_shapes_are_parsed_as_aws_errors(sandbox):
    sandbox.faults = Faults(throttle=1.0)
    no_retry = Config(retries={"mode": "standard", "max_attempts": 1})
    for service, call, code in (("ec2", "describe_vpcs", "RequestLimitExceeded"),
                                ("s3", "list_buckets", "SlowDown"),
                                ("sts", "get_caller_identity", "Throttling")):
        client = boto3.client(service, region_name="us-east-1", config=no_retry)
        try:
            getattr(client, call)()
        except client.exceptions.ClientError as exc:
            assert exc.response["Error"]["Code"] == code
        else:  # pragma: no cover
            raise AssertionError(f"{service} was not throttled")


def test_server_errors_are_parsed_and_classified_transient(sandbox):
    from core.aws import is_transient

    sandbox.faults = Faults(error5xx=1.0)
    client = boto3.client("ec2", region_name="us-east-1", config=Config(retries={"mode": "standard", "max_attempts": 1}))
    try:
        client.describe_vpcs()
    except client.exceptions.ClientError as exc:
        assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        assert is_transient(exc)
    else:  # pragma: no cover
        raise AssertionError("no server error")
