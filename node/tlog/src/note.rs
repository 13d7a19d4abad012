//! C2SP signed notes (<https://c2sp.org/signed-note>), checkpoints
//! (<https://c2sp.org/tlog-checkpoint>) and Ed25519 cosignatures
//! (<https://c2sp.org/tlog-cosignature>, `cosignature/v1`), with Ed25519 from `ring`.
//!
//! A signed note is its text (ending in a newline), a blank line, then one or more lines
//! `— <key name> <base64(key id ‖ signature)>` (U+2014 EM DASH, space). The key id is
//! `SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4]` with type 0x01 for Ed25519 note signatures and
//! 0x04 for timestamped Ed25519 cosignatures.
//!
//! Domain separation: a note signature (0x01) covers the note text; a cosignature (0x04) covers
//! `"cosignature/v1\ntime <t>\n" ‖ checkpoint text`. That message is never a valid checkpoint
//! (its second line is not a decimal size), so one key may both sign its own checkpoints (via
//! [`Checkpoint::sign`]) and cosign its peers'. Signing arbitrary text that starts with
//! `cosignature/v1` through [`sign_note`] with a witness key would break that separation: give
//! [`sign_note`] only texts the node composed itself.

use std::collections::HashSet;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::rand::SystemRandom;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use sha2::{Digest, Sha256};

use crate::merkle::Hash;

/// Signature type byte of Ed25519 note signatures.
pub const SIG_TYPE_ED25519: u8 = 0x01;
/// Signature type byte of timestamped Ed25519 cosignatures (`cosignature/v1`).
pub const SIG_TYPE_COSIGNATURE_V1: u8 = 0x04;
/// Most signature lines accepted in one note (the spec requires accepting at least 16).
pub const MAX_SIGNATURES: usize = 100;

const SIG_PREFIX: &str = "\u{2014} ";
const ED25519_SIG_LEN: usize = 64;
const TIMESTAMP_LEN: usize = 8;

