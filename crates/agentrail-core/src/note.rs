//! C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys (signature type `0x01`).
//!
//! This module owns the note wire format (text, blank line, `— <name> <base64>` signature
//! lines), the Go-compatible key encodings (`PRIVATE+KEY+<name>+<id>+<key>` and
//! `<name>+<id>+<key>`), key IDs, signing and verification. It is byte-compatible with
//! golang.org/x/mod/sumdb/note and tested against its published vectors.
//!
//! It must never trust note text before a known key's signature over it has verified, never
//! generate key material (seeds come from the caller, so this crate needs no randomness), and
//! never read keys from anywhere but its arguments.

use std::fmt;

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::hash::{b64, b64_decode, from_hex};

/// Signature type byte of Ed25519 keys and signatures in signed notes.
const ALG_ED25519: u8 = 0x01;

/// Most signature lines a note may carry. C2SP requires accepting at least 16; Go allows 100.
pub const MAX_SIGNATURES: usize = 100;

/// The prefix of every signature line: U+2014 EM DASH and a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// Why a key or a note was rejected.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoteError {
    /// A key string does not have the expected shape or contents.
    #[error("malformed key: {0}")]
    MalformedKey(String),
    /// A key uses a signature type other than Ed25519.
    #[error("unsupported key algorithm 0x{0:02x}; only ed25519 (0x01) keys are supported")]
    UnsupportedAlgorithm(u8),
    /// The key ID written in a key string is not the ID of the key it holds.
    #[error("key id {stated:08x} of key {name} does not match its key (whose id is {computed:08x}); the key string is corrupt")]
    KeyIdMismatch {
        /// The key name.
        name: String,
        /// The ID written in the key string.
        stated: u32,
        /// The ID computed from the name and key.
        computed: u32,
    },
    /// A key name is empty or contains a space, a `+` or a control character.
    #[error("invalid key name {0:?}: a key name must be non-empty and contain no spaces, '+' or control characters")]
    InvalidName(String),
    /// Text to be signed is not valid note text.
    #[error("cannot sign this text: {0}")]
    InvalidText(String),
    /// A signed note does not follow the C2SP format.
    #[error("malformed note: {0}")]
    MalformedNote(String),
    /// No signature by any of the given keys was found.
    #[error("note has no signature from a known key; check that the verifier key is the one that signs these notes")]
    UnverifiedNote,
    /// A signature by a known key (name and ID match) failed to verify.
    #[error("invalid signature for key {name}+{key_id:08x}")]
    InvalidSignature {
        /// The key name.
        name: String,
        /// The key ID.
        key_id: u32,
    },
    /// Two of the given verifiers share a name and key ID, so a signature cannot be attributed.
    #[error("ambiguous key {name}+{key_id:08x}: more than one verifier has this name and id")]
    AmbiguousKey {
        /// The key name.
        name: String,
        /// The key ID.
        key_id: u32,
    },
}

/// The key ID of a key: the first 4 bytes, big-endian, of SHA-256(name || 0x0A || alg || key).
///
/// `alg_and_key` is the signature type byte followed by the public key (`0x01` and 32 bytes for
/// Ed25519).
pub fn key_id(name: &str, alg_and_key: &[u8]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update(alg_and_key);
    let sum = h.finalize();
    u32::from_be_bytes([sum[0], sum[1], sum[2], sum[3]])
}

/// A key name as C2SP allows it: non-empty, no Unicode spaces, no `+`.
fn is_spec_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(|c: char| c.is_whitespace() || c == '+')
}

/// A name agentrail accepts for its own keys: a spec name with no control characters either.
fn check_key_name(name: &str) -> Result<(), NoteError> {
    if is_spec_name(name) && !name.contains(char::is_control) {
        Ok(())
    } else {
        Err(NoteError::InvalidName(name.to_owned()))
    }
}

