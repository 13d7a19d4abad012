//! Cross-centre member queries (DOMAIN.md §4.2, DESIGN.md §3): validation at the edge, the
//! field set each purpose allows, and the disclosure record both sides keep.

use crate::auth::Caller;
use crate::error::{HfxError, HfxResult};
use crate::log::{Envelope, RECV, SENT};
use crate::node::Node;
use crate::store::WriteOp;
use crate::store::disclosures::{LogLink, NewDisclosure};
use hfx_adapters::ids::{mask_id, mask_name, validate_name, validate_person_id};
use hfx_adapters::model::{AccountStatus, IdType, Member, YearMonth, business_type, date_to_u32};
use hfx_adapters::{MemberMatch, find_member};
use hfx_proto::v1 as pb;
use prost::Message;

/// A validated person key.
#[derive(Debug, Clone)]
pub struct Person {
    pub id_type: IdType,
    pub id_number: String,
    pub name: String,
}

impl Person {
    /// Masked for logs and disclosure records: name 张*, id first 6 + last 4.
    pub fn masked(&self) -> String {
        format!("{} {}", mask_name(&self.name), mask_id(&self.id_number))
    }

    /// The subject of a disclosure about this person: masked, and keyed for the member's
    /// report ([`crate::store::Store::subject_key`]).
    pub fn subject(&self, node: &Node) -> Subject {
        Subject {
            masked: self.masked(),
            key: node.store.subject_key(self.id_type.code(), &self.id_number),
        }
    }
}

/// Whom a disclosure record is about: the masked person and the store's keyed hash of the
/// id (empty when the request named no valid person).
#[derive(Debug, Clone, Default)]
pub struct Subject {
    pub masked: String,
    pub key: String,
}

impl Subject {
    /// The subject of a request refused before its person was checked: the person it names
    /// if that parses, else none.
    pub fn of_request(node: &Node, person: Option<&pb::PersonKey>) -> Subject {
        match validate_person(person) {
            Ok(p) => p.subject(node),
            Err(_) => Subject {
                masked: "-".into(),
                key: String::new(),
            },
        }
    }
}

pub fn id_type_from_pb(v: i32) -> Option<IdType> {
    match pb::IdType::try_from(v).ok()? {
        pb::IdType::ResidentId => Some(IdType::ResidentId),
        pb::IdType::OfficerId => Some(IdType::OfficerId),
        pb::IdType::Passport => Some(IdType::Passport),
        pb::IdType::ForeignPermanent => Some(IdType::ForeignPermanent),
        pb::IdType::Other => Some(IdType::Other),
        pb::IdType::Unspecified => None,
    }
}

pub fn id_type_to_pb(t: IdType) -> pb::IdType {
    match t {
        IdType::ResidentId => pb::IdType::ResidentId,
        IdType::OfficerId => pb::IdType::OfficerId,
        IdType::Passport => pb::IdType::Passport,
        IdType::ForeignPermanent => pb::IdType::ForeignPermanent,
        IdType::Other => pb::IdType::Other,
    }
}

/// Validate a person key at the edge; errors name the field (`person.id_number`, ...).
pub fn validate_person(p: Option<&pb::PersonKey>) -> HfxResult<Person> {
    let p = p.ok_or_else(|| HfxError::invalid("person", "is required"))?;
    let id_type = id_type_from_pb(p.id_type).ok_or_else(|| {
        HfxError::invalid(
            "person.id_type",
            format!("{} is not an id type (01, 02, 03, 04, 99)", p.id_type),
        )
    })?;
    let id_number = validate_person_id("person.id_number", id_type, &p.id_number)?;
    let name = validate_name("person.name", &p.name)?;
    Ok(Person {
        id_type,
        id_number,
        name,
    })
}

pub use hfx_model::purpose::{legal_basis, purpose_from_name, purpose_name};

/// A purpose a request may name (see [`hfx_model::purpose`]).
pub(crate) fn check_purpose(v: i32) -> HfxResult<pb::Purpose> {
    hfx_model::purpose::Purpose::from_i32(v)
        .map(|p| p.wire)
        .ok_or_else(|| HfxError::invalid("purpose", format!("{v} is not a purpose")))
}

