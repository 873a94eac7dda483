"""The failover report lists every DNS and front-door change the traffic phase made or leaves to a human."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from core import report as reports
from core.models import Outcome, Phase, ResourceResult

BATCH = {"Changes": [{"Action": "UPSERT", "ResourceRecordSet": {"Name": "api.shop.example.", "Type": "CNAME",
                                                                   "TTL": 60, "ResourceRecords": [{"Value": "new"}]}}]}


def _result(key: str, changes: list[dict], start: datetime, seconds: float) -> ResourceResult:
    return ResourceResult(key=key, type=key.split("/")[0], source_id=key.split("/")[1], outcome=Outcome.UPDATED,
                          details={reports.TRAFFIC_CHANGES: changes}, started=start,
                          ended=start + timedelta(seconds=seconds))


def test_changes_made_and_to_make_are_listed_with_the_batch_to_apply_by_hand():
    now = datetime.now(timezone.utc)
    results = [
        _result("route53:record/www", [{"where": "shop.example", "what": "www.shop.example. A", "from": "old-lb",
                                        "to": "new-lb", "status": "made"}], now, 2),
        _result("route53:record/api", [{"where": "shop.example", "what": "api.shop.example. CNAME", "from": "old",
                                        "to": "new", "status": "to apply by hand", "zone_id": "Z123",
                                        "change_batch": BATCH}], now, 1),
    ]
    changes = reports.traffic_changes(results)
    assert [c["key"] for c in changes] == ["route53:record/www", "route53:record/api"]
    lines = "\n".join(reports.traffic_markdown(changes))
    assert "| shop.example | `www.shop.example. A` | old-lb | new-lb | made |" in lines
    assert "--hosted-zone-id Z123" in lines and json.dumps(BATCH, indent=2, sort_keys=True) in lines
    assert lines.count("```json") == 1  # the change already made has no batch to apply


def test_the_traffic_phase_counts_in_the_rto_and_comes_last():
    start = datetime.now(timezone.utc)
    results = [_result("ec2:vpc/v", [], start, 5), _result("route53:record/www", [], start + timedelta(seconds=5), 40)]
    phase = {"ec2:vpc": Phase.NETWORK, "route53:record": Phase.TRAFFIC}
    times = reports.recovery_times(results, start, start, None, start + timedelta(seconds=45), phase.__getitem__)
    assert list(times["rto_seconds_by_phase"]) == ["preflight", "network", "traffic"]
    assert times["rto_seconds_by_phase"]["traffic"] == 40.0 and times["rto_seconds"] == 45.0
