//! The one place domain errors become `tonic::Status`, each with a stable machine-readable
//! reason in the `hfx-reason` metadata key (and as the message prefix).
//!
//! Errors keep their source. Internal detail (database messages, core system messages,
//! internal failures) never crosses to the caller: the mapping logs it, once, and sends the
//! reason with a fixed text.

use tonic::{Code, Status};

/// Errors a request can end in. The reason strings are part of the API: never rename one.
#[derive(Debug, thiserror::Error)]
pub enum HfxError {
    #[error("{field}: {reason}")]
    InvalidArgument { field: String, reason: String },
    #[error("no member matches this id")]
    MemberNotFound,
    #[error("the name does not match the member with this id")]
    NameMismatch,
    #[error("{0}")]
    NotFound(String),
    #[error("caller is not authenticated: {0}")]
    Unauthenticated(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("purpose {purpose} is not allowed for centre {centre}")]
    PurposeNotAllowed { purpose: String, centre: String },
    #[error("peer {centre} is unavailable: {detail}")]
    PeerUnavailable { centre: String, detail: String },
    /// A peer refused; its code and stable reason are passed on unchanged.
    #[error("peer {centre}: {message}")]
    FromPeer {
        centre: String,
        code: Code,
        reason: String,
        message: String,
    },
    #[error("core system error")]
    Adapter(#[source] hfx_adapters::AdapterError),
    #[error("core system unavailable")]
    AdapterUnavailable(#[source] hfx_adapters::AdapterError),
    #[error("store error")]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    Unimplemented(String),
    /// A refusal with a reason of its own (e.g. ROLE_NOT_ALLOWED, ACTING_PERSON_FOREIGN,
    /// CERTIFICATE_REVOKED): the code and the stable reason are given where it is refused.
    #[error("{message}")]
    Refused {
        code: Code,
        reason: &'static str,
        message: String,
    },
    #[error("internal error: {context}")]
    Internal {
        context: String,
        #[source]
        source: Option<BoxError>,
    },
}

/// An error's message followed by its sources' (`a: b: c`), for logs and operators.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

/// Any error kept as a source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl HfxError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        HfxError::InvalidArgument {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// A refusal with its own code and stable reason.
    pub fn refused(code: Code, reason: &'static str, message: impl Into<String>) -> Self {
        HfxError::Refused {
            code,
            reason,
            message: message.into(),
        }
    }

    /// A member query for a purpose a closed account (status 03, 04, 05) cannot serve:
    /// FAILED_PRECONDITION with the stable reason [`REASON_ACCOUNT_CLOSED`], so a caller can
    /// tell it from other preconditions without reading the text.
    pub fn account_closed(status_code: &str) -> Self {
        Self::refused(
            Code::FailedPrecondition,
            REASON_ACCOUNT_CLOSED,
            format!(
                "account is closed (status {status_code}); a deposit-use certificate is refused for closed accounts"
            ),
        )
    }

    /// An internal failure of ours, described by `context`.
    pub fn internal(context: impl Into<String>) -> Self {
        HfxError::Internal {
            context: context.into(),
            source: None,
        }
    }

    /// An internal failure caused by `source`.
    pub fn internal_from(
        context: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        HfxError::Internal {
            context: context.into(),
            source: Some(Box::new(source)),
        }
    }

    /// Whether the caller may see this error's text: internal detail (database and core
    /// system messages, internal failures) stays in the node's log.
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            HfxError::Adapter(_)
                | HfxError::AdapterUnavailable(_)
                | HfxError::Store(_)
                | HfxError::Internal { .. }
        )
    }

    /// The message and its sources, for the node's log.
    pub fn detail(&self) -> String {
        chain(self)
    }

    /// Stable reason code.
    pub fn reason(&self) -> &'static str {
        match self {
            HfxError::InvalidArgument { .. } => "INVALID_FIELD",
            HfxError::MemberNotFound => "MEMBER_NOT_FOUND",
            HfxError::NameMismatch => "NAME_MISMATCH",
            HfxError::NotFound(_) => "NOT_FOUND",
            HfxError::Unauthenticated(_) => "UNAUTHENTICATED",
            HfxError::PermissionDenied(_) => "PERMISSION_DENIED",
            HfxError::PurposeNotAllowed { .. } => "PURPOSE_NOT_ALLOWED",
            HfxError::PeerUnavailable { .. } => "PEER_UNAVAILABLE",
            HfxError::FromPeer { .. } => "PEER_ERROR",
            HfxError::Adapter(_) => "CORE_SYSTEM_ERROR",
            HfxError::AdapterUnavailable(_) => "CORE_SYSTEM_UNAVAILABLE",
            HfxError::Store(_) => "STORE_ERROR",
            HfxError::FailedPrecondition(_) => "FAILED_PRECONDITION",
            HfxError::Unimplemented(_) => "UNIMPLEMENTED",
            HfxError::Internal { .. } => "INTERNAL",
            HfxError::Refused { reason, .. } => reason,
        }
    }

    pub fn code(&self) -> Code {
        match self {
            HfxError::InvalidArgument { .. } => Code::InvalidArgument,
            HfxError::MemberNotFound | HfxError::NotFound(_) => Code::NotFound,
            HfxError::NameMismatch | HfxError::FailedPrecondition(_) => Code::FailedPrecondition,
            HfxError::Unauthenticated(_) => Code::Unauthenticated,
            HfxError::PermissionDenied(_) | HfxError::PurposeNotAllowed { .. } => {
                Code::PermissionDenied
            }
            HfxError::PeerUnavailable { .. } | HfxError::AdapterUnavailable(_) => Code::Unavailable,
            HfxError::FromPeer { code, .. } => *code,
            HfxError::Adapter(_) | HfxError::Store(_) | HfxError::Internal { .. } => Code::Internal,
            HfxError::Unimplemented(_) => Code::Unimplemented,
            HfxError::Refused { code, .. } => *code,
        }
    }
}