pub(crate) fn check_message_id(field: &str, s: &str) -> HfxResult<String> {
    let id = uuid::Uuid::parse_str(s)
        .map_err(|_| HfxError::invalid(field, format!("{s:?} is not a UUID")))?;
    if id.get_version_num() != 7 {
        return Err(HfxError::invalid(field, "must be a UUIDv7"));
    }
    Ok(id.hyphenated().to_string())
}

fn status_to_pb(s: AccountStatus) -> pb::AccountStatus {
    match s {
        AccountStatus::Normal => pb::AccountStatus::Normal,
        AccountStatus::Sealed => pb::AccountStatus::Sealed,
        AccountStatus::ClosedMerged => pb::AccountStatus::ClosedMerged,
        AccountStatus::ClosedTransferred => pb::AccountStatus::ClosedTransferred,
        AccountStatus::ClosedWithdrawn => pb::AccountStatus::ClosedWithdrawn,
        AccountStatus::Frozen => pb::AccountStatus::Frozen,
        AccountStatus::Other => pb::AccountStatus::Other,
    }
}

/// Continuous deposit months ending at the paid-up-to month: (start, end, count), over the
/// last ten years of postings (remittances and back payments).
pub(crate) async fn continuous_months(
    node: &Node,
    m: &Member,
) -> HfxResult<(YearMonth, YearMonth, u32)> {
    let end = m.paid_up_to;
    let from = end.add_months(-119);
    let deposits = node.core.deposits(&m.account_no, from, end).await?;
    let months: std::collections::BTreeSet<YearMonth> = deposits
        .iter()
        .filter(|d| {
            d.business_type == business_type::REMITTANCE
                || d.business_type == business_type::BACK_PAYMENT
        })
        .map(|d| d.for_month)
        .collect();
    let mut start = end;
    let mut n = 0;
    let mut cur = end;
    while months.contains(&cur) {
        start = cur;
        n += 1;
        cur = cur.add_months(-1);
    }
    Ok((start, end, n))
}

/// Cut the member down to the purpose's field set.
async fn view_for(
    node: &Node,
    purpose: pb::Purpose,
    m: &Member,
    person: &Person,
) -> HfxResult<pb::MemberView> {
    let live = !m.status.is_closed();
    let mut v = pb::MemberView {
        centre: node.centre.clone(),
        purpose: purpose as i32,
        ..Default::default()
    };
    match purpose {
        pb::Purpose::IdentityConfirmation => {
            v.live_account = Some(live);
            v.name_masked = Some(mask_name(&person.name));
        }
        pb::Purpose::DuplicateAccountCheck => {
            v.live_account = Some(live);
            v.status = Some(status_to_pb(m.status) as i32);
            v.opened_month = Some(YearMonth::of(m.opened_on).yyyymm());
        }
        pb::Purpose::TransferCheck => {
            let (_, _, n) = continuous_months(node, m).await?;
            v.live_account = Some(live);
            v.account_no = Some(m.account_no.clone());
            v.status = Some(status_to_pb(m.status) as i32);
            v.frozen = Some(m.status == AccountStatus::Frozen);
            v.opened_month = Some(YearMonth::of(m.opened_on).yyyymm());
            v.paid_up_to_month = Some(m.paid_up_to.yyyymm());
            v.balance_fen = Some(m.balance_fen);
            v.six_consecutive_months = Some(n >= 6);
        }
        pb::Purpose::LoanApplication => {
            if m.status.is_closed() {
                return Err(HfxError::account_closed(m.status.code()));
            }
            let (start, end, n) = continuous_months(node, m).await?;
            let loans = node
                .core
                .loans_of(person.id_type, &person.id_number)
                .await?;
            v.name_masked = Some(mask_name(&m.name));
            v.id_number_masked = Some(mask_id(&m.id_number));
            v.account_no = Some(m.account_no.clone());
            v.status = Some(status_to_pb(m.status) as i32);
            v.opened_date = Some(date_to_u32(m.opened_on));
            v.deposit_base_fen = Some(m.deposit_base_fen);
            v.employer_rate_bp = Some(m.employer.employer_rate_bp);
            v.member_rate_bp = Some(m.employer.member_rate_bp);
            v.monthly_amount_fen = Some(m.member_monthly_fen + m.employer_monthly_fen);
            v.balance_fen = Some(m.balance_fen);
            if n > 0 {
                v.continuous_start_month = Some(start.yyyymm());
                v.continuous_end_month = Some(end.yyyymm());
            }
            v.has_loan = Some(loans.iter().any(|l| l.loan.outstanding_fen > 0));
            v.loan_count = Some(loans.len() as u32);
            v.total_borrowed_fen = Some(loans.iter().map(|l| l.loan.contract_amount_fen).sum());
            v.outstanding_fen = Some(loans.iter().map(|l| l.loan.outstanding_fen).sum());
            v.employer_name = Some(m.employer.name.clone());
            v.paid_up_to_month = Some(m.paid_up_to.yyyymm());
        }
        pb::Purpose::LoanCheck => {
            let loans = node
                .core
                .loans_of(person.id_type, &person.id_number)
                .await?;
            v.has_loan = Some(loans.iter().any(|l| l.loan.outstanding_fen > 0));
            v.loan_count = Some(loans.len() as u32);
            v.outstanding_fen = Some(loans.iter().map(|l| l.loan.outstanding_fen).sum());
        }
        pb::Purpose::Unspecified => return Err(HfxError::invalid("purpose", "is required")),
    }
    Ok(v)
}

