"""RDS and Aurora: databases and clusters from snapshot copies, and the groups they need."""

from .databases import DbClusterHandler, DbInstanceHandler
from .groups import ClusterParameterGroupHandler, OptionGroupHandler, ParameterGroupHandler, SubnetGroupHandler

__all__ = ["DbClusterHandler", "DbInstanceHandler", "ClusterParameterGroupHandler", "OptionGroupHandler", "ParameterGroupHandler", "SubnetGroupHandler"]
