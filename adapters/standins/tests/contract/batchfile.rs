use hfx_adapters::batchfile::{
    self, BatchfileCore, MEMBER_LAYOUT, POSTING_LAYOUT, field_range, record_width,
};
use hfx_adapters::{AdapterError, CoreSystem};
use hfx_standins::batch::{self, BatchRunner};
use hfx_standins::seeding::Seed;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const CENTRE: &str = "320300000000000";

async fn seeded() -> (tempfile::TempDir, BatchfileCore) {
    let dir = tempfile::tempdir().unwrap();
    let core = BatchfileCore::open(dir.path(), Some(Duration::from_secs(20)))
        .await
        .unwrap();
    core.seed(CENTRE, &crate::opts(), 0, crate::N, &|_| {})
        .await
        .unwrap();
    (dir, core)
}

fn export_file(root: &Path, name: &str) -> std::path::PathBuf {
    root.join("export").join(name)
}

/// Byte range of record `line` (1-based) of a file of `width`-byte records.
fn line_at(width: usize, line: usize) -> std::ops::Range<usize> {
    let start = (line - 1) * (width + 1);
    start..start + width
}

#[tokio::test]
async fn batchfile_contract() {
    let (dir, core) = seeded().await;
    assert_eq!(core.member_count().await.unwrap(), crate::N);
    let runner = Arc::new(BatchRunner::open(dir.path()).await.unwrap());
    let _task = runner.spawn(Duration::from_millis(30));
    hfx_standins::contract::run_all(&core, CENTRE, &crate::opts(), crate::N)
        .await
        .unwrap();
    // every instruction was answered through the outbox; the inbox is empty again
    let left: Vec<_> = std::fs::read_dir(dir.path().join("inbox"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".req"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(
        dir.path()
            .join("outbox")
            .join("case-a.reserve.res")
            .exists()
    );
}

#[tokio::test]
async fn batchfile_names_are_padded_by_gb18030_bytes() {
    let (dir, _core) = seeded().await;
    let data = std::fs::read(export_file(dir.path(), batchfile::MEMBERS_FILE)).unwrap();
    let width = record_width(MEMBER_LAYOUT);
    let m = hfx_standins::seed::generate(CENTRE, &crate::opts(), 0).member;
    let rec = &data[line_at(width, 1)];
    let name = &rec[field_range(MEMBER_LAYOUT, "XINGMING").unwrap()];
    let (gb, _, _) = encoding_rs::GB18030.encode(&m.name);
    assert_eq!(&name[..gb.len()], &gb[..]);
    assert!(name[gb.len()..].iter().all(|b| *b == b' '));
    assert_eq!(data[width], b'\n');
}

#[tokio::test]
async fn batchfile_write_without_a_batch_run_is_unavailable_in_bounded_time() {
    let dir = tempfile::tempdir().unwrap();
    let seeder = BatchfileCore::open(dir.path(), None).await.unwrap();
    seeder
        .seed(CENTRE, &crate::opts(), 0, crate::N, &|_| {})
        .await
        .unwrap();
    let core = BatchfileCore::open(dir.path(), Some(Duration::from_millis(300)))
        .await
        .unwrap();
    let normal = hfx_standins::contract::find_index(CENTRE, &crate::opts(), crate::N, |s| {
        s == hfx_adapters::model::AccountStatus::Normal
    })
    .unwrap();
    let m = hfx_standins::seed::generate(CENTRE, &crate::opts(), normal).member;
    match core.reserve("case-late", &m.account_no).await {
        Err(AdapterError::Unavailable { what, .. }) => {
            assert!(what.contains("inbox/case-late.reserve.req"), "{what}")
        }
        other => panic!("want Unavailable, got {other:?}"),
    }
    let checks = core.check().await;
    assert!(
        checks
            .iter()
            .any(|c| c.name == "batch run" && c.detail.contains("1 instructions waiting")),
        "{checks:?}"
    );
    // the instruction stays; once the batch run has answered, the same call returns the result
    let runner = BatchRunner::open(dir.path()).await.unwrap();
    let report = runner.run_once().await.unwrap();
    assert_eq!((report.answered, report.exported), (1, true));
    let r = core.reserve("case-late", &m.account_no).await.unwrap();
    assert_eq!(r.principal_fen, m.balance_fen);
}

#[tokio::test]
async fn batchfile_truncated_export_is_refused_and_the_last_good_one_served() {
    let (dir, core) = seeded().await;
    let m = hfx_standins::seed::generate(CENTRE, &crate::opts(), 3).member;
    let path = export_file(dir.path(), batchfile::MEMBERS_FILE);
    let data = std::fs::read(&path).unwrap();
    std::fs::write(&path, &data[..data.len() - 100]).unwrap();
    let e = core.reload().await.unwrap_err().to_string();
    assert!(
        e.contains("members.dat") && e.contains("control.txt"),
        "{e}"
    );
    // still serving the last good export
    assert!(
        core.member_by_id(m.id_type, &m.id_number)
            .await
            .unwrap()
            .is_some()
    );
    let checks = core.check().await;
    let ex = checks.iter().find(|c| c.name == "export").unwrap();
    assert!(!ex.ok && ex.detail.contains("still serving"), "{checks:?}");
    // a fresh adapter with no good export answers with a typed error naming the file
    let fresh = BatchfileCore::open(dir.path(), None).await.unwrap();
    match fresh.member_by_id(m.id_type, &m.id_number).await {
        Err(AdapterError::BadRecord { detail, .. }) => {
            assert!(detail.contains("members.dat"), "{detail}")
        }
        other => panic!("want BadRecord, got {other:?}"),
    }
}

#[tokio::test]
async fn batchfile_control_count_mismatch_refuses_the_export() {
    let (dir, core) = seeded().await;
    let path = export_file(dir.path(), batchfile::CONTROL_FILE);
    let control = std::fs::read_to_string(&path).unwrap();
    let want = format!("FILE|members.dat|{}|", crate::N);
    assert!(control.contains(&want), "{control}");
    std::fs::write(
        &path,
        control.replace(&want, &format!("FILE|members.dat|{}|", crate::N + 1)),
    )
    .unwrap();
    let e = core.reload().await.unwrap_err().to_string();
    assert!(
        e.contains(&format!(
            "members.dat has {} records, control.txt says {}",
            crate::N,
            crate::N + 1
        )),
        "{e}"
    );
    let fresh = BatchfileCore::open(dir.path(), None).await.unwrap();
    assert!(matches!(
        fresh.member_count().await,
        Err(AdapterError::BadRecord { .. })
    ));
}

#[tokio::test]
async fn batchfile_bad_records_are_named_and_do_not_poison_the_others() {
    let (dir, core) = seeded().await;
    let opts = crate::opts();
    let width = record_width(MEMBER_LAYOUT);
    let members = export_file(dir.path(), batchfile::MEMBERS_FILE);
    let mut data = std::fs::read(&members).unwrap();
    // The export is sorted by account number, which is the seed index: line = index + 1.
    // Line 6: a mis-encoded name (0xFF is never valid in GB18030).
    let name = field_range(MEMBER_LAYOUT, "XINGMING").unwrap();
    let r = line_at(width, 6);
    data[r.start + name.start] = 0xFF;
    data[r.start + name.start + 1] = 0xFF;
    // Line 7: an impossible open date.
    let khrq = field_range(MEMBER_LAYOUT, "KHRQ").unwrap();
    let r = line_at(width, 7);
    data[r.start + khrq.start..r.start + khrq.end].copy_from_slice(b"20210230");
    // Line 9: a status code the batch core's table lacks.
    let zt = field_range(MEMBER_LAYOUT, "GRZHZT").unwrap();
    let r = line_at(width, 9);
    data[r.start + zt.start..r.start + zt.end].copy_from_slice(b"42");
    std::fs::write(&members, &data).unwrap();
    // A posting of member 10 with a broken amount.
    let postings = export_file(dir.path(), batchfile::POSTINGS_FILE);
    let pdata = std::fs::read(&postings).unwrap();
    let pw = record_width(POSTING_LAYOUT);
    let m10 = hfx_standins::seed::generate(CENTRE, &opts, 10).member;
    let line = (1..=pdata.len() / (pw + 1))
        .find(|l| pdata[line_at(pw, *l)].starts_with(m10.account_no.as_bytes()))
        .unwrap();
    let mut pdata = pdata;
    let fse = field_range(POSTING_LAYOUT, "FSE").unwrap();
    let r = line_at(pw, line);
    pdata[r.start + fse.start..r.start + fse.start + 3].copy_from_slice(b"ABC");
    std::fs::write(&postings, &pdata).unwrap();
    // The core exported these records itself: counts and checksums agree.
    batch::seal_export(dir.path()).await.unwrap();
    core.reload().await.unwrap();

    let m5 = hfx_standins::seed::generate(CENTRE, &opts, 5).member;
    let e = core
        .member_by_id(m5.id_type, &m5.id_number)
        .await
        .unwrap_err();
    assert!(matches!(e, AdapterError::BadRecord { .. }), "{e:?}");
    let e = e.to_string();
    assert!(
        e.contains("members.dat line 6") && e.contains(&m5.account_no) && e.contains("XINGMING"),
        "{e}"
    );

    let m6 = hfx_standins::seed::generate(CENTRE, &opts, 6).member;
    let e = core
        .member_by_id(m6.id_type, &m6.id_number)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("members.dat line 7") && e.contains("KHRQ") && e.contains("20210230"),
        "{e}"
    );

    let m8 = hfx_standins::seed::generate(CENTRE, &opts, 8).member;
    match core.member_by_id(m8.id_type, &m8.id_number).await {
        Err(AdapterError::UnknownCode { code, record, .. }) => {
            assert_eq!(code, "42");
            assert!(
                record.contains("members.dat line 9") && record.contains(&m8.account_no),
                "{record}"
            );
        }
        other => panic!("want UnknownCode, got {other:?}"),
    }

    let e = core
        .deposits(
            &m10.account_no,
            m10.paid_up_to.add_months(-120),
            m10.paid_up_to,
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("postings.dat line {line}")) && e.contains("FSE"),
        "{e}"
    );

    // the others are served as before
    for i in [0, 1, 2, 3, 4, 7, 11, 42] {
        let want = hfx_standins::seed::generate(CENTRE, &opts, i).member;
        let got = core
            .member_by_id(want.id_type, &want.id_number)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, want);
    }
    assert_eq!(core.member_count().await.unwrap(), crate::N);
    assert_eq!(core.bad_records().len(), 4);

    let checks = core.check().await;
    let rec = checks.iter().find(|c| c.name == "records").unwrap();
    assert!(!rec.ok, "{checks:?}");
    for needle in [
        "4 bad records",
        "members.dat line 6",
        "members.dat line 7",
        "members.dat line 9",
        "postings.dat line",
    ] {
        assert!(rec.detail.contains(needle), "{needle}: {}", rec.detail);
    }
    assert!(
        checks.iter().any(|c| c.name == "export" && c.ok),
        "{checks:?}"
    );
}