pub use hfx_tlog::methods::METHOD_QUERY;

/// The disclosure record of one exchange (a query, a loan check), as both sides keep it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn disclosure_op(
    direction: &str,
    peer: &str,
    acting: &str,
    purpose: pb::Purpose,
    outcome: &str,
    message_id: &str,
    subject: &Subject,
    log_index: LogLink,
) -> WriteOp {
    NewDisclosure {
        direction,
        peer,
        acting_person: acting,
        purpose: purpose_name(purpose),
        legal_basis: legal_basis(purpose),
        outcome,
        message_id,
        subject_masked: &subject.masked,
        log_index,
    }
    .op_for(subject.key.clone())
}

/// A peer's request as its handler first sees it: new (its header, with the message id
/// checked), or a retry of one already answered, whose stored reply goes back byte for byte.
pub(crate) enum Received<R> {
    New {
        header: pb::RequestHeader,
        message_id: String,
    },
    Retry(R),
}

/// The start every peer handler of a request/reply exchange shares: the header is required,
/// its message id valid, and a message answered before gets its stored reply.
pub(crate) async fn receive<R: Message + Default>(
    node: &Node,
    peer: &str,
    header: Option<&pb::RequestHeader>,
) -> HfxResult<Received<R>> {
    let header = header
        .cloned()
        .ok_or_else(|| HfxError::invalid("header", "is required"))?;
    let message_id = check_message_id("header.message_id", &header.message_id)?;
    if let Some((_, bytes)) = node.store.inbox_get(peer, &message_id).await? {
        return R::decode(bytes.as_slice())
            .map(Received::Retry)
            .map_err(|e| HfxError::internal_from("stored reply", e));
    }
    Ok(Received::New { header, message_id })
}

