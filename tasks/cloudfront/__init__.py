"""CloudFront: distributions whose origins are primary resources, switched to the recovered ones in the traffic phase
(distributions.py), over pure edits of their configuration (origins.py)."""

from tasks.cloudfront.distributions import DISTRIBUTION, DistributionHandler

__all__ = ["DISTRIBUTION", "DistributionHandler"]