#[tokio::test]
async fn batchfile_factory_needs_the_path() {
    let s = hfx_adapters::open::AdapterSettings {
        kind: "batchfile".into(),
        ..Default::default()
    };
    let e = hfx_adapters::open::open(&s)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("adapter.path"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let s = hfx_adapters::open::AdapterSettings {
        kind: "batchfile".into(),
        path: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let core = hfx_adapters::open::open(&s).await.unwrap();
    assert_eq!(core.kind(), "batchfile");
    let checks = core.check().await;
    assert!(
        checks
            .iter()
            .any(|c| c.name == "export" && !c.ok && c.detail.contains("control.txt")),
        "{checks:?}"
    );
}

#[tokio::test]
async fn batchfile_unknown_hold_state_is_refused() {
    let (dir, core) = seeded().await;
    let runner = Arc::new(BatchRunner::open(dir.path()).await.unwrap());
    // The hold records live in the batch core's master data.
    let h = hfx_standins::contract::planted_hold(CENTRE, &crate::opts(), crate::N);
    hfx_standins::contract::plant_in_sqlite(runner.master().pool(), &h)
        .await
        .unwrap();
    let _task = runner.spawn(Duration::from_millis(30));
    hfx_standins::contract::unknown_hold_state_is_refused(&core, CENTRE, &crate::opts(), crate::N)
        .await
        .unwrap();
}

/// The members of the export, read the plain way: every line of members.dat, postings.dat and
/// loans.dat decoded in order.
struct Scan {
    members: Vec<hfx_adapters::model::Member>,
    postings: std::collections::HashMap<String, Vec<hfx_adapters::model::Deposit>>,
    loans: Vec<hfx_adapters::model::LoanRecord>,
}

fn scan(root: &Path) -> Scan {
    use hfx_adapters::batchfile::format::{
        LOAN_LAYOUT, lines, parse_loan, parse_member, parse_posting, shaped,
    };
    let read = |f| std::fs::read(export_file(root, f)).unwrap();
    let members = read(batchfile::MEMBERS_FILE);
    let postings = read(batchfile::POSTINGS_FILE);
    let loans = read(batchfile::LOANS_FILE);
    let mut s = Scan {
        members: Vec::new(),
        postings: Default::default(),
        loans: Vec::new(),
    };
    for (l, b) in lines(&members) {
        let r = shaped(batchfile::MEMBERS_FILE, l, b, MEMBER_LAYOUT, "GRZH").unwrap();
        s.members.push(parse_member(&r).unwrap());
    }
    for (l, b) in lines(&postings) {
        let r = shaped(batchfile::POSTINGS_FILE, l, b, POSTING_LAYOUT, "GRZH").unwrap();
        let acct = r.ascii("GRZH").unwrap().to_string();
        s.postings
            .entry(acct)
            .or_default()
            .push(parse_posting(&r).unwrap());
    }
    for (l, b) in lines(&loans) {
        let r = shaped(batchfile::LOANS_FILE, l, b, LOAN_LAYOUT, "JKHTBH").unwrap();
        s.loans.push(parse_loan(&r).unwrap());
    }
    s
}

#[tokio::test]
async fn batchfile_indexed_lookups_agree_with_a_full_scan() {
    let (dir, core) = seeded().await;
    let s = scan(dir.path());
    assert_eq!(s.members.len() as u64, crate::N);
    let far = (
        hfx_adapters::model::YearMonth::from_yyyymm(190001).unwrap(),
        hfx_adapters::model::YearMonth::from_yyyymm(299912).unwrap(),
    );
    let mut with_loans = 0;
    for m in &s.members {
        let got = core
            .member_by_id(m.id_type, &m.id_number)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&got, m);
        let mut want = s.postings.get(&m.account_no).cloned().unwrap_or_default();
        want.sort_by_key(|d| (d.for_month, d.date));
        assert_eq!(
            core.deposits(&m.account_no, far.0, far.1).await.unwrap(),
            want,
            "{}",
            m.account_no
        );
        let person = (m.id_type, m.id_number.clone());
        let mut want: Vec<_> = s
            .loans
            .iter()
            .filter(|l| l.borrower == person || l.co_borrower.as_ref() == Some(&person))
            .map(|l| l.loan.contract_no.clone())
            .collect();
        want.sort();
        let mut got: Vec<_> = core
            .loans_of(m.id_type, &m.id_number)
            .await
            .unwrap()
            .into_iter()
            .map(|l| l.loan.contract_no)
            .collect();
        got.sort();
        with_loans += usize::from(!got.is_empty());
        assert_eq!(got, want, "{}", m.account_no);
    }
    assert!(with_loans > 0);
    // someone who is not a member
    assert!(
        core.member_by_id(hfx_adapters::model::IdType::Passport, "X0000000")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        core.deposits("000000000000", far.0, far.1)
            .await
            .unwrap()
            .is_empty()
    );
}

fn normal_member(i: usize) -> hfx_adapters::model::Member {
    let normal: Vec<u64> = (0..crate::N)
        .filter(|k| {
            let m = hfx_standins::seed::generate(CENTRE, &crate::opts(), *k).member;
            m.status == hfx_adapters::model::AccountStatus::Normal
        })
        .collect();
    hfx_standins::seed::generate(CENTRE, &crate::opts(), normal[i]).member
}

fn delta_dirs(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root.join("export"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("delta-"))
        .collect();
    v.sort();
    v
}

/// The state after the delta of `batchfile_batch_run_exports_a_delta_the_adapter_applies`.
async fn sees_the_delta(
    core: &BatchfileCore,
    a: &hfx_adapters::model::Member,
    b: &hfx_adapters::model::Member,
) {
    let got = core
        .member_by_id(a.id_type, &a.id_number)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.balance_fen, a.balance_fen + 12_345);
    let deps = core
        .deposits(
            &a.account_no,
            a.paid_up_to.add_months(-600),
            a.paid_up_to.add_months(600),
        )
        .await
        .unwrap();
    assert!(
        deps.iter()
            .any(|d| d.amount_fen == 12_345 && d.business_type == "08"),
        "{deps:?}"
    );
    // the others are as they were
    let other = core
        .member_by_id(b.id_type, &b.id_number)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&other, b);
    assert_eq!(core.member_count().await.unwrap(), crate::N);
    let checks = core.check().await;
    assert!(checks.iter().all(|c| c.ok), "{checks:?}");
    assert!(
        checks
            .iter()
            .any(|c| c.name == "export" && c.detail.contains("1 deltas")),
        "{checks:?}"
    );
}