/// Peer side: another centre asks about a member of ours.
pub async fn answer_query(
    node: &Node,
    peer: &str,
    req: pb::PeerMemberQuery,
) -> HfxResult<pb::PeerMemberReply> {
    let (header, message_id) = match receive(node, peer, req.header.as_ref()).await? {
        Received::New { header, message_id } => (header, message_id),
        Received::Retry(reply) => return Ok(reply),
    };
    let purpose = check_purpose(header.purpose)?;
    let request_bytes = req.encode_to_vec();
    let request = Answered {
        peer,
        method: METHOD_QUERY,
        message_id: &message_id,
        header: &header,
        purpose,
        request_bytes: &request_bytes,
    };
    let (person, view) = match decide(node, peer, purpose, &req).await {
        Ok(x) => x,
        Err((outcome, err)) => {
            let subject = Subject::of_request(node, req.person.as_ref());
            request.record_refusal(node, &outcome, &subject).await;
            return Err(err);
        }
    };
    let reply_template = pb::PeerMemberReply {
        receipt: None,
        member: Some(view),
    };
    let appended = request
        .commit(node, &person.subject(node), move |receipt| {
            let mut r = reply_template.clone();
            r.receipt = Some(receipt);
            r.encode_to_vec()
        })
        .await?;
    let reply = pb::PeerMemberReply::decode(appended.as_slice())
        .map_err(|e| HfxError::internal_from("reply", e))?;
    tracing::info!(peer, purpose = purpose_name(purpose), subject = %person.masked(), "member disclosed");
    Ok(reply)
}

/// A request a peer sent us, as its answer or refusal is recorded: the request's log entry,
/// the disclosure record, and (answered) the reply kept for retries, all in one commit.
/// Member queries and loan checks record theirs alike.
pub(crate) struct Answered<'a> {
    pub peer: &'a str,
    /// The method the log names (`<method>#request`, `<method>#reply`).
    pub method: &'a str,
    pub message_id: &'a str,
    pub header: &'a pb::RequestHeader,
    pub purpose: pb::Purpose,
    pub request_bytes: &'a [u8],
}

impl Answered<'_> {
    fn request_op(&self) -> WriteOp {
        WriteOp::LogAppend {
            envelope: Envelope::draft(
                RECV,
                self.peer,
                self.message_id,
                &self.header.case_id,
                &format!("{}#request", self.method),
                self.request_bytes,
            ),
            payload: self.request_bytes.to_vec(),
        }
    }

    /// Record a refusal: the request's log entry and a `refused` disclosure with `outcome`.
    /// A failure to record is logged; the refusal stands.
    pub async fn record_refusal(&self, node: &Node, outcome: &str, subject: &Subject) {
        let ops = vec![
            self.request_op(),
            disclosure_op(
                "refused",
                self.peer,
                &self.header.acting_person,
                self.purpose,
                outcome,
                self.message_id,
                subject,
                LogLink::None,
            ),
        ];
        if let Err(e) = node.store.write(ops).await {
            tracing::error!(error = %e, method = self.method, "could not record a refusal");
        }
    }

    /// Log request and reply, record the `sent` disclosure and keep the reply for retries, in
    /// one commit; `reply` makes the reply's bytes given its receipt. The receipt names the
    /// request's log index, known only once appended: the writer appends the request first,
    /// then the reply, in the same transaction. Returns the reply's bytes (a concurrent
    /// duplicate's, if it won).
    pub async fn commit(
        &self,
        node: &Node,
        subject: &Subject,
        reply: impl Fn(pb::Receipt) -> Vec<u8> + Send + Sync + 'static,
    ) -> HfxResult<Vec<u8>> {
        self.commit_with(node, subject, Vec::new(), reply).await
    }

    /// As [`Self::commit`], with `extra` writes (e.g. a record of what was issued) in the
    /// same transaction.
    pub async fn commit_with(
        &self,
        node: &Node,
        subject: &Subject,
        extra: Vec<WriteOp>,
        reply: impl Fn(pb::Receipt) -> Vec<u8> + Send + Sync + 'static,
    ) -> HfxResult<Vec<u8>> {
        let (own, mid) = (node.centre.clone(), self.message_id.to_string());
        let mut ops = vec![disclosure_op(
            "sent",
            self.peer,
            &self.header.acting_person,
            self.purpose,
            "disclosed",
            self.message_id,
            subject,
            LogLink::ExchangeRequest,
        )];
        ops.extend(extra);
        let bytes = node
            .store
            .write_exchange(
                self.request_op(),
                self.peer,
                self.message_id,
                &self.header.case_id,
                self.method,
                move |a| {
                    reply(pb::Receipt {
                        centre: own.clone(),
                        log_index: a.index,
                        sequence: a.seq,
                        message_id: mid.clone(),
                    })
                },
                ops,
            )
            .await?;
        Ok(bytes)
    }
}