/// Errors from keys, notes, checkpoints and cosignatures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("invalid key name {0:?}: must be non-empty, without spaces, control characters or '+'")]
    InvalidKeyName(String),
    #[error("invalid Ed25519 PKCS#8 private key")]
    InvalidPrivateKey,
    #[error("key generation failed: the system random source is unavailable")]
    KeyGeneration,
    #[error("malformed verifier key: {0}")]
    MalformedVerifierKey(&'static str),
    #[error("unsupported signature type 0x{0:02x} in verifier key")]
    UnsupportedKeyType(u8),
    #[error("verifier key id {found} does not match its name and key (computed {computed})")]
    KeyIdMismatch { found: String, computed: String },
    #[error("invalid note text: {0}")]
    InvalidText(&'static str),
    #[error("a note needs at least one and at most {MAX_SIGNATURES} signers")]
    SignerCount,
    #[error("malformed note: {0}")]
    MalformedNote(&'static str),
    #[error("malformed signature line: {0}")]
    MalformedSignatureLine(&'static str),
    #[error("signature by known key {name}+{key_id} does not verify")]
    InvalidSignature { name: String, key_id: String },
    #[error("note has no verified signature from a known key")]
    NoKnownSignature,
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(&'static str),
    #[error("malformed cosignature: {0}")]
    MalformedCosignature(&'static str),
    #[error("cosignature line is not from witness {0} (name or key id differs)")]
    CosignatureKeyMismatch(String),
    #[error("cosignature by {0} does not verify for this checkpoint")]
    InvalidCosignature(String),
}

/// `SHA-256(name ‖ 0x0A ‖ sig_type ‖ public_key)[:4]`.
pub fn key_id(name: &str, sig_type: u8, public_key: &[u8]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([sig_type]);
    h.update(public_key);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// Key id of a witness's Ed25519 cosignatures (signature type 0x04).
pub fn cosigner_key_id(name: &str, public_key: &[u8; 32]) -> [u8; 4] {
    key_id(name, SIG_TYPE_COSIGNATURE_V1, public_key)
}

/// Key names: non-empty, no Unicode white space, no '+', and (as they go into notes) no ASCII
/// control characters.
fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c < ' ')
}

fn check_name(name: &str) -> Result<(), NoteError> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(NoteError::InvalidKeyName(name.to_owned()))
    }
}

/// ASCII control characters other than newline, forbidden anywhere in a note. (UTF-8
/// continuation bytes are all >= 0x80, so a byte scan is exact.)
fn has_forbidden_control(s: &str) -> bool {
    s.bytes().any(|b| b < 0x20 && b != b'\n')
}

fn format_vkey(name: &str, sig_type: u8, public_key: &[u8; 32]) -> String {
    let mut material = Vec::with_capacity(33);
    material.push(sig_type);
    material.extend_from_slice(public_key);
    format!(
        "{name}+{}+{}",
        hex::encode(key_id(name, sig_type, public_key)),
        STANDARD.encode(material)
    )
}

/// Parses `name+hexkeyid+base64(type ‖ key)` for an Ed25519 key of type 0x01 or 0x04, checking
/// the key id.
fn parse_vkey(vkey: &str) -> Result<(String, u8, [u8; 32]), NoteError> {
    let (name, rest) = vkey
        .split_once('+')
        .ok_or(NoteError::MalformedVerifierKey("expected name+keyid+key"))?;
    let (id_hex, key_b64) = rest
        .split_once('+')
        .ok_or(NoteError::MalformedVerifierKey("expected name+keyid+key"))?;
    check_name(name)?;
    if id_hex.len() != 8 || !id_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(NoteError::MalformedVerifierKey(
            "key id must be 8 hex digits",
        ));
    }
    let found: [u8; 4] = hex::decode(id_hex)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(NoteError::MalformedVerifierKey(
            "key id must be 8 hex digits",
        ))?;
    let material = STANDARD
        .decode(key_b64)
        .map_err(|_| NoteError::MalformedVerifierKey("key is not valid base64"))?;
    let (&sig_type, key) = material
        .split_first()
        .ok_or(NoteError::MalformedVerifierKey("empty key"))?;
    if sig_type != SIG_TYPE_ED25519 && sig_type != SIG_TYPE_COSIGNATURE_V1 {
        return Err(NoteError::UnsupportedKeyType(sig_type));
    }
    let public_key: [u8; 32] = key
        .try_into()
        .map_err(|_| NoteError::MalformedVerifierKey("Ed25519 public key must be 32 bytes"))?;
    let computed = key_id(name, sig_type, &public_key);
    if computed != found {
        return Err(NoteError::KeyIdMismatch {
            found: hex::encode(found),
            computed: hex::encode(computed),
        });
    }
    Ok((name.to_owned(), sig_type, public_key))
}

/// Parses a witness (cosigner) verifier key: `name+keyid+base64(0x04 ‖ key)`. A plain Ed25519
/// note key (type 0x01, its key id checked as such) of the same witness is accepted too, as
/// transparency-dev/formats does; either way cosignatures carry the 0x04 key id.
pub fn parse_cosigner_key(vkey: &str) -> Result<(String, [u8; 32]), NoteError> {
    let (name, _, public_key) = parse_vkey(vkey)?;
    Ok((name, public_key))
}

fn ed25519_verify(public_key: &[u8; 32], msg: &[u8], sig: &[u8]) -> bool {
    sig.len() == ED25519_SIG_LEN
        && UnparsedPublicKey::new(&ED25519, public_key)
            .verify(msg, sig)
            .is_ok()
}

/// `— name base64(parts…)\n`
fn signature_line(name: &str, parts: &[&[u8]]) -> String {
    format!("{SIG_PREFIX}{name} {}\n", STANDARD.encode(parts.concat()))
}

/// A parsed signature line (without its newline): name, key id, signature bytes.
fn parse_signature_line(line: &str) -> Result<(&str, [u8; 4], Vec<u8>), NoteError> {
    let rest = line
        .strip_prefix(SIG_PREFIX)
        .ok_or(NoteError::MalformedSignatureLine(
            "must start with an em dash (U+2014) and a space",
        ))?;
    let (name, b64) = rest
        .split_once(' ')
        .ok_or(NoteError::MalformedSignatureLine(
            "expected a key name and a signature",
        ))?;
    if !is_valid_name(name) {
        return Err(NoteError::MalformedSignatureLine("invalid key name"));
    }
    let raw = STANDARD
        .decode(b64)
        .map_err(|_| NoteError::MalformedSignatureLine("signature is not valid base64"))?;
    if raw.len() < 5 {
        return Err(NoteError::MalformedSignatureLine("signature too short"));
    }
    let (id, sig) = raw.split_at(4);
    Ok((name, [id[0], id[1], id[2], id[3]], sig.to_vec()))
}

/// An Ed25519 note signer: a key name and a `ring` key pair.
pub struct NoteSigner {
    name: String,
    key_pair: Ed25519KeyPair,
    public_key: [u8; 32],
    key_id: [u8; 4],
}

impl std::fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_id", &hex::encode(self.key_id))
            .finish_non_exhaustive()
    }
}