pub const REASON_KEY: &str = "hfx-reason";

/// Reasons of the refusals gRPC itself makes before a handler runs, given to them by
/// crate::server::wire_errors (part of the API like the others: never rename one).
/// A request message larger than the node decodes (RESOURCE_EXHAUSTED).
pub const REASON_MESSAGE_TOO_LARGE: &str = "MESSAGE_TOO_LARGE";
/// Request bytes that are not a message of the method's type (INVALID_ARGUMENT).
pub const REASON_UNDECODABLE_MESSAGE: &str = "UNDECODABLE_MESSAGE";
/// A gRPC message frame with an invalid compression flag (INTERNAL, as the gRPC spec says).
pub const REASON_PROTOCOL_ERROR: &str = "PROTOCOL_ERROR";
/// A method this API does not have (UNIMPLEMENTED); the same reason as
/// [`HfxError::Unimplemented`].
pub const REASON_UNIMPLEMENTED: &str = "UNIMPLEMENTED";
/// A person whose role the method's row of docs/roles.md does not name (PERMISSION_DENIED).
pub const REASON_ROLE_NOT_ALLOWED: &str = "ROLE_NOT_ALLOWED";
/// A call on a connection whose certificate the CRL in force revokes (UNAUTHENTICATED).
pub const REASON_CERTIFICATE_REVOKED: &str = "CERTIFICATE_REVOKED";
/// A loan check's peer gave up: the deadline the asker sent had passed (DEADLINE_EXCEEDED).
pub const REASON_DEADLINE_PASSED: &str = "DEADLINE_PASSED";
/// A deposit-use certificate, or a member query for a purpose that needs a live account
/// (`loan_application`), asked for a closed account (FAILED_PRECONDITION).
pub const REASON_ACCOUNT_CLOSED: &str = "ACCOUNT_CLOSED";
/// A deposit-use certificate asked for a frozen account (FAILED_PRECONDITION).
pub const REASON_ACCOUNT_FROZEN: &str = "ACCOUNT_FROZEN";
/// A deposit-use certificate a peer sent that does not verify (FAILED_PRECONDITION).
pub const REASON_ATTESTATION_INVALID: &str = "ATTESTATION_INVALID";
/// A standby process of the centre: another holds the writer lease (UNAVAILABLE; the caller
/// tries the centre's next endpoint, docs/failover.md).
pub const REASON_NOT_WRITER: &str = "NOT_WRITER";
/// The node is in maintenance mode (`hfx node maintenance on`) (UNAVAILABLE).
pub const REASON_MAINTENANCE: &str = "MAINTENANCE";

impl From<HfxError> for Status {
    fn from(e: HfxError) -> Status {
        let reason = match &e {
            HfxError::FromPeer { reason, .. } => reason.as_str(),
            other => other.reason(),
        };
        if e.is_internal() {
            // Handled here, once: the detail (with its sources) goes to our log; the caller
            // gets the reason and this error's own fixed text, never a source's. An adapter
            // error is logged as its own chain (`core system error: database: <the database's
            // text>`), the database's text only there.
            let detail = match &e {
                HfxError::Adapter(a) | HfxError::AdapterUnavailable(a) => a.detail(),
                other => other.detail(),
            };
            match &e {
                HfxError::AdapterUnavailable(_) => {
                    tracing::warn!(reason, error = %detail, "request failed")
                }
                _ => tracing::error!(reason, error = %detail, "request failed"),
            }
        }
        let mut status = Status::new(e.code(), format!("{reason}: {e}"));
        if let Ok(v) = reason.parse() {
            status.metadata_mut().insert(REASON_KEY, v);
        }
        status
    }
}

impl From<hfx_adapters::AdapterError> for HfxError {
    fn from(e: hfx_adapters::AdapterError) -> Self {
        if e.is_unavailable() {
            HfxError::AdapterUnavailable(e)
        } else {
            HfxError::Adapter(e)
        }
    }
}

impl From<hfx_adapters::ids::IdError> for HfxError {
    fn from(e: hfx_adapters::ids::IdError) -> Self {
        match e {
            hfx_adapters::ids::IdError::Invalid { field, reason } => {
                HfxError::InvalidArgument { field, reason }
            }
        }
    }
}

/// The stable reason of a Status produced by [`HfxError`], if any.
pub fn reason_of(status: &Status) -> Option<String> {
    status
        .metadata()
        .get(REASON_KEY)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

pub type HfxResult<T> = Result<T, HfxError>;

#[cfg(test)]
mod tests;
