"""The sandbox: a moto server on loopback, wrapped with fault injection, a request log and accounts.

It is reached by boto3 only through endpoint settings (`AWS_ENDPOINT_URL`), exactly as real AWS
would be; drflow's production code does not know it exists.

Accounts: the sandbox hands out one access key per account id (`AKIA<account>SBOX`); calls signed
with it act in that account, so plans with any account id can be exercised.
"""

from __future__ import annotations

import io
import os
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import parse_qs

os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")  # cuts a region's setup from ~0.6 s to ~0.03 s

import requests  # noqa: E402
from moto.moto_server.werkzeug_app import (DomainDispatcherApplication, MotoRequestHandler,  # noqa: E402
                                           create_backend_app)
from moto.iam.models import get_account_id_from  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from core.aws import is_read  # noqa: E402
from drflow.sandbox import downloads  # noqa: E402
from drflow.sandbox.drs import drs_backend  # noqa: E402  (importing it registers the DRS double with moto)
from drflow.sandbox.moto_acm import install as install_moto_acm  # noqa: E402
from drflow.sandbox.moto_apigatewayv2 import install as install_moto_apigatewayv2  # noqa: E402
from drflow.sandbox.moto_cloudfront import install as install_moto_cloudfront  # noqa: E402
from drflow.sandbox.moto_ecr import install as install_moto_ecr  # noqa: E402
from drflow.sandbox.efs_replication import CLOCK as EFS_CLOCK, register as register_efs_replication  # noqa: E402,E501
from drflow.sandbox.efs_replication import set_reachable  # noqa: E402
from drflow.sandbox.moto_ec2 import install as install_moto_ec2, set_clock as set_ec2_clock  # noqa: E402
from drflow.sandbox.moto_dynamodb import install as install_moto_dynamodb  # noqa: E402
from drflow.sandbox.moto_ecs import install as install_moto_ecs  # noqa: E402
from drflow.sandbox.launch_templates import install as install_launch_templates  # noqa: E402
from drflow.sandbox.moto_kms import install as install_moto_kms  # noqa: E402
from drflow.sandbox.moto_events import install as install_moto_events  # noqa: E402
from drflow.sandbox.moto_sns import install as install_moto_sns  # noqa: E402
from drflow.sandbox.moto_sqs import install as install_moto_sqs  # noqa: E402
from drflow.sandbox.moto_rds import install as install_moto_rds  # noqa: E402
from drflow.sandbox.moto_route53 import install as install_moto_route53  # noqa: E402
from drflow.sandbox.moto_route53 import operation_name as route53_operation  # noqa: E402
from drflow.sandbox.faults import Faults, error_response  # noqa: E402
from drflow.sandbox.lambda_code import install as install_lambda_code  # noqa: E402
from drflow.sandbox.s3_replication import install as install_s3_replication  # noqa: E402
from drflow.sandbox.service_quotas import install as install_service_quotas, set_quota  # noqa: E402
from drflow.sandbox.sts import install as install_sts  # noqa: E402
from drflow.sandbox.target_health import install as install_target_health  # noqa: E402


SCOPE_RE = re.compile(r"Credential=(?P<key>[A-Z0-9]{16,128})/\d{8}/(?P<region>[a-z0-9-]+)/(?P<service>[a-z0-9-]+)/")
SANDBOX_KEY_RE = re.compile(r"^AKIA(?P<account>\d{12})SBOX$")
SECRET = "sandbox-secret-not-a-real-key"
DEFAULT_ACCOUNT = "111111111111"


def access_key_for(account_id: str) -> str:
    return f"AKIA{account_id}SBOX"


@dataclass
class Call:
    service: str
    region: str
    account: str
    operation: str
    write: bool
    fault: str | None
    status: int | None = None  # the HTTP status answered; None while the call is in flight

    @property
    def succeeded(self) -> bool:
        return self.status is not None and self.status < 300


FAULTS_PATH = "/drflow-sandbox/faults"