impl NoteSigner {
    /// A new Ed25519 private key as PKCS#8 v2 DER (secret: store it as such).
    pub fn generate_pkcs8() -> Result<Vec<u8>, NoteError> {
        Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map(|doc| doc.as_ref().to_vec())
            .map_err(|_| NoteError::KeyGeneration)
    }

    /// A signer named `name` from an Ed25519 PKCS#8 key (v2 as from [`generate_pkcs8`], or v1
    /// as from `openssl genpkey -algorithm ed25519`).
    ///
    /// [`generate_pkcs8`]: NoteSigner::generate_pkcs8
    pub fn from_pkcs8(name: &str, der: &[u8]) -> Result<Self, NoteError> {
        check_name(name)?;
        let key_pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map_err(|_| NoteError::InvalidPrivateKey)?;
        let public_key: [u8; 32] = key_pair
            .public_key()
            .as_ref()
            .try_into()
            .map_err(|_| NoteError::InvalidPrivateKey)?;
        Ok(Self {
            name: name.to_owned(),
            key_id: key_id(name, SIG_TYPE_ED25519, &public_key),
            key_pair,
            public_key,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Note key id (signature type 0x01).
    pub fn key_id(&self) -> [u8; 4] {
        self.key_id
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.public_key
    }

    /// `name+hexkeyid+base64(0x01 ‖ public key)`.
    pub fn verifier_key(&self) -> String {
        format_vkey(&self.name, SIG_TYPE_ED25519, &self.public_key)
    }

    /// The witness form of the key, `name+hexkeyid+base64(0x04 ‖ public key)`, with the
    /// cosignature key id.
    pub fn cosigner_key(&self) -> String {
        format_vkey(&self.name, SIG_TYPE_COSIGNATURE_V1, &self.public_key)
    }

    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            public_key: self.public_key,
            key_id: self.key_id,
        }
    }

    fn sign(&self, msg: &[u8]) -> ring::signature::Signature {
        self.key_pair.sign(msg)
    }
}

/// An Ed25519 note verifier (signature type 0x01).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    public_key: [u8; 32],
    key_id: [u8; 4],
}

impl NoteVerifier {
    pub fn new(name: &str, public_key: [u8; 32]) -> Result<Self, NoteError> {
        check_name(name)?;
        Ok(Self {
            name: name.to_owned(),
            key_id: key_id(name, SIG_TYPE_ED25519, &public_key),
            public_key,
        })
    }

