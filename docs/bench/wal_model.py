#!/usr/bin/env python3
"""Bytes SQLite writes per exchange-log append, modelled outside hfx (BENCHMARKS.md, issue 14).

The same tables and indexes as the store's schema v9 (log_entries keyed by idx with its
message-id index, log_payloads keyed by idx, log_tiles, and log_seqs, the writer's sequence
counters, which replaced v8's unique index on (peer, dir, seq)), rows the size hfx writes
since entries are stored once (empty `entry`, 256-byte payloads, ten peers, both
directions), WAL, synchronous=FULL, the store's cache and checkpoint PRAGMAs. Rows go in
with one statement each (executemany), so SQLite keeps no statement journal, as with the
writer's `INSERT OR FAIL`. `--v8` models the v8 index instead of the counters. Appends go in group commits of BATCH rows; prints the bytes
passed to write(2) per append (WAL frames and checkpoints, /proc/self/io wchar) and the pages
each table holds.

    python3 docs/bench/wal_model.py [--v8] [APPENDS] [BATCH ...]
"""
import os
import random
import sqlite3
import sys
import tempfile
import time

SCHEMA = """
CREATE TABLE log_entries (idx INTEGER PRIMARY KEY, at_ms BIGINT NOT NULL, dir TEXT NOT NULL,
  peer TEXT NOT NULL, seq BIGINT NOT NULL, message_id TEXT NOT NULL, case_id TEXT NOT NULL,
  msg_type TEXT NOT NULL, leaf_hash BLOB NOT NULL, entry BLOB NOT NULL, payload_hash BLOB NOT NULL);
CREATE INDEX log_entries_msg ON log_entries (message_id);
CREATE TABLE log_payloads (idx INTEGER PRIMARY KEY, hash BLOB NOT NULL, data BLOB, purged_at_ms BIGINT);
CREATE TABLE log_tiles (level INTEGER NOT NULL, idx BIGINT NOT NULL, hashes BLOB NOT NULL,
  PRIMARY KEY (level, idx));
CREATE TABLE log_seqs (peer TEXT NOT NULL, dir TEXT NOT NULL, seq BIGINT NOT NULL,
  PRIMARY KEY (peer, dir)) WITHOUT ROWID;
"""
V8_INDEX = "CREATE UNIQUE INDEX log_entries_seq ON log_entries (peer, dir, seq);"
PRAGMAS = ["PRAGMA journal_mode = WAL", "PRAGMA synchronous = FULL",
           "PRAGMA cache_size = -16384", "PRAGMA wal_autocheckpoint = 8192"]


def wchar():
    with open("/proc/self/io") as f:
        for line in f:
            if line.startswith("wchar"):
                return int(line.split()[1])
    raise SystemExit("no /proc/self/io")


def run(appends, batch, folder, v8):
    path = os.path.join(folder, f"model-{batch}.db")
    db = sqlite3.connect(path, isolation_level=None)
    for p in PRAGMAS:
        db.execute(p)
    db.executescript(SCHEMA + (V8_INDEX if v8 else ""))
    peers = ["3203%011d" % i for i in range(10)]
    seqs = {(p, d): 0 for p in peers for d in ("sent", "recv")}
    start, idx = wchar(), 0
    while idx < appends:
        db.execute("BEGIN IMMEDIATE")
        entries, payloads = [], []
        for _ in range(batch):
            peer, d = random.choice(peers), random.choice(("sent", "recv"))
            seqs[(peer, d)] += 1
            # UUIDv7-like: time-ordered, as the nodes mint them.
            ms = int(time.time() * 1000)
            mid = "%012x-%04x-7%03x-%016x" % (ms, idx & 0xFFFF, random.getrandbits(12),
                                              random.getrandbits(64))
            entries.append((idx, ms, d, peer, seqs[(peer, d)], mid, "",
                            "MemberExchange/QueryMember#request", os.urandom(32), b"",
                            os.urandom(32)))
            payloads.append((idx, os.urandom(32), os.urandom(256)))
            idx += 1
        db.executemany("INSERT INTO log_entries VALUES (?,?,?,?,?,?,?,?,?,?,?)", entries)
        db.executemany("INSERT INTO log_payloads (idx, hash, data) VALUES (?,?,?)", payloads)
        if not v8:
            db.executemany("INSERT INTO log_seqs VALUES (?, ?, ?) ON CONFLICT (peer, dir) "
                           "DO UPDATE SET seq = excluded.seq",
                           [(p, d, s) for (p, d), s in seqs.items() if s])
        # Each full tile of 256 leaf hashes (8 KB) commits with the batch that completes it.
        for tile in range((idx - batch) // 256, idx // 256):
            db.execute("INSERT INTO log_tiles VALUES (0, ?, ?)", (tile, os.urandom(8192)))
        db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    written = wchar() - start
    pages = dict(db.execute("SELECT name, COUNT(*) FROM dbstat GROUP BY name").fetchall())
    size = os.path.getsize(path)
    db.close()
    per_table = ", ".join(f"{n} {round(c * 4096 / appends)}" for n, c in sorted(pages.items())
                          if not n.startswith("sqlite_"))
    print(f"batch {batch:>5}: {written / appends:6.0f} B written per append; "
          f"{size / appends:4.0f} B of file per entry ({per_table})")


def main():
    args = sys.argv[1:]
    v8 = "--v8" in args
    args = [a for a in args if a != "--v8"]
    appends = int(args[0]) if args else 100_000
    batches = [int(b) for b in args[1:]] or [16, 64, 330, 1024]
    with tempfile.TemporaryDirectory() as folder:
        for b in batches:
            run(appends, b, folder, v8)


if __name__ == "__main__":
    main()
