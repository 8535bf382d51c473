"""Test support for storage (tests and benches only; no runtime module imports this: an import-linter
contract forbids it): :func:`postgres_cluster` starts a throwaway PostgreSQL server in a temporary
directory on a free port of 127.0.0.1 and removes it at the end; :func:`reap_stale_clusters` removes
the ones a killed process left behind (every start calls it). :func:`standby_of` adds a streaming standby
(synchronous by default) to a running cluster, :meth:`Standby.promote` makes it the primary and :func:`crash`
SIGKILLs a cluster's server and its children (the failover test of issue #24), recording the shared memory the
server leaves behind (:class:`CrashLeftovers`), which the cluster's stop releases."""

from storage.testing._keys import keys_database
from storage.testing._pg import (
    CrashLeftovers,
    PostgresCluster,
    PostgresError,
    PostgresNotInstalled,
    PostgresStartError,
    find_bin_dir,
    free_port,
    port_is_free,
    postgres_cluster,
    reap_stale_clusters,
)
from storage.testing._standby import REPLICATION_ROLE, Standby, StandbyError, crash, standby_of

__all__ = [
    "CrashLeftovers",
    "PostgresCluster",
    "PostgresError",
    "PostgresNotInstalled",
    "PostgresStartError",
    "REPLICATION_ROLE",
    "Standby",
    "StandbyError",
    "crash",
    "find_bin_dir",
    "free_port",
    "keys_database",
    "port_is_free",
    "postgres_cluster",
    "reap_stale_clusters",
    "standby_of",
]