/// What the asking side records of one request it sent: the request's log entry, the
/// reply's (when one came) and a `received` disclosure with `outcome` (`received`, or
/// `failed: <reason>`). In this order: the reply's entry, if any, is the second.
#[allow(clippy::too_many_arguments)]
pub(crate) fn asked_ops(
    centre: &str,
    method: &str,
    message_id: &str,
    request_bytes: &[u8],
    reply_bytes: Option<Vec<u8>>,
    acting: &str,
    purpose: pb::Purpose,
    outcome: &str,
    subject: &Subject,
) -> Vec<WriteOp> {
    let mut ops = vec![WriteOp::LogAppend {
        envelope: Envelope::draft(
            SENT,
            centre,
            message_id,
            "",
            &format!("{method}#request"),
            request_bytes,
        ),
        payload: request_bytes.to_vec(),
    }];
    if let Some(reply) = reply_bytes {
        ops.push(WriteOp::LogAppend {
            envelope: Envelope::draft(
                RECV,
                centre,
                message_id,
                "",
                &format!("{method}#reply"),
                &reply,
            ),
            payload: reply,
        });
    }
    ops.push(disclosure_op(
        "received",
        centre,
        acting,
        purpose,
        outcome,
        message_id,
        subject,
        LogLink::None,
    ));
    ops
}

/// The refusal (in the message and the recorded outcome) of a request whose acting person is
/// not of the calling centre.
pub const ACTING_PERSON_FOREIGN: &str = "ACTING_PERSON_FOREIGN";

/// A node speaks only for its own people: an acting person (`centre/role/person`, as
/// [`Caller::label`] writes it) naming another centre than the authenticated caller's is
/// refused. (A value naming no centre at all is not checked here.)
pub(crate) fn foreign_acting_person(peer: &str, acting: &str) -> Option<HfxError> {
    let (centre, _) = acting.split_once('/')?;
    (centre != peer).then(|| {
        HfxError::refused(
            tonic::Code::PermissionDenied,
            ACTING_PERSON_FOREIGN,
            format!(
                "header.acting_person names a person of {centre:?}, but the request comes \
                 from centre {peer}; a node acts only for its own people"
            ),
        )
    })
}

/// Whether a peer's request may be answered at all: its acting person must be of the calling
/// centre, and the `[policy]` must let the peer ask this purpose, at this rate. An error
/// carries the outcome to record.
pub(crate) fn admit_request(
    node: &Node,
    peer: &str,
    purpose: pb::Purpose,
    acting: Option<&str>,
) -> Result<(), (String, HfxError)> {
    if let Some(e) = acting.and_then(|a| foreign_acting_person(peer, a)) {
        return Err((format!("refused: {ACTING_PERSON_FOREIGN}"), e));
    }
    if let Err(e) = node.admit(peer, purpose_name(purpose)) {
        let outcome = match &e {
            HfxError::PurposeNotAllowed { .. } => "refused: purpose not allowed".to_string(),
            other => format!("refused: {}", other.reason()),
        };
        return Err((outcome, e));
    }
    Ok(())
}

/// Policy, validation, lookup and minimisation; an error carries the outcome to record.
async fn decide(
    node: &Node,
    peer: &str,
    purpose: pb::Purpose,
    req: &pb::PeerMemberQuery,
) -> Result<(Person, pb::MemberView), (String, HfxError)> {
    let acting = req.header.as_ref().map(|h| h.acting_person.as_str());
    admit_request(node, peer, purpose, acting)?;
    let person = validate_person(req.person.as_ref())
        .map_err(|e| (format!("refused: {}", e.reason()), e))?;
    let found = find_member(
        node.core.as_ref(),
        person.id_type,
        &person.id_number,
        &person.name,
    )
    .await
    .map_err(|e| {
        let e = HfxError::from(e);
        (format!("failed: {}", e.reason()), e)
    })?;
    let member = match found {
        MemberMatch::Found(m) => m,
        MemberMatch::NotFound => return Err(("not found".into(), HfxError::MemberNotFound)),
        MemberMatch::NameMismatch => {
            return Err(("refused: name mismatch".into(), HfxError::NameMismatch));
        }
    };
    let view = view_for(node, purpose, &member, &person)
        .await
        .map_err(|e| (format!("refused: {}", e.reason()), e))?;
    Ok((person, view))
}

