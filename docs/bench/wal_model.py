#!/usr/bin/env python3
"""Bytes SQLite writes per exchange-log append, modelled outside hfx (BENCHMARKS.md, issue 14).

The same tables and indexes as the store's schema v8 (log_entries keyed by idx with its two
indexes, log_payloads keyed by idx, log_tiles), rows the size hfx writes since entries are
stored once (empty `entry`, 256-byte payloads, ten peers), WAL, synchronous=FULL, the store's
cache and checkpoint PRAGMAs. Appends go in group commits of BATCH rows; prints the bytes
passed to write(2) per append (WAL frames and checkpoints, /proc/self/io wchar) and the pages
each table holds.

    python3 docs/bench/wal_model.py [APPENDS] [BATCH ...]
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
CREATE UNIQUE INDEX log_entries_seq ON log_entries (peer, dir, seq);
CREATE INDEX log_entries_msg ON log_entries (message_id);
CREATE TABLE log_payloads (idx INTEGER PRIMARY KEY, hash BLOB NOT NULL, data BLOB, purged_at_ms BIGINT);
CREATE TABLE log_tiles (level INTEGER NOT NULL, idx BIGINT NOT NULL, hashes BLOB NOT NULL,
  PRIMARY KEY (level, idx));
"""
PRAGMAS = ["PRAGMA journal_mode = WAL", "PRAGMA synchronous = FULL",
           "PRAGMA cache_size = -16384", "PRAGMA wal_autocheckpoint = 8192"]


def wchar():
    with open("/proc/self/io") as f:
        for line in f:
            if line.startswith("wchar"):
                return int(line.split()[1])
    raise SystemExit("no /proc/self/io")


def run(appends, batch, folder):
    path = os.path.join(folder, f"model-{batch}.db")
    db = sqlite3.connect(path, isolation_level=None)
    for p in PRAGMAS:
        db.execute(p)
    db.executescript(SCHEMA)
    peers = ["3203%011d" % i for i in range(10)]
    seqs = {p: 0 for p in peers}
    start, idx = wchar(), 0
    while idx < appends:
        db.execute("BEGIN IMMEDIATE")
        entries, payloads = [], []
        for _ in range(batch):
            peer = random.choice(peers)
            seqs[peer] += 1
            # UUIDv7-like: time-ordered, as the nodes mint them.
            ms = int(time.time() * 1000)
            mid = "%012x-%04x-7%03x-%016x" % (ms, idx & 0xFFFF, random.getrandbits(12),
                                              random.getrandbits(64))
            entries.append((idx, ms, "sent", peer, seqs[peer], mid, "",
                            "MemberExchange/QueryMember#request", os.urandom(32), b"",
                            os.urandom(32)))
            payloads.append((idx, os.urandom(32), os.urandom(256)))
            idx += 1
        db.executemany("INSERT INTO log_entries VALUES (?,?,?,?,?,?,?,?,?,?,?)", entries)
        db.executemany("INSERT INTO log_payloads (idx, hash, data) VALUES (?,?,?)", payloads)
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
    appends = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    batches = [int(b) for b in sys.argv[2:]] or [16, 64, 330, 1024]
    with tempfile.TemporaryDirectory() as folder:
        for b in batches:
            run(appends, b, folder)


if __name__ == "__main__":
    main()
