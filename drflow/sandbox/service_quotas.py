"""moto's Service Quotas knows only the VPC quotas; the sandbox adds the EC2 ones drflow's pre-flight reads.

Test double, not production code: GetServiceQuota answers for EC2's Elastic IPs and standard on-demand
vCPUs (AWS's defaults for an established account), and tests lower any quota of an account and region with
`Sandbox.set_quota` (kept on moto's backend, so moto's reset forgets it).
"""

from __future__ import annotations

from typing import Any

from moto.servicequotas.models import ServiceQuotasBackend, servicequotas_backends

EXTRA_QUOTAS = {
    ("ec2", "L-1216C47A"): ("Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances", 1152.0),
    ("ec2", "L-0263D0A3"): ("EC2-VPC Elastic IPs", 5.0),
}
_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    original = ServiceQuotasBackend.get_service_quota

    def get_service_quota(self: ServiceQuotasBackend, service_code: str, quota_code: str) -> dict[str, Any]:
        key = (service_code, quota_code)
        overrides = getattr(self, "drflow_quotas", {})
        if key not in EXTRA_QUOTAS and key not in overrides:
            return original(self, service_code, quota_code)
        quota = dict(original(self, service_code, quota_code)) if service_code == "vpc" else {
            "ServiceCode": service_code, "QuotaCode": quota_code, "QuotaName": EXTRA_QUOTAS[key][0],
            "Value": EXTRA_QUOTAS[key][1], "Unit": "None", "Adjustable": True, "GlobalQuota": False,
            "QuotaArn": f"arn:aws:servicequotas:{self.region_name}:{self.account_id}:{service_code}/{quota_code}"}
        quota["Value"] = float(overrides.get(key, quota["Value"]))
        return quota

    ServiceQuotasBackend.get_service_quota = get_service_quota
    _installed = True


def set_quota(account_id: str, region: str, service_code: str, quota_code: str, value: float) -> None:
    backend = servicequotas_backends[account_id][region]
    if not hasattr(backend, "drflow_quotas"):
        backend.drflow_quotas = {}
    backend.drflow_quotas[(service_code, quota_code)] = value
