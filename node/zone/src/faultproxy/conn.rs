//! One proxied connection: a reader and a writer for each direction joined by a queue of
//! timed chunks, a control channel for cuts, and the count of turns.

use super::{Faults, Inner, Partition, lock};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep, sleep_until};

const CHUNK: usize = 16 * 1024;
/// Chunks a direction buffers before its reader waits (a held partition, a long delay).
const QUEUE: usize = 256;
/// How long a held-back connection collects the client's request before cutting the client.
const COLLECT: Duration = Duration::from_millis(60);
/// How long the node may answer a request delivered late (the answer is discarded) before
/// the upstream connection closes.
const LATE_LINGER: Duration = Duration::from_millis(1_000);
/// How long an answer is swallowed before the cut when `cut_hold_ms` is 0.
const DEFAULT_HOLD_MS: u64 = 150;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Ctl {
    /// The client side is gone (a held-back request); the upstream side lives on.
    client_cut: bool,
    /// Both sides are reset.
    all_cut: bool,
}

struct Conn {
    inner: Arc<Inner>,
    ctl: watch::Sender<Ctl>,
    /// The client sent something since the node last did.
    client_spoke: AtomicBool,
    /// How often the node answered after the client spoke (1: the TLS server flight).
    turns: AtomicU32,
}

impl Conn {
    fn cut_all(&self) {
        self.ctl
            .send_if_modified(|c| !std::mem::replace(&mut c.all_cut, true));
    }
    fn cut_client(&self) {
        self.ctl
            .send_if_modified(|c| !std::mem::replace(&mut c.client_cut, true));
    }
}

struct Chunk {
    due: Instant,
    delayed: bool,
    data: Vec<u8>,
}

/// Close with a reset rather than a FIN.
fn zero_linger(s: &TcpStream) {
    let _ = s.set_zero_linger();
}

fn reset(s: TcpStream) {
    zero_linger(&s);
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// When a chunk read now may be forwarded: after the delay in force, never before the chunk
/// read before it.
fn next_due(inner: &Inner, f: &Faults, last: &mut Instant) -> (Instant, bool) {
    let d = f.delay_ms + inner.between(0, f.jitter_ms);
    let due = (Instant::now() + ms(d)).max(*last);
    *last = due;
    (due, d > 0)
}

pub(super) async fn serve(inner: Arc<Inner>, client: TcpStream) {
    inner.count(|s| s.connections += 1);
    let faults = inner.faults();
    if faults.partition == Some(Partition::Refuse) {
        inner.count(|s| s.refused += 1);
        return reset(client);
    }
    if inner.chance(faults.drop_connection) {
        inner.count(|s| s.dropped += 1);
        return reset(client);
    }
    let held_back = inner.hold_back(&faults);
    let mut cuts = inner.cuts.subscribe();
    // A held partition: the connection waits, not yet connected upstream, until healed.
    if faults.partition == Some(Partition::Hold) {
        inner.count(|s| s.partition_waits += 1);
        let mut fx = inner.faults.subscribe();
        let healed = tokio::select! {
            r = fx.wait_for(|f| f.partition != Some(Partition::Hold)) => r.is_ok(),
            _ = cuts.changed() => false,
        };
        if !healed {
            return reset(client);
        }
        if inner.faults().partition == Some(Partition::Refuse) {
            inner.count(|s| s.refused += 1);
            return reset(client);
        }
    }
    let upstream = lock(&inner.upstream).clone();
    let Some(upstream) = upstream else {
        return reset(client);
    };
    let server = match TcpStream::connect(&upstream).await {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(%upstream, error = %e, "fault proxy: upstream refused");
            return reset(client);
        }
    };
    let _ = server.set_nodelay(true);
    let conn = Arc::new(Conn {
        inner,
        ctl: watch::Sender::new(Ctl::default()),
        client_spoke: AtomicBool::new(false),
        turns: AtomicU32::new(0),
    });
    // A cut of every connection (a refusing partition, `cut_all`, the proxy gone) is this one's.
    let watcher = {
        let conn = conn.clone();
        let mut ctl = conn.ctl.subscribe();
        tokio::spawn(async move {
            tokio::select! {
                r = cuts.changed() => if r.is_ok() {
                    conn.inner.count(|s| s.cut_live += 1);
                    conn.cut_all();
                },
                _ = ctl.wait_for(|c| c.all_cut) => {}
            }
        })
    };
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let (up_tx, up_rx) = mpsc::channel(QUEUE);
    let (down_tx, down_rx) = mpsc::channel(QUEUE);
    let tasks = [
        tokio::spawn(up_reader(conn.clone(), cr, up_tx, held_back)),
        tokio::spawn(writer(conn.clone(), sw, up_rx, true)),
        tokio::spawn(down_reader(conn.clone(), sr, down_tx)),
        tokio::spawn(writer(conn.clone(), cw, down_rx, false)),
    ];
    for t in tasks {
        let _ = t.await;
    }
    conn.cut_all();
    let _ = watcher.await;
}

