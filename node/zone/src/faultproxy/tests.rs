//! The proxy against a plain TCP echo server: each fault does what it says, and is counted.

use super::{FaultProxy, Faults, Partition, Stats};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An echo server; returns its address. It counts nothing: the proxy's stats and what the
/// client reads tell the story.
async fn echo() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                loop {
                    match s.read(&mut buf).await {
                        Ok(n) if n > 0 => {
                            if s.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                        _ => return,
                    }
                }
            });
        }
    });
    addr
}

/// Send `msg`, read back exactly its length (None: the connection ended first).
async fn round(s: &mut TcpStream, msg: &[u8]) -> Option<Vec<u8>> {
    s.write_all(msg).await.ok()?;
    let mut got = vec![0u8; msg.len()];
    s.read_exact(&mut got).await.ok()?;
    Some(got)
}

async fn stats_until(p: &FaultProxy, done: impl Fn(&Stats) -> bool) -> Stats {
    for _ in 0..500 {
        let s = p.stats();
        if done(&s) {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    p.stats()
}

#[tokio::test]
async fn passes_through_and_keeps_order_under_delay_and_jitter() {
    let p = FaultProxy::start(echo().await, 7).await.unwrap();
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    assert_eq!(
        round(&mut s, b"hello").await.as_deref(),
        Some(&b"hello"[..])
    );
    p.set_faults(Faults {
        delay_ms: 5,
        jitter_ms: 20,
        ..Faults::default()
    });
    // Many small writes without waiting: they come back whole and in order.
    let want: Vec<u8> = (0..200u32).flat_map(|i| i.to_be_bytes()).collect();
    for c in want.chunks(4) {
        s.write_all(c).await.unwrap();
    }
    let mut got = vec![0u8; want.len()];
    s.read_exact(&mut got).await.unwrap();
    assert_eq!(got, want);
    let st = p.stats();
    assert_eq!(st.connections, 1);
    assert!(st.delayed_chunks > 0, "{st:?}");
    assert_eq!(st.bytes_up, 5 + want.len() as u64, "{st:?}");
}

#[tokio::test]
async fn a_lost_reply_was_delivered_and_the_connection_is_cut() {
    let p = FaultProxy::start(echo().await, 1).await.unwrap();
    p.set_faults(Faults {
        cut_reply: 1.0,
        cut_hold_ms: 20,
        ..Faults::default()
    });
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    // The first turn (a handshake's) passes; the second answer is lost and the line cut.
    assert!(round(&mut s, b"one").await.is_some());
    assert_eq!(round(&mut s, b"two").await, None);
    let st = stats_until(&p, |s| s.reply_cuts == 1).await;
    assert_eq!(st.reply_cuts, 1, "{st:?}");
    assert!(st.reply_bytes_lost >= 1, "the node did answer: {st:?}");
    assert_eq!(st.bytes_up, 6, "the request went up: {st:?}");
}

#[tokio::test]
async fn drops_and_refusals_reset_connections_and_heal() {
    let p = FaultProxy::start(echo().await, 2).await.unwrap();
    p.set_faults(Faults {
        drop_connection: 1.0,
        ..Faults::default()
    });
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    assert_eq!(round(&mut s, b"x").await, None);
    p.pass();
    let mut live = TcpStream::connect(p.addr()).await.unwrap();
    assert!(round(&mut live, b"y").await.is_some());
    // A refusing partition cuts the live connection and resets new ones.
    p.partition(Partition::Refuse);
    stats_until(&p, |s| s.cut_live == 1).await;
    assert_eq!(round(&mut live, b"z").await, None);
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    assert_eq!(round(&mut s, b"w").await, None);
    p.heal();
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    assert!(round(&mut s, b"v").await.is_some());
    let st = p.stats();
    assert_eq!((st.dropped, st.refused, st.cut_live), (1, 1, 1), "{st:?}");
}

#[tokio::test]
async fn a_held_partition_forwards_nothing_until_healed() {
    let p = FaultProxy::start(echo().await, 3).await.unwrap();
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    assert!(round(&mut s, b"a").await.is_some());
    p.partition(Partition::Hold);
    s.write_all(b"held").await.unwrap();
    let st = stats_until(&p, |s| s.partition_waits >= 1).await;
    assert!(st.partition_waits >= 1, "{st:?}");
    assert_eq!(st.bytes_up, 1, "nothing went up while partitioned: {st:?}");
    p.heal();
    let mut got = [0u8; 4];
    s.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"held");
}

#[tokio::test]
async fn a_held_back_request_reaches_the_node_after_the_client_is_cut() {
    let p = FaultProxy::start(echo().await, 4).await.unwrap();
    p.set_faults(Faults {
        reorder: 1.0,
        reorder_min_ms: 50,
        reorder_max_ms: 80,
        ..Faults::default()
    });
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    assert!(
        round(&mut s, b"hi").await.is_some(),
        "the first turn passes"
    );
    assert_eq!(round(&mut s, b"request").await, None, "the client is cut");
    let st = stats_until(&p, |s| s.released_late == 1 && s.bytes_up == 9).await;
    assert_eq!((st.held_back, st.released_late), (1, 1), "{st:?}");
    assert_eq!(st.late_bytes, 7, "{st:?}");
    assert_eq!(st.bytes_up, 2 + 7, "the request went up, late: {st:?}");
    let st = stats_until(&p, |s| s.late_closed == 1).await;
    assert_eq!(st.late_closed, 1, "{st:?}");
}

#[tokio::test]
async fn the_first_connections_are_held_back_whatever_the_chance() {
    let p = FaultProxy::start(echo().await, 4).await.unwrap();
    p.set_faults(Faults {
        reorder: 1e-9,
        reorder_first: 1,
        reorder_min_ms: 20,
        reorder_max_ms: 30,
        ..Faults::default()
    });
    let mut first = TcpStream::connect(p.addr()).await.unwrap();
    assert!(round(&mut first, b"hi").await.is_some());
    assert_eq!(round(&mut first, b"request").await, None, "held back, cut");
    let mut second = TcpStream::connect(p.addr()).await.unwrap();
    assert!(round(&mut second, b"hi").await.is_some());
    assert_eq!(
        round(&mut second, b"again").await.as_deref(),
        Some(&b"again"[..]),
        "only the first is forced"
    );
    let st = stats_until(&p, |s| s.late_closed == 1).await;
    assert_eq!((st.held_back, st.released_late), (1, 1), "{st:?}");
}