/// Parses the 8-hex-digit key ID field of a key string.
fn parse_key_id(hex8: &str) -> Result<u32, NoteError> {
    let bytes = (hex8.len() == 8)
        .then(|| from_hex(hex8))
        .flatten()
        .ok_or_else(|| NoteError::MalformedKey(format!("key id {hex8:?} is not 8 hex digits")))?;
    Ok(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// Decodes `base64(0x01 || 32 bytes)`, the key field of both key strings.
fn parse_key_material(b64_key: &str) -> Result<[u8; 32], NoteError> {
    let raw = b64_decode(b64_key)
        .ok_or_else(|| NoteError::MalformedKey("key is not valid base64".to_owned()))?;
    let (&alg, key) = raw
        .split_first()
        .ok_or_else(|| NoteError::MalformedKey("key is empty".to_owned()))?;
    if alg != ALG_ED25519 {
        return Err(NoteError::UnsupportedAlgorithm(alg));
    }
    key.try_into().map_err(|_| {
        NoteError::MalformedKey(format!(
            "an ed25519 key has 32 bytes after the algorithm byte, got {}",
            key.len()
        ))
    })
}

fn alg_and_key(public: &VerifyingKey) -> [u8; 33] {
    let mut out = [0u8; 33];
    out[0] = ALG_ED25519;
    out[1..].copy_from_slice(public.as_bytes());
    out
}

/// A private Ed25519 note-signing key with its name.
#[derive(Clone)]
pub struct Signer {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret key.
        f.debug_struct("Signer")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer for `name` from a 32-byte Ed25519 seed (the RFC 8032 private key).
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Self, NoteError> {
        check_key_name(name)?;
        let key = SigningKey::from_bytes(&seed);
        let key_id = key_id(name, &alg_and_key(&key.verifying_key()));
        Ok(Self {
            name: name.to_owned(),
            key_id,
            key,
        })
    }

    /// Parses `PRIVATE+KEY+<name>+<hex8 key id>+<base64(0x01 || seed)>`, checking that the key ID
    /// is the ID of the derived public key.
    pub fn from_skey(skey: &str) -> Result<Self, NoteError> {
        // The base64 key may itself contain '+': split on the first four only.
        let mut parts = skey.splitn(5, '+');
        let (Some("PRIVATE"), Some("KEY"), Some(name), Some(hex8), Some(key64)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(NoteError::MalformedKey(
                "a signer key has the form PRIVATE+KEY+<name>+<key id>+<key>".to_owned(),
            ));
        };
        check_key_name(name)?;
        let stated = parse_key_id(hex8)?;
        let seed = parse_key_material(key64)?;
        let signer = Self::from_seed(name, seed)?;
        if signer.key_id != stated {
            return Err(NoteError::KeyIdMismatch {
                name: name.to_owned(),
                stated,
                computed: signer.key_id,
            });
        }
        Ok(signer)
    }

    /// The signer key string, `PRIVATE+KEY+<name>+<hex8 key id>+<base64(0x01 || seed)>`.
    ///
    /// The result is secret: store it like a password.
    pub fn to_skey(&self) -> String {
        let mut key = [0u8; 33];
        key[0] = ALG_ED25519;
        key[1..].copy_from_slice(self.key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.key_id,
            b64(&key)
        )
    }

    /// The matching public verifier.
    pub fn verifier(&self) -> Verifier {
        Verifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// Signs note text and returns the signed note: `text`, a blank line, and one signature
    /// line `— <name> <base64(key id BE || signature)>`.
    ///
    /// The text must be non-empty, end in a newline and contain no control characters other
    /// than newline.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        if !text.ends_with('\n') {
            return Err(NoteError::InvalidText(
                "note text must be non-empty and end in a newline".to_owned(),
            ));
        }
        check_control_chars(text).map_err(NoteError::InvalidText)?;
        let signature = self.key.sign(text.as_bytes());
        let mut sig = Vec::with_capacity(4 + Signature::BYTE_SIZE);
        sig.extend_from_slice(&self.key_id.to_be_bytes());
        sig.extend_from_slice(&signature.to_bytes());
        Ok(format!("{text}\n{SIG_PREFIX}{} {}\n", self.name, b64(&sig)))
    }
}

/// A public Ed25519 note-verification key with its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl Verifier {
    /// Parses `<name>+<hex8 key id>+<base64(0x01 || public key)>`, rejecting other algorithms,
    /// wrong key lengths and a key ID that does not match.
    pub fn from_vkey(vkey: &str) -> Result<Self, NoteError> {
        // The base64 key may itself contain '+': split on the first two only.
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(hex8), Some(key64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(NoteError::MalformedKey(
                "a verifier key has the form <name>+<key id>+<key>".to_owned(),
            ));
        };
        check_key_name(name)?;
        let stated = parse_key_id(hex8)?;
        let public = parse_key_material(key64)?;
        let mut alg_key = [0u8; 33];
        alg_key[0] = ALG_ED25519;
        alg_key[1..].copy_from_slice(&public);
        let computed = key_id(name, &alg_key);
        if computed != stated {
            return Err(NoteError::KeyIdMismatch {
                name: name.to_owned(),
                stated,
                computed,
            });
        }
        let key = VerifyingKey::from_bytes(&public).map_err(|_| {
            NoteError::MalformedKey("the public key is not a valid ed25519 point".to_owned())
        })?;
        Ok(Self {
            name: name.to_owned(),
            key_id: stated,
            key,
        })
    }

    /// The verifier key string, `<name>+<hex8 key id>+<base64(0x01 || public key)>`.
    pub fn to_vkey(&self) -> String {
        format!(
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            b64(&alg_and_key(&self.key))
        )
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// Whether `signature` is a valid (strict RFC 8032) signature of `msg` by this key.
    fn verifies(&self, msg: &[u8], signature: &[u8]) -> bool {
        Signature::from_slice(signature)
            .map(|sig| self.key.verify_strict(msg, &sig).is_ok())
            .unwrap_or(false)
    }
}

/// A signed note: its text and signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// The signed text, including its final newline, excluding the blank separator line.
    pub text: String,
    /// From [`parse`]: every signature line, in order. From [`open`]: only the signatures that
    /// verified against a given key, in order, each key once.
    pub signatures: Vec<NoteSignature>,
}