/// Client → node.
async fn up_reader(
    conn: Arc<Conn>,
    mut cr: OwnedReadHalf,
    tx: mpsc::Sender<Chunk>,
    held_back: bool,
) {
    let mut ctl = conn.ctl.subscribe();
    let mut buf = vec![0; CHUNK];
    let mut last_due = Instant::now();
    loop {
        let read = tokio::select! {
            r = cr.read(&mut buf) => Some(r),
            _ = ctl.wait_for(|c| c.all_cut || c.client_cut) => None,
        };
        let n = match read {
            Some(Ok(n)) if n > 0 => n,
            Some(_) => return,
            None => return zero_linger(cr.as_ref()),
        };
        conn.client_spoke.store(true, Ordering::SeqCst);
        let past_handshake = conn.turns.load(Ordering::SeqCst) >= 1;
        if past_handshake && held_back {
            return hold_back(conn, cr, buf[..n].to_vec(), tx, ctl).await;
        }
        let faults = conn.inner.faults();
        if past_handshake && conn.inner.chance(faults.cut_request) {
            conn.inner.count(|s| s.request_cuts += 1);
            zero_linger(cr.as_ref());
            conn.cut_all();
            return;
        }
        let (due, delayed) = next_due(&conn.inner, &faults, &mut last_due);
        let chunk = Chunk {
            due,
            delayed,
            data: buf[..n].to_vec(),
        };
        if tx.send(chunk).await.is_err() {
            return;
        }
    }
}

/// A held-back request: collect it, cut the client, hand the request to the node late.
async fn hold_back(
    conn: Arc<Conn>,
    mut cr: OwnedReadHalf,
    first: Vec<u8>,
    tx: mpsc::Sender<Chunk>,
    mut ctl: watch::Receiver<Ctl>,
) {
    let mut stash = first;
    let mut buf = vec![0; CHUNK];
    let until = Instant::now() + COLLECT;
    loop {
        tokio::select! {
            r = cr.read(&mut buf) => match r {
                Ok(n) if n > 0 => stash.extend_from_slice(&buf[..n]),
                _ => break,
            },
            _ = sleep_until(until) => break,
            _ = ctl.wait_for(|c| c.all_cut) => return zero_linger(cr.as_ref()),
        }
    }
    conn.inner.count(|s| s.held_back += 1);
    deliver_late(&conn, cr, stash, &tx, &mut ctl).await;
    conn.cut_all();
    conn.inner.count(|s| s.late_closed += 1);
}

/// Cut the client, wait, hand the held request to the node, let it answer (nobody hears it).
async fn deliver_late(
    conn: &Conn,
    cr: OwnedReadHalf,
    stash: Vec<u8>,
    tx: &mpsc::Sender<Chunk>,
    ctl: &mut watch::Receiver<Ctl>,
) {
    // The client's call fails; it sends again over a new connection and goes on.
    zero_linger(cr.as_ref());
    conn.cut_client();
    drop(cr);
    let f = conn.inner.faults();
    let late = conn.inner.between(f.reorder_min_ms, f.reorder_max_ms);
    tokio::select! {
        _ = sleep(ms(late)) => {}
        _ = ctl.wait_for(|c| c.all_cut) => return,
    }
    let len = stash.len() as u64;
    let chunk = Chunk {
        due: Instant::now(),
        delayed: false,
        data: stash,
    };
    if tx.send(chunk).await.is_err() {
        return;
    }
    conn.inner.count(|s| {
        s.released_late += 1;
        s.late_bytes += len;
    });
    tokio::select! {
        _ = sleep(LATE_LINGER) => {}
        _ = ctl.wait_for(|c| c.all_cut) => {}
    }
}

