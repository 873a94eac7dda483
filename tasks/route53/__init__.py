"""Route 53: private hosted zones recovered with the network (private.py), and the public records the traffic phase
sends users back with (traffic.py). Shared: zones.py (finding, making, removing drflow's zones; why Route 53's
control plane in us-east-1 matters), records.py (what a record points at, and its translation)."""

from tasks.route53.private import PrivateZoneHandler
from tasks.route53.traffic import FailoverRecordHandler, RecordHandler

__all__ = ["FailoverRecordHandler", "PrivateZoneHandler", "RecordHandler"]