    /// Parses a verifier key `name+hexkeyid+base64(0x01 ‖ public key)`, checking the key id.
    pub fn parse(vkey: &str) -> Result<Self, NoteError> {
        let (name, sig_type, public_key) = parse_vkey(vkey)?;
        if sig_type != SIG_TYPE_ED25519 {
            return Err(NoteError::UnsupportedKeyType(sig_type));
        }
        Self::new(&name, public_key)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> [u8; 4] {
        self.key_id
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.public_key
    }

    pub fn verifier_key(&self) -> String {
        format_vkey(&self.name, SIG_TYPE_ED25519, &self.public_key)
    }

    /// Whether `sig` is this key's Ed25519 signature of `text`.
    pub fn verify(&self, text: &[u8], sig: &[u8]) -> bool {
        ed25519_verify(&self.public_key, text, sig)
    }
}

fn check_text(text: &str) -> Result<(), NoteError> {
    if text.is_empty() {
        return Err(NoteError::InvalidText("empty"));
    }
    if !text.ends_with('\n') {
        return Err(NoteError::InvalidText("must end with a newline"));
    }
    if has_forbidden_control(text) {
        return Err(NoteError::InvalidText(
            "contains control characters other than newline",
        ));
    }
    Ok(())
}

/// Signs `text` (non-empty, ending in "\n", no control characters but newline): returns
/// `text ‖ "\n" ‖` one signature line per signer.
pub fn sign_note(text: &str, signers: &[&NoteSigner]) -> Result<String, NoteError> {
    check_text(text)?;
    if signers.is_empty() || signers.len() > MAX_SIGNATURES {
        return Err(NoteError::SignerCount);
    }
    let mut note = String::with_capacity(text.len() + 1 + signers.len() * 128);
    note.push_str(text);
    note.push('\n');
    for signer in signers {
        let sig = signer.sign(text.as_bytes());
        note.push_str(&signature_line(
            &signer.name,
            &[&signer.key_id, sig.as_ref()],
        ));
    }
    Ok(note)
}

/// One signature line of an opened note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    pub name: String,
    pub key_id: [u8; 4],
    /// The signature bytes after the key id.
    pub signature: Vec<u8>,
    /// Index, in the verifiers given to [`open_note`], of the known key whose valid signature
    /// this is; `None` for a signature by an unknown key (kept, not verified).
    pub verifier: Option<usize>,
    /// The raw line, without its newline.
    pub line: String,
}

/// A note whose signatures were checked by [`open_note`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedNote {
    /// The signed text, including its final newline.
    pub text: String,
    /// Signature lines in order (exact duplicates dropped).
    pub signatures: Vec<NoteSignature>,
}

impl OpenedNote {
    /// Signatures verified by a known key.
    pub fn verified(&self) -> impl Iterator<Item = &NoteSignature> {
        self.signatures.iter().filter(|s| s.verifier.is_some())
    }

    /// Signatures by unknown keys (e.g. cosignatures), not verified.
    pub fn unverified(&self) -> impl Iterator<Item = &NoteSignature> {
        self.signatures.iter().filter(|s| s.verifier.is_none())
    }

    /// Whether `verifier`'s key produced a verified signature here.
    pub fn is_signed_by(&self, verifier: &NoteVerifier) -> bool {
        self.verified()
            .any(|s| s.name == verifier.name && s.key_id == verifier.key_id)
    }

    /// The note again: text, blank line, signature lines.
    pub fn to_note(&self) -> String {
        let mut note = self.text.clone();
        note.push('\n');
        for s in &self.signatures {
            note.push_str(&s.line);
            note.push('\n');
        }
        note
    }

    /// The note with extra signature lines (e.g. cosignatures) appended; each must be a
    /// well-formed signature line (trailing newline optional). Lines already present are skipped.
    /// The new lines are not verified here.
    pub fn with_signature_lines(&self, lines: &[&str]) -> Result<String, NoteError> {
        let mut note = self.to_note();
        let mut seen: HashSet<&str> = self.signatures.iter().map(|s| s.line.as_str()).collect();
        for line in lines {
            let line = line.strip_suffix('\n').unwrap_or(line);
            if line.contains('\n') || has_forbidden_control(line) {
                return Err(NoteError::MalformedSignatureLine("must be a single line"));
            }
            parse_signature_line(line)?;
            if seen.insert(line) {
                if seen.len() > MAX_SIGNATURES {
                    return Err(NoteError::MalformedNote("too many signatures"));
                }
                note.push_str(line);
                note.push('\n');
            }
        }
        Ok(note)
    }
}

