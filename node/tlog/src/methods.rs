//! The method names the log records in an entry's `msg_type` (`<method>#request`,
//! `<method>#reply`): the node writes them and the auditor's replay reads them, so they are
//! defined once, here.

/// A member query between centres.
pub const METHOD_QUERY: &str = "MemberExchange/QueryMember";
/// A loan check (贷款核查) of one centre, part of a zone-wide check.
pub const METHOD_LOAN_CHECK: &str = "MemberExchange/LoanCheck";
/// The duplicate-account sweep's private set intersection (docs/duplicates.md).
pub const METHOD_DUP_OPEN: &str = "DuplicateExchange/OpenDupSession";
pub const METHOD_DUP_PAGE: &str = "DuplicateExchange/DupPopulationPage";
pub const METHOD_DUP_REBLIND: &str = "DuplicateExchange/DupReblind";

/// The request/reply exchanges each of which is a disclosure record on both sides: sent by
/// the answering side (refused when it did not answer), received by the asking side. Every
/// request message of these carries its `RequestHeader` as field 1, which is where replay
/// reads the purpose.
pub const DISCLOSING_EXCHANGES: &[&str] = &[
    METHOD_QUERY,
    crate::attest::METHOD_ISSUE,
    crate::attest::METHOD_STATUS,
    METHOD_LOAN_CHECK,
    METHOD_DUP_OPEN,
    METHOD_DUP_PAGE,
    METHOD_DUP_REBLIND,
];

/// The transfer exchange (DESIGN §4): destination → origin.
pub const METHOD_LETTER: &str = "TransferExchange/SendContactLetter";
pub const METHOD_CANCEL: &str = "TransferExchange/CancelLetter";
pub const METHOD_COMPLETION: &str = "TransferExchange/SendCompletion";
/// Origin → destination.
pub const METHOD_TRANSFER_OUT: &str = "TransferExchange/SendTransferOut";
pub const METHOD_REFUSAL: &str = "TransferExchange/SendRefusal";
pub const METHOD_PAYMENT: &str = "TransferExchange/SendPayment";
/// Either side, in doubt.
pub const METHOD_QUERY_CASE: &str = "TransferExchange/QueryCase";