#[tokio::test]
async fn batchfile_batch_run_exports_a_delta_the_adapter_applies() {
    let (dir, core) = seeded().await;
    let (a, b) = (normal_member(0), normal_member(1));
    let meta = |f| std::fs::metadata(export_file(dir.path(), f)).unwrap();
    let base_before = (
        meta(batchfile::MEMBERS_FILE).modified().unwrap(),
        meta(batchfile::POSTINGS_FILE).modified().unwrap(),
    );
    let runner = Arc::new(BatchRunner::open(dir.path()).await.unwrap());
    let task = runner.clone().spawn(Duration::from_millis(30));
    core.credit_in("case-delta", &a.account_no, 12_345, &[])
        .await
        .unwrap();
    drop(task);
    // the batch run wrote a delta, not a new base
    assert_eq!(delta_dirs(dir.path()).len(), 1);
    let control =
        std::fs::read_to_string(export_file(dir.path(), batchfile::CONTROL_FILE)).unwrap();
    assert!(control.contains("DELTA|"), "{control}");
    assert_eq!(
        base_before,
        (
            meta(batchfile::MEMBERS_FILE).modified().unwrap(),
            meta(batchfile::POSTINGS_FILE).modified().unwrap(),
        )
    );
    sees_the_delta(&core, &a, &b).await;
    // a fresh adapter reuses the index of the base and applies the delta on top
    let fresh = BatchfileCore::open(dir.path(), None).await.unwrap();
    assert!(
        fresh.index_note().unwrap().contains("reused"),
        "{:?}",
        fresh.index_note()
    );
    sees_the_delta(&fresh, &a, &b).await;
    // a second batch run adds a second delta; a full export folds them into a new base
    runner
        .master()
        .credit_in("case-delta-2", &b.account_no, 1, &[])
        .await
        .unwrap();
    let (_, delta) = runner
        .export_delta(&[b.account_no.clone()].into_iter().collect())
        .await
        .unwrap();
    assert!(delta);
    assert_eq!(delta_dirs(dir.path()).len(), 2);
    runner.export().await.unwrap();
    assert!(delta_dirs(dir.path()).is_empty());
    let fresh = BatchfileCore::open(dir.path(), None).await.unwrap();
    let got = fresh
        .member_by_id(b.id_type, &b.id_number)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.balance_fen, b.balance_fen + 1);
}