/// Opens a signed note: parses it strictly, verifies every signature whose key name and id match
/// a verifier (any failure refuses the whole note), keeps the others unverified, and requires at
/// least one verified signature.
pub fn open_note(note: &str, verifiers: &[NoteVerifier]) -> Result<OpenedNote, NoteError> {
    if has_forbidden_control(note) {
        return Err(NoteError::MalformedNote(
            "contains control characters other than newline",
        ));
    }
    let split = note.rfind("\n\n").ok_or(NoteError::MalformedNote(
        "no blank line between text and signatures",
    ))?;
    let text = &note[..split + 1];
    let block = &note[split + 2..];
    let block = block.strip_suffix('\n').ok_or(NoteError::MalformedNote(
        "missing signatures or final newline",
    ))?;

    let mut signatures = Vec::new();
    let mut seen = HashSet::new();
    for (n, line) in block.split('\n').enumerate() {
        if n >= MAX_SIGNATURES {
            return Err(NoteError::MalformedNote("too many signatures"));
        }
        let (name, key_id, signature) = parse_signature_line(line)?;
        if !seen.insert(line) {
            continue;
        }
        let verifier = verifiers
            .iter()
            .position(|v| v.name == name && v.key_id == key_id);
        if let Some(i) = verifier
            && !verifiers[i].verify(text.as_bytes(), &signature)
        {
            return Err(NoteError::InvalidSignature {
                name: name.to_owned(),
                key_id: hex::encode(key_id),
            });
        }
        signatures.push(NoteSignature {
            name: name.to_owned(),
            key_id,
            signature,
            verifier,
            line: line.to_owned(),
        });
    }
    if !signatures.iter().any(|s| s.verifier.is_some()) {
        return Err(NoteError::NoKnownSignature);
    }
    Ok(OpenedNote {
        text: text.to_owned(),
        signatures,
    })
}

/// A tlog checkpoint: the note text `origin\nsize\nbase64(root)\n` plus optional extension lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    pub extensions: Vec<String>,
}

impl Checkpoint {
    pub fn new(origin: impl Into<String>, size: u64, root: Hash) -> Self {
        Self {
            origin: origin.into(),
            size,
            root,
            extensions: Vec::new(),
        }
    }

    /// The note text. Use [`Checkpoint::sign`], which checks the fields, to sign it.
    pub fn to_text(&self) -> String {
        let mut text = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        );
        for ext in &self.extensions {
            text.push_str(ext);
            text.push('\n');
        }
        text
    }

    /// Strict parse of a checkpoint note text: non-empty origin, decimal size without leading
    /// zeros, base64 of exactly 32 bytes for the root, non-empty extension lines, final newline,
    /// no control characters but newlines.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        if has_forbidden_control(text) {
            return Err(NoteError::MalformedCheckpoint(
                "contains control characters",
            ));
        }
        let body = text
            .strip_suffix('\n')
            .ok_or(NoteError::MalformedCheckpoint("must end with a newline"))?;
        let mut lines = body.split('\n');
        let origin = lines
            .next()
            .filter(|l| !l.is_empty())
            .ok_or(NoteError::MalformedCheckpoint("empty origin"))?;
        let size = lines
            .next()
            .ok_or(NoteError::MalformedCheckpoint("missing tree size"))
            .and_then(parse_size)?;
        let root: Hash = lines
            .next()
            .and_then(|l| STANDARD.decode(l).ok())
            .and_then(|b| b.try_into().ok())
            .ok_or(NoteError::MalformedCheckpoint(
                "root hash must be base64 of 32 bytes",
            ))?;
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(NoteError::MalformedCheckpoint("empty extension line"));
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }

    /// Signs the checkpoint after checking that its text parses back to it (so an origin or
    /// extension holding a newline cannot forge extra lines).
    pub fn sign(&self, signers: &[&NoteSigner]) -> Result<String, NoteError> {
        let text = self.to_text();
        if Self::parse(&text)? != *self {
            return Err(NoteError::MalformedCheckpoint(
                "fields do not survive a round trip",
            ));
        }
        sign_note(&text, signers)
    }

    /// Opens a signed checkpoint note ([`open_note`]) and parses its text.
    pub fn open(note: &str, verifiers: &[NoteVerifier]) -> Result<(Self, OpenedNote), NoteError> {
        let opened = open_note(note, verifiers)?;
        Ok((Self::parse(&opened.text)?, opened))
    }
}