/// One signature line of a note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name.
    pub name: String,
    /// The key ID (the first 4 bytes of the base64 payload, big-endian).
    pub key_id: u32,
    /// The signature bytes after the key ID (64 bytes for Ed25519).
    pub signature: Vec<u8>,
}

/// Rejects control characters (below U+0020) other than newline, as C2SP requires of notes.
fn check_control_chars(s: &str) -> Result<(), String> {
    match s.char_indices().find(|&(_, c)| c < ' ' && c != '\n') {
        Some((at, c)) => Err(format!(
            "control character U+{:04X} at byte {at}",
            u32::from(c)
        )),
        None => Ok(()),
    }
}

/// Parses a signed note without verifying anything: the text is everything up to and including
/// the newline before the last blank line, and every line after it must be a signature line.
///
/// The returned text must not be trusted: use [`open`].
pub fn parse(note: &str) -> Result<Note, NoteError> {
    let malformed = |why: &str| NoteError::MalformedNote(why.to_owned());
    check_control_chars(note).map_err(NoteError::MalformedNote)?;
    let split = note
        .rfind("\n\n")
        .ok_or_else(|| malformed("no blank line between the text and the signatures"))?;
    let (text, sigs) = (&note[..=split], &note[split + 2..]);
    if sigs.is_empty() {
        return Err(malformed("no signature lines after the blank line"));
    }
    let Some(sigs) = sigs.strip_suffix('\n') else {
        return Err(malformed(
            "the last signature line does not end in a newline",
        ));
    };
    let mut signatures = Vec::new();
    for line in sigs.split('\n') {
        if signatures.len() == MAX_SIGNATURES {
            return Err(NoteError::MalformedNote(format!(
                "more than {MAX_SIGNATURES} signatures"
            )));
        }
        let Some(rest) = line.strip_prefix(SIG_PREFIX) else {
            return Err(malformed(
                "a line after the last blank line is not a signature line (\"— <name> <signature>\")",
            ));
        };
        let (name, sig64) = rest
            .split_once(' ')
            .ok_or_else(|| malformed("signature line has no space between name and signature"))?;
        if !is_spec_name(name) {
            return Err(NoteError::MalformedNote(format!(
                "invalid key name {name:?} in a signature line"
            )));
        }
        let raw = b64_decode(sig64).ok_or_else(|| {
            malformed("signature is not valid base64 (or the key name has a space)")
        })?;
        if raw.len() < 5 {
            return Err(malformed("signature is shorter than a key id and one byte"));
        }
        let (id, signature) = raw.split_at(4);
        signatures.push(NoteSignature {
            name: name.to_owned(),
            key_id: u32::from_be_bytes([id[0], id[1], id[2], id[3]]),
            signature: signature.to_vec(),
        });
    }
    Ok(Note {
        text: text.to_owned(),
        signatures,
    })
}

