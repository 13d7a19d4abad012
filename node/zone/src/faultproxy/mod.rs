//! A fault-injecting TCP proxy for tests: put it in front of a node's peer port (the directory
//! lists the proxy's address, see `ZoneSpec::peer_endpoints`) and every connection another
//! node opens to that centre passes through it.
//!
//! The traffic is mutual-TLS gRPC over HTTP/2, so the proxy cannot read, splice or replay
//! messages: it works on connections and on the chunks of bytes it reads, and it sees only
//! the rhythm of a connection. A *turn* is the node answering after the client spoke; the
//! first turn is the TLS handshake's server flight, later ones carry gRPC answers.
//!
//! What it can do, commanded at runtime through [`FaultProxy::set_faults`] (any clone of the
//! handle commands the same proxy):
//! - pass everything through ([`Faults::default`]);
//! - delay every chunk, both ways, by `delay_ms` plus a seeded random jitter, keeping each
//!   direction's order;
//! - drop: reset a new connection at once ([`Faults::drop_connection`]), or cut a live one
//!   instead of forwarding a request chunk ([`Faults::cut_request`]): the message is lost
//!   before it arrives;
//! - lose the reply ([`Faults::cut_reply`]): at a turn past the handshake, swallow what the node
//!   sends for `cut_hold_ms` and then cut the connection. The request was delivered and acted
//!   on, its answer never returns: the sender sends the same message again, and the receiver
//!   sees a duplicate;
//! - reorder ([`Faults::reorder`]): hold a new connection's request back, cut the client as
//!   soon as the request is in (so the sender sends again over a new connection and goes on),
//!   and hand the old request to the node only `reorder_min_ms..=reorder_max_ms` later: a stale
//!   copy arrives after the messages sent after it;
//! - partition ([`Partition`]): hold every connection, live and new, without forwarding a byte
//!   until healed (what a short outage with TCP retransmits looks like), or refuse: live
//!   connections are cut and new ones reset; [`FaultProxy::heal`] ends it.
//!
//! [`Stats`] counts what the proxy did, so a test can show that its faults happened.

mod conn;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// A partition between the proxy's clients and its upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partition {
    /// Connections are accepted and held: nothing is forwarded either way until healed, then
    /// everything held flows on.
    Hold,
    /// Live connections are cut, new ones reset at once.
    Refuse,
}

/// The faults in force. The default passes everything through. Probabilities are clamped to
/// 0..=1.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Every chunk waits this long before it is forwarded, both ways, milliseconds.
    pub delay_ms: u64,
    /// Plus a random 0..=jitter_ms (seeded), each direction kept in order.
    pub jitter_ms: u64,
    /// Probability that a new connection is reset at once.
    pub drop_connection: f64,
    /// Probability, for each chunk the client sends past the handshake's first turn, that the
    /// chunk is dropped and the connection cut.
    pub cut_request: f64,
    /// Probability, at each turn past the handshake, that the node's answer is swallowed for
    /// `cut_hold_ms` and the connection then cut.
    pub cut_reply: f64,
    /// How long an answer is swallowed before the cut, milliseconds (0: 150).
    pub cut_hold_ms: u64,
    /// Probability that a new connection's request is held back and delivered late.
    pub reorder: f64,
    /// How late a held-back request reaches the node, milliseconds (random in the range).
    pub reorder_min_ms: u64,
    pub reorder_max_ms: u64,
    /// While `reorder` is set, the first this many connections of the proxy's life are held
    /// back whatever the chance, so a scenario of a few connections surely has a stale copy.
    pub reorder_first: u64,
    pub partition: Option<Partition>,
}

impl Faults {
    /// Everything passes through.
    pub fn pass() -> Self {
        Self::default()
    }
}

/// What the proxy did since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Connections accepted.
    pub connections: u64,
    /// Bytes forwarded client → node and node → client.
    pub bytes_up: u64,
    pub bytes_down: u64,
    /// Chunks forwarded after a delay.
    pub delayed_chunks: u64,
    /// New connections reset by `drop_connection`.
    pub dropped: u64,
    /// Connections cut instead of forwarding a request chunk (`cut_request`).
    pub request_cuts: u64,
    /// Connections cut after the node's answer was swallowed (`cut_reply`), and the bytes lost.
    pub reply_cuts: u64,
    pub reply_bytes_lost: u64,
    /// Connections whose request was held back and the client cut (`reorder`), how many of
    /// those requests (bytes) were handed to the node late, and how many held-back connections
    /// are over (delivered late and closed a second after, or cut before): when it equals
    /// `held_back`, no stale copy is still on its way.
    pub held_back: u64,
    pub released_late: u64,
    pub late_bytes: u64,
    pub late_closed: u64,
    /// Chunks and connections that waited through a `Hold` partition.
    pub partition_waits: u64,
    /// New connections reset by a `Refuse` partition, and live ones cut when it began (or by
    /// [`FaultProxy::cut_all`]).
    pub refused: u64,
    pub cut_live: u64,
}

