//! The method names the log records in an entry's `msg_type` (`<method>#request`,
//! `<method>#reply`): the node writes them and the auditor's replay reads them, so they are
//! defined once, here.

/// A member query between centres.
pub const METHOD_QUERY: &str = "MemberExchange/QueryMember";

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
