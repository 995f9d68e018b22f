"""Loads 24 hours of synthetic window counts with 10,000 distinct pages into a ClickHouse
database (through the HTTP interface) and into an embedded-store SQLite file, for api.sh."""

import argparse
import random
import sqlite3
import time
import urllib.request

PAGES = 10_000
PAGES_PER_MINUTE = 2_000
MINUTES = 24 * 60
CLICKHOUSE = "http://127.0.0.1:8123/"


def clickhouse(sql: str) -> str:
    request = urllib.request.Request(CLICKHOUSE, data=sql.encode(), method="POST")
    with urllib.request.urlopen(request, timeout=600) as response:
        return response.read().decode()


def load_clickhouse(database: str, first_minute: int) -> None:
    # Page ranks follow a Zipf-like law: page k is chosen with weight 1/k.
    clickhouse(
        f"""INSERT INTO {database}.page_counts (kind, window_start, window_seconds, page, event_type, count,
                topic, source_partition, committed_at)
            SELECT 'count', toDateTime({first_minute} + intDiv(number, {PAGES_PER_MINUTE * 2}) * 60),
                   60,
                   concat('/produto/item-', toString(toUInt32(exp(log({PAGES}) * (rand(1) / 4294967295.0))))),
                   if(number % 2 = 0, 'page_view', 'click'),
                   1 + rand(2) % 50, 'bench', -1, now()
            FROM numbers({MINUTES * PAGES_PER_MINUTE * 2})"""
    )
    clickhouse(
        f"""INSERT INTO {database}.page_counts (kind, window_start, window_seconds, page, event_type, count,
                topic, source_partition, checkpoint_sequence, next_offset, watermark_ms, committed_at)
            VALUES ('checkpoint', 0, 60, '', '', 1, 'bench', 0, 1, 0, {(first_minute + (MINUTES - 1) * 60) * 1000}, now())"""
    )
    rows = clickhouse(f"SELECT count(), uniqExact(page) FROM {database}.page_counts WHERE kind = 'count'")
    print(f"  ClickHouse {database}: rows, distinct pages = {rows.split()}")


def load_sqlite(path: str, first_minute: int) -> None:
    connection = sqlite3.connect(path)
    connection.executescript(
        """
        CREATE TABLE IF NOT EXISTS counts (
            window_start_ms INTEGER NOT NULL, page TEXT NOT NULL, event_type TEXT NOT NULL, count INTEGER NOT NULL,
            PRIMARY KEY (window_start_ms, page, event_type)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS rejections (
            window_start_ms INTEGER NOT NULL, reason TEXT NOT NULL, count INTEGER NOT NULL,
            PRIMARY KEY (window_start_ms, reason)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS checkpoints (
            topic TEXT NOT NULL, partition INTEGER NOT NULL, sequence INTEGER NOT NULL, next_offset INTEGER NOT NULL,
            replay_from INTEGER NOT NULL, watermark_ms INTEGER NOT NULL, max_event_ms INTEGER NOT NULL,
            recent_event_ms TEXT NOT NULL, PRIMARY KEY (topic, partition)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
        PRAGMA user_version = 1;
        """
    )
    connection.execute("INSERT OR REPLACE INTO settings VALUES ('window_ms', '60000')")
    rng = random.Random(7)
    for minute in range(MINUTES):
        window_ms = (first_minute + minute * 60) * 1000
        pages = {int(PAGES ** rng.random()) for _ in range(PAGES_PER_MINUTE)}
        rows = [(window_ms, f"/produto/item-{page}", kind, rng.randint(1, 50)) for page in pages for kind in ("page_view", "click")]
        connection.executemany("INSERT OR REPLACE INTO counts VALUES (?, ?, ?, ?)", rows)
    connection.commit()
    (rows, pages) = connection.execute("SELECT COUNT(*), COUNT(DISTINCT page) FROM counts").fetchone()
    print(f"  SQLite {path}: rows {rows}, distinct pages {pages}")
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clickhouse", required=True, help="database to fill; must be migrated")
    parser.add_argument("--sqlite", required=True, help="SQLite file to create for the embedded store")
    args = parser.parse_args()
    now_minute = int(time.time()) // 60 * 60
    first_minute = now_minute - (MINUTES - 1) * 60
    started = time.time()
    load_clickhouse(args.clickhouse, first_minute)
    load_sqlite(args.sqlite, first_minute)
    print(f"  loaded in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