pub(crate) struct Inner {
    upstream: Mutex<Option<String>>,
    faults: watch::Sender<Faults>,
    rng: Mutex<StdRng>,
    stats: Mutex<Stats>,
    /// Bumped to cut every live connection.
    cuts: watch::Sender<u64>,
    /// Connections held back by [`Faults::reorder_first`] so far.
    forced_holds: Mutex<u64>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Inner {
    fn count(&self, f: impl FnOnce(&mut Stats)) {
        f(&mut lock(&self.stats));
    }

    fn chance(&self, p: f64) -> bool {
        p > 0.0 && lock(&self.rng).random_bool(p.clamp(0.0, 1.0))
    }

    /// Whether a new connection's request is held back (`reorder`, `reorder_first`).
    fn hold_back(&self, f: &Faults) -> bool {
        if f.reorder <= 0.0 {
            return false;
        }
        let mut forced = lock(&self.forced_holds);
        if *forced < f.reorder_first {
            *forced += 1;
            return true;
        }
        drop(forced);
        self.chance(f.reorder)
    }

    fn between(&self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            lo
        } else {
            lock(&self.rng).random_range(lo..=hi)
        }
    }

    fn faults(&self) -> Faults {
        self.faults.borrow().clone()
    }
}

/// Aborts the accept loop and cuts every connection when the last handle goes.
struct Running {
    accept: tokio::task::JoinHandle<()>,
    inner: Arc<Inner>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.accept.abort();
        self.inner.cuts.send_modify(|g| *g += 1);
    }
}

/// A running proxy on 127.0.0.1. Clones command the same proxy; it stops (and cuts its
/// connections) when the last clone is dropped.
#[derive(Clone)]
pub struct FaultProxy {
    addr: SocketAddr,
    inner: Arc<Inner>,
    _running: Arc<Running>,
}

impl FaultProxy {
    /// Listen on 127.0.0.1, a port the kernel picks, with no upstream yet (connections are
    /// reset until [`set_upstream`](Self::set_upstream)). `seed` seeds the proxy's random
    /// choices. Needs a tokio runtime.
    pub async fn bind(seed: u64) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Inner {
            upstream: Mutex::new(None),
            faults: watch::Sender::new(Faults::default()),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            stats: Mutex::new(Stats::default()),
            cuts: watch::Sender::new(0),
            forced_holds: Mutex::new(0),
        });
        let accept = tokio::spawn(accept_loop(listener, inner.clone()));
        Ok(Self {
            addr,
            _running: Arc::new(Running {
                accept,
                inner: inner.clone(),
            }),
            inner,
        })
    }

    /// A proxy forwarding to `upstream`.
    pub async fn start(upstream: impl Into<String>, seed: u64) -> std::io::Result<Self> {
        let p = Self::bind(seed).await?;
        p.set_upstream(upstream);
        Ok(p)
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where new connections are forwarded.
    pub fn set_upstream(&self, upstream: impl Into<String>) {
        *lock(&self.inner.upstream) = Some(upstream.into());
    }

    /// Put these faults in force. Entering a `Refuse` partition cuts every live connection.
    pub fn set_faults(&self, faults: Faults) {
        let refuse = faults.partition == Some(Partition::Refuse);
        let was = self.inner.faults.send_replace(faults).partition;
        if refuse && was != Some(Partition::Refuse) {
            self.cut_all();
        }
    }

    /// Change some of the faults in force.
    pub fn update(&self, edit: impl FnOnce(&mut Faults)) {
        let mut f = self.inner.faults();
        edit(&mut f);
        self.set_faults(f);
    }

    pub fn faults(&self) -> Faults {
        self.inner.faults()
    }

    /// Pass everything through from now on (a partition heals, held bytes flow).
    pub fn pass(&self) {
        self.set_faults(Faults::pass());
    }

    /// Start a partition, keeping the other faults.
    pub fn partition(&self, p: Partition) {
        self.update(|f| f.partition = Some(p));
    }

    /// End a partition, keeping the other faults.
    pub fn heal(&self) {
        self.update(|f| f.partition = None);
    }

    /// Cut every live connection now.
    pub fn cut_all(&self) {
        self.inner.cuts.send_modify(|g| *g += 1);
    }

    pub fn stats(&self) -> Stats {
        *lock(&self.inner.stats)
    }
}

async fn accept_loop(listener: TcpListener, inner: Arc<Inner>) {
    loop {
        match listener.accept().await {
            Ok((sock, _)) => {
                let _ = sock.set_nodelay(true);
                tokio::spawn(conn::serve(inner.clone(), sock));
            }
            Err(e) => {
                tracing::warn!(error = %e, "fault proxy: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests;
