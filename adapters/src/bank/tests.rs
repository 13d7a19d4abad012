//! The client's mapping of the bank's answers, against a canned HTTP responder. The client
//! against the real stand-in, fault by fault, is tested in hfx-standins (`bank`).

use super::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the responder does with each request.
#[derive(Clone)]
enum Answer {
    /// Status and body.
    With(u16, &'static str),
    /// Read the request and never answer.
    Hang,
}

/// (method and path, body) of each request seen.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

async fn responder(answer: Answer) -> (String, Seen) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let s = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = l.accept().await else {
                return;
            };
            let (answer, s) = (answer.clone(), s.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head_end, len) = loop {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..i]).to_lowercase();
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        break (i + 4, len);
                    }
                };
                while buf.len() < head_end + len {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let line = head.lines().next().unwrap_or_default();
                let line = line.rsplit_once(' ').map_or(line, |(l, _)| l).to_string();
                let body = String::from_utf8_lossy(&buf[head_end..head_end + len]).to_string();
                s.lock().unwrap().push((line, body));
                match answer {
                    Answer::Hang => {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                    }
                    Answer::With(status, body) => {
                        let resp = format!(
                            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = sock.write_all(resp.as_bytes()).await;
                        let _ = sock.shutdown().await;
                    }
                }
            });
        }
    });
    (url, seen)
}

fn payout() -> Payout {
    Payout {
        case_id: "TC-1/a".into(),
        from_centre: "320300000000000".into(),
        to_centre: "340600000000000".into(),
        amount_fen: 123_456,
    }
}

fn bank(url: &str) -> HttpBank {
    HttpBank::new(url, Duration::from_millis(500)).unwrap()
}

#[tokio::test]
async fn a_payout_sends_the_case_and_reads_the_outcome() {
    let (url, seen) = responder(Answer::With(
        200,
        r#"{"outcome":"paid","bank_ref":"BK00000001","amount_fen":123456}"#,
    ))
    .await;
    let out = bank(&url).payout(&payout()).await.unwrap();
    assert_eq!(
        out,
        PayoutOutcome::Paid {
            bank_ref: "BK00000001".into(),
            amount_fen: 123456
        }
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "one request, no retries");
    assert_eq!(seen[0].0, "POST /payout");
    let sent: serde_json::Value = serde_json::from_str(&seen[0].1).unwrap();
    assert_eq!(
        sent,
        serde_json::json!({"case_id":"TC-1/a","from_centre":"320300000000000",
            "to_centre":"340600000000000","amount_fen":123456})
    );
}

#[tokio::test]
async fn a_decline_is_an_outcome() {
    let (url, _) = responder(Answer::With(
        200,
        r#"{"outcome":"declined","code":"ACCOUNT_BLOCKED","reason":"settlement account blocked"}"#,
    ))
    .await;
    assert_eq!(
        bank(&url).payout(&payout()).await.unwrap(),
        PayoutOutcome::Declined {
            code: "ACCOUNT_BLOCKED".into(),
            reason: "settlement account blocked".into()
        }
    );
}

#[tokio::test]
async fn server_errors_and_throttling_are_in_doubt_and_not_retried() {
    for status in [500, 503, 429] {
        let (url, seen) = responder(Answer::With(
            status,
            r#"{"code":"UNAVAILABLE","message":"busy"}"#,
        ))
        .await;
        let e = bank(&url).payout(&payout()).await.unwrap_err();
        assert!(e.is_unavailable(), "{status}: {e:?}");
        assert!(e.to_string().contains(&status.to_string()), "{e}");
        assert_eq!(
            seen.lock().unwrap().len(),
            1,
            "{status}: the client does not retry"
        );
    }
}

