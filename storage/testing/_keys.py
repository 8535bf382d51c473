"""The vault's key store on a throwaway cluster, as docs/DEPLOYMENT.md lays it out (tests and benches)."""

from __future__ import annotations

from storage.testing._pg import PostgresCluster


def keys_database(cluster: PostgresCluster, name: str) -> str:
    """Create the key store's database and role ``name`` on ``cluster``, the role granted what the key store's
    scrub needs (``pg_checkpoint``, EXECUTE on ``pg_switch_wal``: pg_catalog is per database, so that grant is
    made in the key store's own); its URL."""
    import psycopg
    from psycopg import sql

    url = cluster.create_database(name)
    with psycopg.connect(cluster.superuser_url.rsplit("/", 1)[0] + "/" + name, autocommit=True) as conn:
        conn.execute(sql.SQL("GRANT pg_checkpoint TO {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("GRANT EXECUTE ON FUNCTION pg_switch_wal() TO {}").format(sql.Identifier(name)))
    return url