/// Node → client: counts turns, and loses replies.
async fn down_reader(conn: Arc<Conn>, mut sr: OwnedReadHalf, tx: mpsc::Sender<Chunk>) {
    let mut ctl = conn.ctl.subscribe();
    let mut buf = vec![0; CHUNK];
    let mut last_due = Instant::now();
    let mut swallowing = false;
    loop {
        let read = tokio::select! {
            r = sr.read(&mut buf) => Some(r),
            _ = ctl.wait_for(|c| c.all_cut) => None,
        };
        let n = match read {
            Some(Ok(n)) if n > 0 => n,
            Some(_) => return,
            None => return zero_linger(sr.as_ref()),
        };
        if swallowing {
            conn.inner.count(|s| s.reply_bytes_lost += n as u64);
            continue;
        }
        if conn.ctl.borrow().client_cut {
            // A late request's answer: nobody to hear it.
            continue;
        }
        let faults = conn.inner.faults();
        if conn.client_spoke.swap(false, Ordering::SeqCst) {
            let turn = conn.turns.fetch_add(1, Ordering::SeqCst) + 1;
            if turn >= 2 && conn.inner.chance(faults.cut_reply) {
                swallowing = true;
                conn.inner.count(|s| {
                    s.reply_cuts += 1;
                    s.reply_bytes_lost += n as u64;
                });
                let hold = match faults.cut_hold_ms {
                    0 => DEFAULT_HOLD_MS,
                    h => h,
                };
                let c = conn.clone();
                tokio::spawn(async move {
                    sleep(ms(hold)).await;
                    c.cut_all();
                });
                continue;
            }
        }
        let (due, delayed) = next_due(&conn.inner, &faults, &mut last_due);
        let chunk = Chunk {
            due,
            delayed,
            data: buf[..n].to_vec(),
        };
        // A closed queue (the client is gone): read on, so the node is never stuck writing.
        let _ = tx.send(chunk).await;
    }
}

/// Forward one direction's chunks when due, waiting through a held partition.
async fn writer(conn: Arc<Conn>, mut w: OwnedWriteHalf, mut rx: mpsc::Receiver<Chunk>, up: bool) {
    let mut ctl = conn.ctl.subscribe();
    let mut fx = conn.inner.faults.subscribe();
    let stop = move |c: &Ctl| c.all_cut || (!up && c.client_cut);
    loop {
        let next = tokio::select! {
            c = rx.recv() => Some(c),
            _ = ctl.wait_for(stop) => None,
        };
        let chunk = match next {
            Some(Some(c)) => c,
            Some(None) => {
                let _ = w.shutdown().await;
                return;
            }
            None => return zero_linger(w.as_ref()),
        };
        let mut stopped = tokio::select! {
            _ = sleep_until(chunk.due) => false,
            _ = ctl.wait_for(stop) => true,
        };
        if !stopped && fx.borrow_and_update().partition == Some(Partition::Hold) {
            conn.inner.count(|s| s.partition_waits += 1);
            stopped = tokio::select! {
                r = fx.wait_for(|f| f.partition != Some(Partition::Hold)) => r.is_err(),
                _ = ctl.wait_for(stop) => true,
            };
        }
        // A refusing partition forwards nothing more, even before its cut reaches this
        // connection.
        if stopped || fx.borrow().partition == Some(Partition::Refuse) {
            return zero_linger(w.as_ref());
        }
        let wrote = tokio::select! {
            r = w.write_all(&chunk.data) => Some(r.is_ok()),
            _ = ctl.wait_for(stop) => None,
        };
        match wrote {
            Some(true) => {
                let n = chunk.data.len() as u64;
                conn.inner.count(|s| {
                    if up {
                        s.bytes_up += n;
                    } else {
                        s.bytes_down += n;
                    }
                    if chunk.delayed {
                        s.delayed_chunks += 1;
                    }
                });
            }
            Some(false) => {
                conn.cut_all();
                return;
            }
            None => return zero_linger(w.as_ref()),
        }
    }
}
