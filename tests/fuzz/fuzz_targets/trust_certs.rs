//! What the node reads from certificate files and client certificates (certs pki.rs,
//! identity.rs, zonedir.rs; used by node/core trust.rs, tls.rs and auth.rs): the zone root's
//! public key from its PEM, PEM to DER, serial numbers, and the identity (centre, role,
//! person) a node or person certificate carries.
#![no_main]

use hfx_certs::{identity, pki, zonedir};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = identity::parse_identity(data);
    let _ = hfx_certs::cert_fingerprint(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = pki::root_public_key(text);
    let _ = zonedir::serial_of_pem(text);
    let _ = identity::parse_identity_uri(text);
    let _ = pki::SigningKeyPair::from_pem(text);
    if let Ok(der) = zonedir::pem_to_der(text) {
        let _ = identity::parse_identity(&der);
    }
});
