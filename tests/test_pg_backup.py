"""The README's PostgreSQL backup and restore (pg_dump, pg_restore) give back every row, and
the restored database is one the bot opens and goes on with (ids continue after the highest)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from bot.store import Store
from bot.store.pg import PgConnection
from tests.pgserver import PgServer
from tests.test_pg_forget import OTHER, PERSON, _everything


def _tool(server: PgServer, name: str) -> str:
    assert server.bin is not None
    return str(server.bin / name) if (server.bin / name).exists() else shutil.which(name) or name


async def _tables(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted, by table."""
    pg: PgConnection = store._db  # type: ignore[assignment]
    names = [
        r[0]
        for r in await pg.fetch_raw(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            " AND table_type = 'BASE TABLE'"
        )
    ]
    return {
        t: sorted((tuple(r) for r in await pg.fetch_raw(f"SELECT * FROM {t}")), key=repr)
        for t in names
    }


async def test_pg_dump_and_pg_restore_give_back_every_row(
    pg_server: PgServer, pg_url: str, tmp_path: Path
) -> None:
    store = await Store.open_postgres(pg_url)
    store.hook_urls = ("https://crm.example/hook",)
    await _everything(store, PERSON, 10_000)
    await _everything(store, OTHER, 20_000)
    before = await _tables(store)
    last = max(r[0] for r in before["broadcasts"])
    dump = tmp_path / "aimant.dump"
    # What the README says to run, while the bot runs (a consistent snapshot).
    done = subprocess.run([_tool(pg_server, "pg_dump"), "--format=custom", f"--file={dump}",
                           pg_url], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    await store.close()
    name = pg_server.create_database()  # an empty database, then restored
    target = pg_server.url(name)
    done = subprocess.run([_tool(pg_server, "pg_restore"), "--no-owner", f"--dbname={target}",
                           str(dump)], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    restored = await Store.open_postgres(target)
    try:
        assert await _tables(restored) == before
        again = await restored.broadcasts.create(1, "after the restore", ["all"])
        assert again > last  # identities go on after the highest id
        lead = await restored.leads.get(PERSON)
        assert lead is not None and lead.email is not None
    finally:
        await restored.close()
        pg_server.drop_database(name)