class SandboxApp:
    """WSGI middleware in front of moto: account routing, request log, faults."""

    def __init__(self, inner: Callable, faults: Faults | None = None):
        self.inner = inner
        self.faults = faults or Faults()
        self.calls: list[Call] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Any:
        if environ.get("PATH_INFO") == FAULTS_PATH:
            return self._faults_control(environ, start_response)
        if downloads.handles(environ):  # a presigned download URL (Lambda code, ECR layers): unsigned, like S3's
            return downloads.serve(environ, start_response)
        match = SCOPE_RE.search(environ.get("HTTP_AUTHORIZATION", ""))
        if not match:  # moto's own control API (/moto-api/reset), unsigned
            return self.inner(environ, start_response)
        key, region, service = match["key"], match["region"], match["service"]
        sandbox_key = SANDBOX_KEY_RE.match(key)
        if sandbox_key and "HTTP_X_MOTO_ACCOUNT_ID" not in environ:
            environ["HTTP_X_MOTO_ACCOUNT_ID"] = sandbox_key["account"]
        operation, json_protocol, named = _operation(environ)
        if not named and service == "route53":  # REST-XML: named from botocore's model, as the others are
            found = route53_operation(environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/"))
            operation, named = (found, True) if found else (operation, named)
        write = not is_read(operation) if named else environ["REQUEST_METHOD"] not in ("GET", "HEAD")
        if service == "sts":  # AssumeRole changes nothing in any account: a pre-flight may call it
            write = False
        revoked = sandbox_key is not None and sandbox_key["account"] in self.faults.revoked
        fault = "revoked" if revoked else self.faults.pick(region)
        if fault is None and self.faults.interrupts(write):
            fault = "interrupted"
        account = environ.get("HTTP_X_MOTO_ACCOUNT_ID") or get_account_id_from(key)  # a role session's account
        call = Call(service, region, account, operation, write, fault)
        with self._lock:
            self.calls.append(call)
        if self.faults.latency:
            time.sleep(self.faults.latency)
        if fault == "outage":
            time.sleep(self.faults.outage_delay)
        if fault:
            status, headers, body = error_response(fault, service, json_protocol)
            call.status = status
            start_response(f"{status} Fault", headers + [("Content-Length", str(len(body)))])
            return [body]

        def answered(status: str, headers: Any, exc_info: Any = None) -> Any:
            call.status = int(status.split(" ", 1)[0])
            return start_response(status, headers, exc_info)

        return self.inner(environ, answered)

    def _faults_control(self, environ: dict[str, Any], start_response: Callable) -> Any:
        """`GET` the faults in force, `PUT` a new spec (Faults.parse: `dark=us-east-1`, empty for none): how a
        second shell changes the faults of a running `drflow sandbox up` (`drflow sandbox faults`). Unsigned, as
        moto's own /moto-api/ is: the sandbox listens on loopback only."""
        if environ["REQUEST_METHOD"] == "PUT":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            spec = environ["wsgi.input"].read(length).decode() if length else ""
            try:
                self.faults = Faults.parse(spec)
            except ValueError as exc:
                body = str(exc).encode()
                start_response("400 Bad Request", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
                return [body]
        body = self.faults.describe().encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]

    def clear_log(self) -> None:
        with self._lock:
            self.calls.clear()


def _operation(environ: dict[str, Any]) -> tuple[str, bool, bool]:
    """(operation, speaks JSON, operation is a real API name rather than `METHOD /path`).

    Reads a form body to find its Action, then re-arms the body stream for moto."""
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return target.rsplit(".", 1)[-1], True, True
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if "Action" in query:
        return query["Action"][0], False, True
    if "form-urlencoded" in environ.get("CONTENT_TYPE", ""):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        action = parse_qs(body.decode(errors="replace")).get("Action")
        if action:
            return action[0], False, True
    path = environ.get("PATH_INFO", "/").strip("/").split("/")[0]
    if path[:1].isupper():  # REST-JSON APIs such as DRS name the operation in the path
        return path, "json" in environ.get("CONTENT_TYPE", ""), True
    return f"{environ['REQUEST_METHOD']} /{path}", False, False


class _Dispatcher(DomainDispatcherApplication):
    """moto's host dispatcher, remembering each host's backend.

    moto's `get_backend_for_host` lists its own package folder (`backends.list_of_moto_modules`, an
    os.listdir plus an isdir per entry) on every request, while holding the dispatcher's one lock:
    profiled, that was the largest single cost of a flow test. The answer depends only on the host,
    so it is computed once per host (always under moto's lock, so the dict needs no lock of its own)."""

    def __init__(self, create_app: Callable) -> None:
        super().__init__(create_app)
        self._backend_by_host: dict[str | None, Any] = {}

    def get_backend_for_host(self, host: str | None) -> Any:
        if host not in self._backend_by_host:
            self._backend_by_host[host] = super().get_backend_for_host(host)
        return self._backend_by_host[host]


class _QuietHandler(MotoRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:  # one line per AWS call drowns the output
        pass


class Sandbox:
    """A moto server on 127.0.0.1 (ephemeral port unless given), with faults and a request log."""

    def __init__(self, port: int = 0, faults: Faults | None = None, account_id: str = DEFAULT_ACCOUNT):
        install_s3_replication()  # moto's GetBucketReplication answers with what was stored (see that module)
        install_moto_kms()  # moto's KMS makes AWS managed keys look AWS managed (see that module)
        install_moto_sqs()  # moto's SQS answers queue URLs as AWS does, with the region in them (see that module)
        install_moto_events()  # moto's EventBridge ignores an update's tags, keeps a bus with rules (see that module)
        install_moto_sns()  # moto's SNS leaves email and HTTP subscriptions pending, as AWS does (see that module)
        install_moto_rds()  # moto's RDS answers like AWS where drflow needs it (see that module)
        install_moto_route53()  # moto's Route 53 changes start PENDING; a CallerReference is used once (see that module)
        install_moto_ec2()  # moto's EC2 copies AMIs shared with the caller, as AWS does (see that module)
        install_moto_dynamodb()  # moto's DynamoDB makes replicas, exports and imports as AWS does (see that module)
        install_moto_ecs()  # moto's ECS services run their tasks and need an attached target group (see that module)
        install_launch_templates()  # moto's EC2 deletes and pages launch template versions (see that module)
        install_sts()  # moto's AssumeRole checks the role and its trust policy, like AWS (see that module)
        register_efs_replication()  # moto's EFS gains replication (see that module)
        install_service_quotas()  # moto's Service Quotas answers for EC2's quotas too (see that module)
        install_moto_ecr()  # moto's ECR keeps layer bytes, hands out layer download URLs, takes 10 replication rules
        install_lambda_code()  # moto's Lambda hands out code download URLs that answer (see that module)
        install_target_health()  # moto's ELB targets are healthy at once; AWS's are initial first (see that module)
        install_moto_acm()  # moto's ACM issues a certificate once its validation record is in DNS (see that module)
        install_moto_apigatewayv2()  # moto's HTTP APIs gain deployments, domains answer as AWS does (see that module)
        install_moto_cloudfront()  # moto's CloudFront checks IfMatch, deploys updates, keeps S3 origin access
        self.app = SandboxApp(_Dispatcher(create_backend_app), faults)
        # a dark region (or one in an outage) is so to EFS replication too: the other side cannot sync with it nor
        # delete its side
        set_reachable(lambda account_id, region: region not in self.app.faults.dark | self.app.faults.outage)
        self._server = make_server("127.0.0.1", port, self.app, threaded=True, request_handler=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="sandbox", daemon=True)
        self.account_id = account_id

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "Sandbox":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def faults(self) -> Faults:
        return self.app.faults

    @faults.setter
    def faults(self, value: Faults) -> None:
        self.app.faults = value

    @property
    def calls(self) -> list[Call]:
        return list(self.app.calls)

    def drs(self, account_id: str | None = None, region: str = "us-west-2") -> Any:
        """The DRS double's backend of one account and region, to steer it (clock, latency, faults).

        Fetch it again after `reset()`: moto's reset gives every account and region a fresh backend."""
        return drs_backend(account_id or self.account_id, region)

    def set_quota(self, service_code: str, quota_code: str, value: float, account_id: str | None = None,
                  region: str = "us-west-2") -> None:
        """Lower (or raise) a Service Quotas value of an account and region, as GetServiceQuota reports it."""
        set_quota(account_id or self.account_id, region, service_code, quota_code, value)

    def set_ec2_clock(self, clock: Any) -> None:
        """The clock EC2's terminated instances age by before they are forgotten (drflow/sandbox/moto_ec2.py): a
        test's FakeClock, moved by hand instead of waiting an hour; `reset()` puts the real one back."""
        set_ec2_clock(clock)

    def revoke(self, account_id: str) -> None:
        """Refuse every call signed with that account's sandbox access key, as AWS refuses a revoked key."""
        self.app.faults.revoked.add(account_id)

    def restore(self, account_id: str) -> None:
        """Accept that account's sandbox access key again (`reset()` restores every account too)."""
        self.app.faults.revoked.discard(account_id)

    def reset(self) -> None:
        """Forget every resource in every account and region (moto's reset), the log and the faults."""
        requests.post(f"{self.url}/moto-api/reset", timeout=30).raise_for_status()
        self.app.faults = Faults()
        self.app.clear_log()
        set_ec2_clock(None)
        EFS_CLOCK.offset = 0.0  # EFS replication's first syncs are timed by the double's clock

    def env(self, account_id: str | None = None, region: str = "us-east-1") -> dict[str, str]:
        """The environment that points boto3 (and so drflow) at this sandbox, as `account_id`."""
        return {"AWS_ENDPOINT_URL": self.url, "AWS_ENDPOINT_URL_DRS": self.url,  # the DRS double, same server
                "AWS_ACCESS_KEY_ID": access_key_for(account_id or self.account_id),
                "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_DEFAULT_REGION": region}
