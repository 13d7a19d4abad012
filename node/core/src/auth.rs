//! Who is calling. The peer API admits only node certificates whose centre is in the
//! directory *and* whose fingerprint is the one the directory pins (a valid certificate for
//! centre X can never act as centre Y, nor can a stale one after rotation). The local API
//! admits only person certificates of this node's own centre.

use crate::error::HfxError;
use crate::tls::TlsConnectInfo;
use crate::trust::Trust;
use hfx_certs::{Identity, Role, cert_fingerprint, parse_identity};
use std::sync::Arc;
use tonic::{Request, Status};

/// The authenticated caller, put into request extensions by the interceptors.
#[derive(Debug, Clone)]
pub enum Caller {
    Peer {
        centre: String,
    },
    Person {
        centre: String,
        role: Role,
        person_id: String,
    },
}

impl Caller {
    /// "centre/role/person" for a person, the centre code for a peer.
    pub fn label(&self) -> String {
        match self {
            Caller::Peer { centre } => centre.clone(),
            Caller::Person {
                centre,
                role,
                person_id,
            } => format!("{centre}/{role}/{person_id}"),
        }
    }
}

fn identity_of<T>(req: &Request<T>) -> Result<(Identity, String), HfxError> {
    let info = req
        .extensions()
        .get::<TlsConnectInfo>()
        .ok_or_else(|| HfxError::Unauthenticated("no TLS connection information".into()))?;
    let cert = info
        .peer_certs
        .first()
        .ok_or_else(|| HfxError::Unauthenticated("no client certificate".into()))?;
    let id = parse_identity(cert).map_err(HfxError::Unauthenticated)?;
    Ok((id, cert_fingerprint(cert)))
}

/// Check a peer-API caller against the directory.
pub fn authenticate_peer<T>(trust: &Trust, req: &Request<T>) -> Result<Caller, HfxError> {
    let (id, fp) = identity_of(req)?;
    let centre = match id {
        Identity::Node { centre } => centre,
        Identity::Person { .. } => {
            return Err(HfxError::PermissionDenied(format!(
                "{id} is a person certificate; the peer API admits nodes only"
            )));
        }
    };
    let dir = trust.directory();
    let entry = dir.centre(&centre).ok_or_else(|| {
        HfxError::PermissionDenied(format!(
            "centre {centre} is not in directory version {}",
            dir.version
        ))
    })?;
    if entry.tls_fingerprint != fp {
        return Err(HfxError::PermissionDenied(format!(
            "certificate for centre {centre} is not the one directory version {} lists for it",
            dir.version
        )));
    }
    Ok(Caller::Peer { centre })
}

/// Check a local-API caller: a person of this centre.
pub fn authenticate_person<T>(own_centre: &str, req: &Request<T>) -> Result<Caller, HfxError> {
    let (id, _) = identity_of(req)?;
    match id {
        Identity::Person {
            centre,
            role,
            person_id,
        } if centre == own_centre => Ok(Caller::Person {
            centre,
            role,
            person_id,
        }),
        Identity::Person { centre, .. } => Err(HfxError::PermissionDenied(format!(
            "person certificate of centre {centre} cannot use the local API of {own_centre}"
        ))),
        Identity::Node { centre } => Err(HfxError::PermissionDenied(format!(
            "node certificate of {centre} cannot use the local API; use a person certificate"
        ))),
    }
}

pub use crate::error::REASON_CERTIFICATE_REVOKED;

/// Revocation on every call, not only at the handshake: the connection's certificate (read
/// once at accept) against the CRL in force (one hash lookup). Refused calls are
/// UNAUTHENTICATED with reason CERTIFICATE_REVOKED, logged here once with the serial.
fn refuse_revoked<T>(req: &Request<T>, face: &'static str) -> Result<(), Status> {
    let Some(cert) = req
        .extensions()
        .get::<TlsConnectInfo>()
        .and_then(TlsConnectInfo::revoked_cert)
    else {
        return Ok(());
    };
    let serial = cert.serial_hex();
    tracing::warn!(face, reason = REASON_CERTIFICATE_REVOKED, %serial, "call refused: certificate revoked");
    Err(HfxError::refused(
        tonic::Code::Unauthenticated,
        REASON_CERTIFICATE_REVOKED,
        format!("certificate serial {serial} is revoked by the CRL in force"),
    )
    .into())
}

pub fn peer_interceptor(
    trust: Arc<Trust>,
) -> impl FnMut(Request<()>) -> Result<Request<()>, Status> + Clone {
    move |mut req: Request<()>| {
        refuse_revoked(&req, "peer")?;
        let caller = authenticate_peer(&trust, &req).map_err(|e| {
            tracing::warn!(reason = e.reason(), error = %e, "peer call refused");
            Status::from(e)
        })?;
        req.extensions_mut().insert(caller);
        Ok(req)
    }
}

pub fn local_interceptor(
    own_centre: String,
) -> impl FnMut(Request<()>) -> Result<Request<()>, Status> + Clone {
    move |mut req: Request<()>| {
        refuse_revoked(&req, "local")?;
        let caller = authenticate_person(&own_centre, &req).map_err(|e| {
            tracing::warn!(reason = e.reason(), error = %e, "local call refused");
            Status::from(e)
        })?;
        req.extensions_mut().insert(caller);
        Ok(req)
    }
}

/// The caller put in by the interceptor.
pub fn caller<T>(req: &Request<T>) -> Result<Caller, HfxError> {
    req.extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| HfxError::Unauthenticated("no caller".into()))
}

/// What the local API's role table says about one method: put into the request by the
/// local API's gate (crate::server::local), read by [`authorize`].
#[derive(Debug, Clone, Copy)]
pub struct Grant {
    /// The full gRPC path, `/hfx.v1.Clerk/QueryMember`.
    pub method: &'static str,
    pub roles: &'static [Role],
}

/// The role check of the local API, before any handler: the authenticated caller must be a
/// person whose role the method's [`Grant`] names. No grant, no call (fail closed).
pub fn authorize<T>(req: &Request<T>) -> Result<Role, HfxError> {
    let Some(grant) = req.extensions().get::<Grant>().copied() else {
        return Err(HfxError::PermissionDenied(
            "this method is not in the local API's role table".into(),
        ));
    };
    match caller(req)? {
        Caller::Person { role, .. } if grant.roles.contains(&role) => Ok(role),
        Caller::Person { role, .. } => Err(HfxError::refused(
            tonic::Code::PermissionDenied,
            crate::error::REASON_ROLE_NOT_ALLOWED,
            format!(
                "role {role} may not call {}; see docs/roles.md",
                grant.method
            ),
        )),
        Caller::Peer { .. } => Err(HfxError::PermissionDenied(
            "peers cannot call the local API".into(),
        )),
    }
}

/// [`authorize`] as an interceptor step after [`local_interceptor`]: a refusal is logged
/// here, once, with who asked for what.
pub fn role_check(req: Request<()>) -> Result<Request<()>, Status> {
    if let Err(e) = authorize(&req) {
        let who = caller(&req).map(|c| c.label()).unwrap_or_default();
        let method = req.extensions().get::<Grant>().map(|g| g.method);
        tracing::warn!(reason = e.reason(), caller = %who, method, error = %e, "local call refused");
        return Err(Status::from(e));
    }
    Ok(req)
}

/// The peer centre put in by the peer interceptor.
pub fn peer_centre<T>(req: &Request<T>) -> Result<String, HfxError> {
    match caller(req)? {
        Caller::Peer { centre } => Ok(centre),
        Caller::Person { .. } => Err(HfxError::PermissionDenied("not a peer".into())),
    }
}