/// Local side: a clerk of ours asks another centre.
pub async fn ask(
    node: &Node,
    caller: &Caller,
    req: pb::LocalMemberQuery,
) -> HfxResult<pb::LocalMemberReply> {
    let centre = crate::directory::resolve_other_centre(
        &node.trust.directory(),
        &node.centre,
        "centre",
        &req.centre,
    )?;
    let person = validate_person(req.person.as_ref())?;
    let purpose = check_purpose(req.purpose)?;
    let message_id = if req.message_id.is_empty() {
        uuid::Uuid::now_v7().hyphenated().to_string()
    } else {
        check_message_id("message_id", &req.message_id)?
    };
    let acting = caller.label();
    let checkpoint_size = node.store.log().lock().await.size();
    let peer_req = pb::PeerMemberQuery {
        header: Some(pb::RequestHeader {
            message_id: message_id.clone(),
            case_id: String::new(),
            purpose: purpose as i32,
            acting_person: acting.clone(),
            sender_checkpoint_size: checkpoint_size,
            sent_at_unix_ms: crate::now_ms(),
        }),
        person: Some(pb::PersonKey {
            id_type: id_type_to_pb(person.id_type) as i32,
            id_number: person.id_number.clone(),
            name: person.name.clone(),
        }),
    };
    let request_bytes = peer_req.encode_to_vec();
    let channel = node.peers.channel(&centre)?;
    let mut client = pb::member_exchange_client::MemberExchangeClient::new(channel);
    let mut outcome = client.query_member(peer_req.clone()).await;
    if let Err(s) = &outcome
        && peer_unreachable(s)
    {
        // One retry with the same message id: the peer answers a duplicate from its inbox.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        outcome = client.query_member(peer_req).await;
    }
    match outcome {
        Ok(resp) => {
            let reply = resp.into_inner();
            let ops = asked_ops(
                &centre,
                METHOD_QUERY,
                &message_id,
                &request_bytes,
                Some(reply.encode_to_vec()),
                &acting,
                purpose,
                "received",
                &person.subject(node),
            );
            let appended = node.store.write(ops).await?;
            let local = appended.get(1).copied();
            tracing::info!(peer = %centre, purpose = purpose_name(purpose), subject = %person.masked(), "member query answered");
            Ok(pb::LocalMemberReply {
                member: reply.member,
                local_receipt: local.map(|a| pb::Receipt {
                    centre: node.centre.clone(),
                    log_index: a.index,
                    sequence: a.seq,
                    message_id: message_id.clone(),
                }),
                peer_receipt: reply.receipt,
            })
        }
        Err(status) => {
            let code = status.code();
            let reason = crate::error::reason_of(&status).unwrap_or_else(|| format!("{code:?}"));
            let ops = asked_ops(
                &centre,
                METHOD_QUERY,
                &message_id,
                &request_bytes,
                None,
                &acting,
                purpose,
                &format!("failed: {reason}"),
                &person.subject(node),
            );
            if let Err(e) = node.store.write(ops).await {
                tracing::error!(error = %e, "could not record a failed query");
            }
            tracing::info!(peer = %centre, reason = %reason, "member query failed");
            Err(peer_status_to_error(&centre, status))
        }
    }
}