#[tokio::test]
async fn batchfile_corrupt_index_is_detected_and_rebuilt() {
    let (dir, _core) = seeded().await;
    let m = hfx_standins::seed::generate(CENTRE, &crate::opts(), 17).member;
    let fresh = BatchfileCore::open(dir.path(), None).await.unwrap();
    assert!(fresh.index_note().unwrap().contains("reused"));
    let path = dir.path().join("index").join("export.idx");
    let mut data = std::fs::read(&path).unwrap();
    let at = data.len() - 30;
    data[at] ^= 0x55;
    std::fs::write(&path, &data).unwrap();
    let fresh = BatchfileCore::open(dir.path(), None).await.unwrap();
    let note = fresh.index_note().unwrap();
    assert!(
        note.contains("rebuilt") && note.contains("corrupt") && note.contains("checksum"),
        "{note}"
    );
    assert_eq!(
        fresh.member_by_id(m.id_type, &m.id_number).await.unwrap(),
        Some(m.clone())
    );
    let checks = fresh.check().await;
    assert!(
        checks
            .iter()
            .any(|c| c.name == "index" && c.detail.contains("corrupt")),
        "{checks:?}"
    );
    // the rebuilt index is good again
    let again = BatchfileCore::open(dir.path(), None).await.unwrap();
    assert!(again.index_note().unwrap().contains("reused"));
    // garbage instead of an index
    std::fs::write(&path, b"not an index").unwrap();
    let fresh = BatchfileCore::open(dir.path(), None).await.unwrap();
    assert!(fresh.index_note().unwrap().contains("corrupt"));
    assert_eq!(
        fresh.member_by_id(m.id_type, &m.id_number).await.unwrap(),
        Some(m)
    );
}

