//! The one place domain errors become `tonic::Status`, each with a stable machine-readable
//! reason in the `hfx-reason` metadata key (and as the message prefix).

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
    #[error("core system error: {0}")]
    Adapter(String),
    #[error("core system unavailable: {0}")]
    AdapterUnavailable(String),
    #[error("store error: {0}")]
    Store(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    Unimplemented(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl HfxError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        HfxError::InvalidArgument {
            field: field.into(),
            reason: reason.into(),
        }
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
            HfxError::Internal(_) => "INTERNAL",
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
            HfxError::Adapter(_) | HfxError::Store(_) | HfxError::Internal(_) => Code::Internal,
            HfxError::Unimplemented(_) => Code::Unimplemented,
        }
    }
}

pub const REASON_KEY: &str = "hfx-reason";

impl From<HfxError> for Status {
    fn from(e: HfxError) -> Status {
        let reason = match &e {
            HfxError::FromPeer { reason, .. } => reason.as_str(),
            other => other.reason(),
        };
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
            HfxError::AdapterUnavailable(e.to_string())
        } else {
            HfxError::Adapter(e.to_string())
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

impl From<sqlx::Error> for HfxError {
    fn from(e: sqlx::Error) -> Self {
        HfxError::Store(e.to_string())
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

impl From<crate::store::StoreError> for HfxError {
    fn from(e: crate::store::StoreError) -> Self {
        HfxError::Store(e.to_string())
    }
}