fn parse_size(line: &str) -> Result<u64, NoteError> {
    if line.is_empty()
        || !line.bytes().all(|b| b.is_ascii_digit())
        || (line.len() > 1 && line.starts_with('0'))
    {
        return Err(NoteError::MalformedCheckpoint(
            "tree size must be decimal without leading zeros",
        ));
    }
    line.parse()
        .map_err(|_| NoteError::MalformedCheckpoint("tree size out of range"))
}

/// The message an Ed25519 `cosignature/v1` signs.
fn cosignature_message(timestamp: u64, checkpoint_text: &str) -> String {
    format!("cosignature/v1\ntime {timestamp}\n{checkpoint_text}")
}

/// Cosigns `checkpoint_text` (the whole checkpoint note text, extension lines included, without
/// signature lines) as witness at `timestamp_unix` (POSIX seconds, at most 2^63 - 1).
///
/// Returns the signature line, ending in "\n":
/// `— <witness name> base64(key id (type 0x04) ‖ timestamp (u64 BE) ‖ Ed25519 signature)`,
/// the signature covering `"cosignature/v1\ntime <timestamp>\n" ‖ checkpoint_text`.
/// The caller must have checked the checkpoint's consistency before cosigning.
pub fn cosign(
    witness: &NoteSigner,
    checkpoint_text: &str,
    timestamp_unix: u64,
) -> Result<String, NoteError> {
    Checkpoint::parse(checkpoint_text)?;
    if timestamp_unix > i64::MAX as u64 {
        return Err(NoteError::MalformedCosignature(
            "timestamp exceeds 2^63 - 1",
        ));
    }
    let sig = witness.sign(cosignature_message(timestamp_unix, checkpoint_text).as_bytes());
    let id = cosigner_key_id(&witness.name, &witness.public_key);
    Ok(signature_line(
        &witness.name,
        &[&id, &timestamp_unix.to_be_bytes(), sig.as_ref()],
    ))
}

/// Verifies a `cosignature/v1` line (trailing newline optional) by the witness `witness_name`
/// with Ed25519 key `witness_pubkey` over `checkpoint_text`; returns its timestamp.
pub fn verify_cosignature(
    witness_name: &str,
    witness_pubkey: &[u8; 32],
    checkpoint_text: &str,
    line: &str,
) -> Result<u64, NoteError> {
    let line = line.strip_suffix('\n').unwrap_or(line);
    if line.contains('\n') {
        return Err(NoteError::MalformedSignatureLine("must be a single line"));
    }
    let (name, id, payload) = parse_signature_line(line)?;
    if name != witness_name || id != cosigner_key_id(witness_name, witness_pubkey) {
        return Err(NoteError::CosignatureKeyMismatch(witness_name.to_owned()));
    }
    if payload.len() != TIMESTAMP_LEN + ED25519_SIG_LEN {
        return Err(NoteError::MalformedCosignature(
            "expected an 8-byte timestamp and a 64-byte signature",
        ));
    }
    let (ts, sig) = payload.split_at(TIMESTAMP_LEN);
    let mut ts_bytes = [0u8; TIMESTAMP_LEN];
    ts_bytes.copy_from_slice(ts);
    let timestamp = u64::from_be_bytes(ts_bytes);
    if timestamp > i64::MAX as u64 {
        return Err(NoteError::MalformedCosignature(
            "timestamp exceeds 2^63 - 1",
        ));
    }
    Checkpoint::parse(checkpoint_text)?;
    let msg = cosignature_message(timestamp, checkpoint_text);
    if !ed25519_verify(witness_pubkey, msg.as_bytes(), sig) {
        return Err(NoteError::InvalidCosignature(witness_name.to_owned()));
    }
    Ok(timestamp)
}

#[cfg(test)]
mod tests;