/// Parses a signed note and verifies it against `verifiers`.
///
/// A signature whose name and key ID both match a verifier must verify (else
/// [`NoteError::InvalidSignature`]); signatures by other keys are ignored; at least one must have
/// verified (else [`NoteError::UnverifiedNote`]). The result lists only verified signatures.
pub fn open(note: &str, verifiers: &[Verifier]) -> Result<Note, NoteError> {
    let parsed = parse(note)?;
    let mut verified: Vec<NoteSignature> = Vec::new();
    for sig in parsed.signatures {
        let mut known = verifiers
            .iter()
            .filter(|v| v.name == sig.name && v.key_id == sig.key_id);
        let Some(v) = known.next() else { continue };
        // The same key listed twice is harmless; two different keys with one name and ID are not.
        if known.any(|other| other.key != v.key) {
            return Err(NoteError::AmbiguousKey {
                name: sig.name,
                key_id: sig.key_id,
            });
        }
        if !v.verifies(parsed.text.as_bytes(), &sig.signature) {
            return Err(NoteError::InvalidSignature {
                name: sig.name,
                key_id: sig.key_id,
            });
        }
        if !verified
            .iter()
            .any(|s| s.name == sig.name && s.key_id == sig.key_id)
        {
            verified.push(sig);
        }
    }
    if verified.is_empty() {
        return Err(NoteError::UnverifiedNote);
    }
    Ok(Note {
        text: parsed.text,
        signatures: verified,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Vectors re-typed from golang.org/x/mod/sumdb/note (note_test.go and the package doc),
    // C2SP signed-note.md and transparency-dev/formats log/note_test.go.

    const PETER_SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                        then you don't know what your problem is.\n";
    const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
    const ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

    const FOO_VKEY: &str = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
    const FOO_NOTE: &str = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

    /// transparency-dev/formats test keys: (vkey, skey).
    const FORMATS_KEYS: [(&str, &str); 2] = [
        (
            "Log+2271c621+AemuH5ooBpEPcr+W8onrjA1NfuzBVHdezakU81Ekarvs",
            "PRIVATE+KEY+Log+2271c621+AdEIq9FLRQni54Wg68T96VJO+iayOaulswav2DUMKgvQ",
        ),
        (
            "Known+451c786d+AXAQ0T7lbwuY4ABJ9/MYY9bWV3hmSyOGVt2x42NkmdUH",
            "PRIVATE+KEY+Known+451c786d+AQPRoE2+Z+Ed1HaHBA9F/FfracvcZ2rDU39kCecMEoci",
        ),
    ];

    fn peter() -> Signer {
        Signer::from_skey(PETER_SKEY).expect("published skey parses")
    }

    fn vkey(s: &str) -> Verifier {
        Verifier::from_vkey(s).expect("published vkey parses")
    }

    fn signed() -> String {
        format!("{TEXT}\n{PETER_SIG}")
    }

    fn is_malformed_note(r: Result<Note, NoteError>) -> bool {
        matches!(r, Err(NoteError::MalformedNote(_)))
    }

    #[test]
    fn peter_neumann_sign_reproduces_go() {
        let s = peter();
        assert_eq!(s.name(), "PeterNeumann");
        assert_eq!(s.key_id(), 0xc74f20a3);
        assert_eq!(s.to_skey(), PETER_SKEY);
        assert_eq!(s.verifier().to_vkey(), PETER_VKEY);
        assert_eq!(s.verifier(), vkey(PETER_VKEY));
        assert_eq!(s.sign(TEXT).unwrap(), signed());

        // The same key from its raw seed.
        let raw = b64_decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz").unwrap();
        let seed: [u8; 32] = raw[1..].try_into().unwrap();
        let s2 = Signer::from_seed("PeterNeumann", seed).unwrap();
        assert_eq!(s2.to_skey(), PETER_SKEY);
        assert_eq!(s2.sign(TEXT).unwrap(), signed());

        // The secret never shows in Debug output.
        let dbg = format!("{s:?}");
        assert!(
            dbg.contains("PeterNeumann") && dbg.contains("c74f20a3"),
            "{dbg}"
        );
        assert!(!dbg.contains("AYEKF"), "{dbg}");
    }

    #[test]
    fn key_id_is_sha256_of_name_and_key() {
        let raw = b64_decode("ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW").unwrap();
        assert_eq!(key_id("PeterNeumann", &raw), 0xc74f20a3);
    }

    #[test]
    fn open_verifies_known_signatures() {
        let (p, e) = (vkey(PETER_VKEY), vkey(ENOCH_VKEY));
        let peter_only = open(&signed(), std::slice::from_ref(&p)).unwrap();
        assert_eq!(peter_only.text, TEXT);
        assert_eq!(peter_only.signatures.len(), 1);
        assert_eq!(peter_only.signatures[0].name, "PeterNeumann");
        assert_eq!(peter_only.signatures[0].key_id, 0xc74f20a3);
        assert_eq!(peter_only.signatures[0].signature.len(), 64);

        let enoch = format!("{TEXT}\n{ENOCH_SIG}");
        let n = open(&enoch, std::slice::from_ref(&e)).unwrap();
        assert_eq!(n.signatures[0].key_id, 0xaf0cfe78);

        // Both signatures: each verifier set accepts what it knows, ignores the rest.
        let both = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");
        let names = |n: Note| -> Vec<String> { n.signatures.into_iter().map(|s| s.name).collect() };
        assert_eq!(
            names(open(&both, &[p.clone(), e.clone()]).unwrap()),
            ["PeterNeumann", "EnochRoot"]
        );
        assert_eq!(
            names(open(&both, std::slice::from_ref(&e)).unwrap()),
            ["EnochRoot"]
        );
        assert_eq!(parse(&both).unwrap().signatures.len(), 2);

        assert_eq!(open(&signed(), &[e]), Err(NoteError::UnverifiedNote));
        assert_eq!(open(&signed(), &[]), Err(NoteError::UnverifiedNote));

        // The same key listed twice, and a repeated signature line, are harmless.
        let twice = format!("{TEXT}\n{PETER_SIG}{PETER_SIG}");
        assert_eq!(open(&twice, &[p.clone(), p]).unwrap(), peter_only);
    }

    #[test]
    fn c2sp_example_verifies() {
        let v = vkey(FOO_VKEY);
        assert_eq!(v.name(), "example.com/foo");
        assert_eq!(v.key_id(), 0x530d903a);
        assert_eq!(v.to_vkey(), FOO_VKEY);
        let n = open(FOO_NOTE, &[v]).unwrap();
        assert_eq!(n.text, "This is an example message.\n");
    }

    #[test]
    fn c2sp_multi_paragraph_example_parses() {
        // The opening example of signed-note.md: the text has its own blank line, and the
        // signatures start after the last one. No key is published, so parse only.
        let note = "Ognuno sta solo sul cuor della terra\n\
                    trafitto da un raggio di sole:\n\
                    \n\
                    ed \u{e8} subito sera.\n\
                    \n\
                    \u{2014} quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n";
        let n = parse(note).unwrap();
        assert_eq!(
            n.text,
            "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned \u{e8} subito sera.\n"
        );
        assert_eq!(n.signatures.len(), 1);
        assert_eq!(n.signatures[0].name, "quasimodo.example/salvatore");
        assert_eq!(n.signatures[0].key_id, 0x367ba04b);
        assert_eq!(n.signatures[0].signature.len(), 64);
    }

    #[test]
    fn transparency_dev_key_pairs_match() {
        for (v, s) in FORMATS_KEYS {
            let signer = Signer::from_skey(s).unwrap();
            assert_eq!(signer.to_skey(), s);
            assert_eq!(signer.verifier().to_vkey(), v);
            assert_eq!(vkey(v), signer.verifier());
            let note = signer.sign("hello\n").unwrap();
            assert!(open(&note, &[vkey(v)]).is_ok());
        }
    }

    #[test]
    fn bad_verifier_keys_are_rejected() {
        // Go's TestNewVerifier vectors: the key IDs are adjusted so only the key is wrong.
        assert!(matches!(
            Verifier::from_vkey(
                "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
            ),
            Err(NoteError::MalformedKey(_))
        ));
        assert_eq!(
            Verifier::from_vkey(
                "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
            ),
            Err(NoteError::UnsupportedAlgorithm(0x65))
        );

        let bytes = PETER_VKEY.as_bytes();
        for i in 0..bytes.len() {
            for j in i + 1..=bytes.len() {
                if (i, j) == (0, bytes.len()) {
                    continue;
                }
                let sub = &PETER_VKEY[i..j];
                assert!(
                    Verifier::from_vkey(sub).is_err(),
                    "accepted substring {sub:?}"
                );
            }
            let mut m = bytes.to_vec();
            m[i] += 1;
            let m = String::from_utf8(m).unwrap();
            assert!(Verifier::from_vkey(&m).is_err(), "accepted mutation {m:?}");
        }
    }

    #[test]
    fn bad_signer_keys_are_rejected() {
        let bytes = PETER_SKEY.as_bytes();
        for i in 0..bytes.len() {
            for j in i + 1..=bytes.len() {
                if (i, j) == (0, bytes.len()) {
                    continue;
                }
                assert!(Signer::from_skey(&PETER_SKEY[i..j]).is_err());
            }
            let mut m = bytes.to_vec();
            m[i] += 1;
            let m = String::from_utf8(m).unwrap();
            assert!(Signer::from_skey(&m).is_err(), "accepted mutation {m:?}");
        }
        // A public key where the seed belongs.
        assert!(matches!(
            Signer::from_skey(&format!("PRIVATE+KEY+{PETER_VKEY}")),
            Err(NoteError::KeyIdMismatch { .. })
        ));
    }

    #[test]
    fn key_names_are_checked() {
        for bad in [
            "",
            "Peter Neumann",
            "Peter+Neumann",
            "Peter\tNeumann",
            "Peter\nNeumann",
            "Peter\u{a0}Neumann",
            "Peter\u{2003}Neumann",
            "Peter\u{7f}",
            "Peter\u{1}",
        ] {
            assert_eq!(
                Signer::from_seed(bad, [7; 32]).map(|_| ()),
                Err(NoteError::InvalidName(bad.to_owned())),
                "{bad:?}"
            );
        }
        assert!(Signer::from_seed("example.com/log\u{e9}", [7; 32]).is_ok());
    }

    #[test]
    fn sign_rejects_invalid_text() {
        let s = peter();
        for bad in ["", "no final newline", "a\u{1}b\n", "tab\there\n", "cr\r\n"] {
            assert!(
                matches!(s.sign(bad), Err(NoteError::InvalidText(_))),
                "{bad:?}"
            );
        }
        // Text may contain blank lines (even end in one); it still opens to the same text.
        for text in ["\n", "a\n\nb\n", "a\n\n"] {
            let note = s.sign(text).unwrap();
            assert_eq!(open(&note, &[s.verifier()]).unwrap().text, text);
        }
    }

    #[test]
    fn malformed_notes_are_rejected() {
        let cases = [
            // No blank line, so no signatures.
            TEXT.to_owned(),
            // A blank line but no signature.
            format!("{TEXT}\n"),
            // Missing the final newline.
            format!("{TEXT}\n{}", PETER_SIG.trim_end_matches('\n')),
            // A control character. (Invalid UTF-8, Go's `\xff` case, cannot reach a &str.)
            format!("\u{1}{TEXT}\n{PETER_SIG}"),
            // Text after the signatures.
            format!("{TEXT}\n{PETER_SIG}and then some\n"),
            format!("{TEXT}\n{PETER_SIG}\nand then some\n"),
            // A key name with a space.
            format!("{TEXT}\n\u{2014} Peter Neumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"),
            // A hyphen instead of the em dash; no space after the dash.
            format!("{TEXT}\n- PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"),
            format!("{TEXT}\n\u{2014}PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"),
            // No signature, too short a signature, not base64.
            format!("{TEXT}\n\u{2014} PeterNeumann\n"),
            format!("{TEXT}\n\u{2014} PeterNeumann \n"),
            format!("{TEXT}\n\u{2014} PeterNeumann x08g\n"),
            format!("{TEXT}\n\u{2014} PeterNeumann x08go/ZJ!uBS9UG\n"),
        ];
        let v = vkey(PETER_VKEY);
        for note in cases {
            assert!(is_malformed_note(parse(&note)), "parsed {note:?}");
            assert!(
                is_malformed_note(open(&note, std::slice::from_ref(&v))),
                "opened {note:?}"
            );
        }
        assert_eq!(
            parse(&format!("{TEXT}\n{}", "x\n")),
            Err(NoteError::MalformedNote(
                "a line after the last blank line is not a signature line (\"— <name> <signature>\")"
                    .to_owned()
            ))
        );
    }

    #[test]
    fn signature_count_is_limited() {
        let unknown = Signer::from_seed("Unknown", [9; 32])
            .unwrap()
            .sign(TEXT)
            .unwrap();
        let unknown_line = &unknown[TEXT.len() + 1..];
        let note = |n: usize| format!("{TEXT}\n{}{PETER_SIG}", unknown_line.repeat(n));
        let v = [vkey(PETER_VKEY)];
        // C2SP: accept at least 16.
        assert!(open(&note(16), &v).is_ok());
        assert!(open(&note(MAX_SIGNATURES - 1), &v).is_ok());
        assert!(is_malformed_note(open(&note(MAX_SIGNATURES), &v)));
    }

    #[test]
    fn failing_known_signature_rejects_the_note() {
        let v = [vkey(PETER_VKEY), vkey(ENOCH_VKEY)];
        let tampered = format!("{}\n{PETER_SIG}", TEXT.replace("answer", "Answer"));
        let e = open(&tampered, &v).unwrap_err();
        assert_eq!(
            e,
            NoteError::InvalidSignature {
                name: "PeterNeumann".to_owned(),
                key_id: 0xc74f20a3
            }
        );
        assert_eq!(
            e.to_string(),
            "invalid signature for key PeterNeumann+c74f20a3"
        );
        // Even when another known key signed correctly.
        let mixed = format!("{TEXT}\n{ENOCH_SIG}{}", peter_line_with(|sig| sig[40] ^= 1));
        assert!(matches!(
            open(&mixed, &v),
            Err(NoteError::InvalidSignature { .. })
        ));
        // A signature of the wrong length from a known key is invalid, not malformed.
        let short = format!("{TEXT}\n{}", peter_line_with(|sig| sig.truncate(60)));
        assert!(matches!(
            open(&short, &v),
            Err(NoteError::InvalidSignature { .. })
        ));
    }

    /// Peter's signature line, with the decoded (key id || signature) bytes edited.
    fn peter_line_with(edit: impl FnOnce(&mut Vec<u8>)) -> String {
        let b64sig = PETER_SIG.trim_end_matches('\n').rsplit(' ').next().unwrap();
        let mut raw = b64_decode(b64sig).unwrap();
        edit(&mut raw);
        format!("\u{2014} PeterNeumann {}\n", b64(&raw))
    }

    #[test]
    fn name_or_id_match_alone_is_an_unknown_key() {
        let v = [vkey(PETER_VKEY)];
        // Right name, other key id: ignored (not verified, not an error).
        let other_id = format!("{TEXT}\n{}", peter_line_with(|sig| sig[0] ^= 1));
        assert_eq!(open(&other_id, &v), Err(NoteError::UnverifiedNote));
        // Right key id, other name.
        let other_name = format!("{TEXT}\n{}", PETER_SIG.replace("PeterNeumann", "PeterN"));
        assert_eq!(open(&other_name, &v), Err(NoteError::UnverifiedNote));
    }

    #[test]
    fn colliding_verifiers_are_ambiguous() {
        let p = vkey(PETER_VKEY);
        let mut impostor = vkey(ENOCH_VKEY);
        impostor.name = p.name.clone();
        impostor.key_id = p.key_id;
        assert!(matches!(
            open(&signed(), &[p, impostor]),
            Err(NoteError::AmbiguousKey { .. })
        ));
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in "(\\PC|\n){0,200}", key in any::<String>()) {
            let _ = parse(&s);
            let _ = open(&s, &[vkey(PETER_VKEY)]);
            let _ = Verifier::from_vkey(&key);
            let _ = Signer::from_skey(&key);
            let _ = Verifier::from_vkey(&format!("a+{key}"));
            let _ = Signer::from_skey(&format!("PRIVATE+KEY+a+{key}"));
        }

        #[test]
        fn sign_then_open_round_trips(
            lines in prop::collection::vec("[a-zA-Z0-9 ./:+=\u{e9}\u{2014}-]{0,30}", 1..6),
            seed in any::<[u8; 32]>(),
        ) {
            let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
            let s = Signer::from_seed("example.com/prop", seed).unwrap();
            let note = s.sign(&text).unwrap();
            let opened = open(&note, &[s.verifier()]).unwrap();
            prop_assert_eq!(opened.text, text);
            prop_assert_eq!(Verifier::from_vkey(&s.verifier().to_vkey()).unwrap(), s.verifier());
            prop_assert_eq!(Signer::from_skey(&s.to_skey()).unwrap().verifier(), s.verifier());
        }
    }
}