#[tokio::test]
async fn other_client_errors_and_strange_answers_are_rejected() {
    for (status, body) in [
        (
            400,
            r#"{"code":"BAD_REQUEST","message":"amount_fen must be positive"}"#,
        ),
        (409, r#"{"code":"CASE_MISMATCH","message":"other amount"}"#),
        (404, "not json"),
        (200, r#"{"outcome":"lost"}"#),
        (200, "<html>"),
        // paid another amount than asked
        (200, r#"{"outcome":"paid","bank_ref":"BK1","amount_fen":1}"#),
    ] {
        let (url, _) = responder(Answer::With(status, body)).await;
        let e = bank(&url).payout(&payout()).await.unwrap_err();
        assert!(
            matches!(e, BankError::Rejected { .. }),
            "{status} {body}: {e:?}"
        );
    }
}

#[tokio::test]
async fn a_timeout_is_in_doubt_and_keeps_its_source() {
    let (url, seen) = responder(Answer::Hang).await;
    let b = HttpBank::new(&url, Duration::from_millis(200)).unwrap();
    let e = b.payout(&payout()).await.unwrap_err();
    assert!(e.is_unavailable(), "{e:?}");
    let src = std::error::Error::source(&e).expect("a source");
    assert!(src.is::<tokio::time::error::Elapsed>(), "{src:?}");
    assert!(e.to_string().contains("no answer within"), "{e}");
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_refused_connection_is_in_doubt_and_keeps_its_source() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    drop(l);
    let e = bank(&url).status("TC-1").await.unwrap_err();
    assert!(e.is_unavailable(), "{e:?}");
    assert!(std::error::Error::source(&e).is_some(), "{e:?}");
    assert!(e.detail().len() > e.to_string().len(), "{}", e.detail());
}

#[tokio::test]
async fn status_of_an_unknown_case_is_none() {
    let (url, seen) = responder(Answer::With(
        404,
        r#"{"code":"UNKNOWN_CASE","message":"never seen"}"#,
    ))
    .await;
    assert_eq!(bank(&url).status("TC-1/a").await.unwrap(), None);
    assert_eq!(seen.lock().unwrap()[0].0, "GET /payout/TC-1%2Fa");
    // a 404 that is not the bank's "never seen" (a wrong URL) is no answer about the case
    let (url, _) = responder(Answer::With(404, "")).await;
    let e = bank(&url).status("TC-1").await.unwrap_err();
    assert!(matches!(e, BankError::Rejected { .. }), "{e:?}");
}

#[tokio::test]
async fn status_and_deliver_read_the_answer() {
    let (url, _) = responder(Answer::With(
        200,
        r#"{"outcome":"paid","bank_ref":"BK7","amount_fen":5}"#,
    ))
    .await;
    assert_eq!(
        bank(&url).status("TC-1").await.unwrap(),
        Some(PayoutOutcome::Paid {
            bank_ref: "BK7".into(),
            amount_fen: 5
        })
    );
    let (url, seen) = responder(Answer::With(
        200,
        r#"{"case_id":"TC-1","state":"delivered"}"#,
    ))
    .await;
    bank(&url).deliver("TC-1").await.unwrap();
    assert_eq!(seen.lock().unwrap()[0].0, "POST /deliver/TC-1");
    let (url, _) = responder(Answer::With(
        200,
        r#"{"case_id":"TC-2","state":"delivered"}"#,
    ))
    .await;
    let e = bank(&url).deliver("TC-1").await.unwrap_err();
    assert!(matches!(e, BankError::Rejected { .. }), "{e:?}");
    let (url, _) = responder(Answer::With(
        409,
        r#"{"code":"NOT_PAID","message":"declined"}"#,
    ))
    .await;
    let e = bank(&url).deliver("TC-1").await.unwrap_err();
    assert!(matches!(e, BankError::Rejected { .. }), "{e:?}");
    assert!(e.to_string().contains("NOT_PAID"), "{e}");
}

#[test]
fn bad_urls_and_timeouts_are_refused() {
    for url in ["ftp://x", "https://bank:443", "not a url", "http://"] {
        assert!(
            HttpBank::new(url, Duration::from_secs(1)).is_err(),
            "{url} accepted"
        );
    }
    assert!(HttpBank::new("http://127.0.0.1:1", Duration::ZERO).is_err());
    let b = HttpBank::new("http://127.0.0.1:1/", Duration::from_secs(1)).unwrap();
    assert_eq!(b.base_url(), "http://127.0.0.1:1");
}

#[test]
fn the_outcome_on_the_wire() {
    let paid = PayoutOutcome::Paid {
        bank_ref: "BK1".into(),
        amount_fen: 10,
    };
    assert_eq!(
        serde_json::to_value(&paid).unwrap(),
        serde_json::json!({"outcome":"paid","bank_ref":"BK1","amount_fen":10})
    );
    let declined = PayoutOutcome::Declined {
        code: "C".into(),
        reason: "r".into(),
    };
    let v = serde_json::to_string(&declined).unwrap();
    assert_eq!(serde_json::from_str::<PayoutOutcome>(&v).unwrap(), declined);
}
