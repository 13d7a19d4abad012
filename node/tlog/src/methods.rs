//! The method names the log records in an entry's `msg_type` (`<method>#request`,
//! `<method>#reply`): the node writes them and the auditor's replay reads them, so they are
//! defined once, here.

/// A member query between centres.
pub const METHOD_QUERY: &str = "MemberExchange/QueryMember";