#[tokio::test]
async fn batchfile_stale_index_is_rebuilt_for_a_new_export() {
    let (dir, core) = seeded().await;
    let a = normal_member(2);
    let runner = BatchRunner::open(dir.path()).await.unwrap();
    runner
        .master()
        .credit_in("case-stale", &a.account_no, 500, &[])
        .await
        .unwrap();
    runner.export().await.unwrap();
    core.reload().await.unwrap();
    let note = core.index_note().unwrap();
    assert!(note.contains("rebuilt") && note.contains("stale"), "{note}");
    let got = core
        .member_by_id(a.id_type, &a.id_number)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.balance_fen, a.balance_fen + 500);
    // an index of the same files whose times changed is stale too (they may have been
    // rewritten in place): rebuilt, which verifies the checksums again
    let members = export_file(dir.path(), batchfile::MEMBERS_FILE);
    let data = std::fs::read(&members).unwrap();
    std::fs::write(&members, &data).unwrap();
    let f = std::fs::File::options().write(true).open(&members).unwrap();
    f.set_modified(std::time::SystemTime::now() + Duration::from_secs(5))
        .unwrap();
    let fresh = BatchfileCore::open(dir.path(), None).await.unwrap();
    assert!(fresh.index_note().unwrap().contains("stale"));
    assert_eq!(fresh.member_count().await.unwrap(), crate::N);
}