/// Whether the call failed at the transport (connection refused, reset or closed under it,
/// broken pipe, GOAWAY) rather than being answered: tonic surfaces a connection that broke
/// mid-call as `Unknown: transport error`, not as `Unavailable`. A peer's own answer always
/// carries a reason, so a status with one is never a transport failure.
pub fn is_transport_failure(status: &tonic::Status) -> bool {
    use std::error::Error;
    if !matches!(
        status.code(),
        tonic::Code::Unknown | tonic::Code::Unavailable | tonic::Code::Internal
    ) || crate::error::reason_of(status).is_some()
    {
        return false;
    }
    let mut cur: Option<&(dyn Error + 'static)> = status.source();
    while let Some(e) = cur {
        if e.is::<tonic::transport::Error>() || e.is::<std::io::Error>() {
            return true;
        }
        cur = e.source();
    }
    false
}

/// The peer could not be reached or went away mid-call: worth one retry, and reported as
/// PEER_UNAVAILABLE.
fn peer_unreachable(status: &tonic::Status) -> bool {
    status.code() == tonic::Code::Unavailable || is_transport_failure(status)
}

/// Map a peer's answer onto our error, keeping its code and reason.
pub fn peer_status_to_error(centre: &str, status: tonic::Status) -> HfxError {
    let reason = crate::error::reason_of(&status);
    if is_transport_failure(&status) {
        return HfxError::PeerUnavailable {
            centre: centre.into(),
            detail: std::error::Error::source(&status)
                .map(crate::error::chain)
                .unwrap_or_else(|| status.message().to_string()),
        };
    }
    match (status.code(), reason.as_deref()) {
        (tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled, _) => {
            HfxError::PeerUnavailable {
                centre: centre.into(),
                detail: status.message().to_string(),
            }
        }
        (_, Some("MEMBER_NOT_FOUND")) => HfxError::MemberNotFound,
        (_, Some("NAME_MISMATCH")) => HfxError::NameMismatch,
        (code, reason) => {
            // The peer's message starts with its reason; do not repeat it.
            let msg = status.message();
            let msg = reason
                .and_then(|r| msg.strip_prefix(r))
                .map(|m| m.trim_start_matches(": "))
                .unwrap_or(msg);
            HfxError::FromPeer {
                centre: centre.into(),
                code,
                reason: reason.unwrap_or("PEER_ERROR").to_string(),
                message: msg.to_string(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broken(kind: std::io::ErrorKind) -> tonic::Status {
        tonic::Status::from_error(Box::new(std::io::Error::new(kind, "under the call")))
    }

    #[test]
    fn a_connection_broken_mid_call_is_the_peer_unavailable() {
        for kind in [
            std::io::ErrorKind::ConnectionReset,
            std::io::ErrorKind::BrokenPipe,
            std::io::ErrorKind::UnexpectedEof,
        ] {
            let s = broken(kind);
            assert_eq!(s.code(), tonic::Code::Unknown, "{s:?}");
            assert!(peer_unreachable(&s), "{kind:?}: worth the retry");
            let e = peer_status_to_error("110000000000002", s);
            assert_eq!(e.reason(), "PEER_UNAVAILABLE", "{kind:?}: {e}");
            assert_eq!(e.code(), tonic::Code::Unavailable);
        }
    }

    #[test]
    fn a_peers_answer_is_never_taken_for_a_transport_failure() {
        let answered = tonic::Status::from(HfxError::internal("x"));
        assert!(!is_transport_failure(&answered));
        let e = peer_status_to_error("110000000000002", answered);
        assert_eq!(
            (e.reason(), e.code()),
            ("PEER_ERROR", tonic::Code::Internal)
        );
        // No source, no reason: an opaque Unknown stays the peer's error.
        assert!(!is_transport_failure(&tonic::Status::unknown("odd")));
    }

    #[test]
    fn an_acting_person_must_be_of_the_calling_centre() {
        let a = "110000000000001";
        assert!(foreign_acting_person(a, &format!("{a}/clerk/c1")).is_none());
        let e = foreign_acting_person(a, "110000000000002/clerk/c1").expect("foreign");
        assert_eq!(e.code(), tonic::Code::PermissionDenied);
        assert_eq!(e.reason(), ACTING_PERSON_FOREIGN);
        assert!(e.to_string().contains("header.acting_person"), "{e}");
        let s = tonic::Status::from(e);
        assert!(s.message().starts_with(ACTING_PERSON_FOREIGN), "{s:?}");
    }
}