#[tokio::test]
async fn batchfile_delta_whose_checksum_disagrees_is_refused() {
    let (dir, core) = seeded().await;
    let a = normal_member(3);
    let runner = BatchRunner::open(dir.path()).await.unwrap();
    runner
        .master()
        .credit_in("case-bad-delta", &a.account_no, 700, &[])
        .await
        .unwrap();
    let (seq, delta) = runner
        .export_delta(&[a.account_no.clone()].into_iter().collect())
        .await
        .unwrap();
    assert!(delta);
    // one byte of the delta's member record changed, the size the same
    let path = dir
        .path()
        .join("export")
        .join(format!("delta-{seq}"))
        .join(batchfile::MEMBERS_FILE);
    let mut data = std::fs::read(&path).unwrap();
    let ye = field_range(MEMBER_LAYOUT, "GRZHYE").unwrap();
    data[ye.start + 5] = if data[ye.start + 5] == b'9' {
        b'1'
    } else {
        b'9'
    };
    std::fs::write(&path, &data).unwrap();
    let e = core.reload().await.unwrap_err().to_string();
    assert!(
        e.contains(&format!("delta-{seq}/members.dat SHA-256")) && e.contains("control.txt"),
        "{e}"
    );
    // the last good state is served: the base, without the refused delta
    let got = core
        .member_by_id(a.id_type, &a.id_number)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.balance_fen, a.balance_fen);
    let checks = core.check().await;
    let ex = checks.iter().find(|c| c.name == "export").unwrap();
    assert!(!ex.ok && ex.detail.contains("still serving"), "{checks:?}");
    // a delta file gone missing is refused the same way
    std::fs::remove_file(&path).unwrap();
    let e = core.reload().await.unwrap_err().to_string();
    assert!(
        e.contains(&format!("delta-{seq}/members.dat is missing")),
        "{e}"
    );
    // the next full export is served again
    runner.export().await.unwrap();
    core.reload().await.unwrap();
    let got = core
        .member_by_id(a.id_type, &a.id_number)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.balance_fen, a.balance_fen + 700);
}
