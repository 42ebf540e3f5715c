//! C2SP checkpoints (c2sp.org/tlog-checkpoint) and transparency log proofs
//! (c2sp.org/tlog-proof@v1).
//!
//! This module owns the checkpoint body (origin, tree size, root hash, extension lines), signing
//! and opening checkpoints as signed notes, and the self-contained tlog-proof text that carries a
//! leaf index, its inclusion proof and the signed checkpoint it is proved against.
//!
//! It must never use a checkpoint's contents before the note signature has verified, and never
//! accept a checkpoint whose origin differs from the verifying key's name: agentrail's
//! convention (which C2SP recommends but does not require) is that the log's key name is its
//! origin.

use crate::hash::{b64, b64_decode, Hash};
use crate::merkle::{self, ProofError};
use crate::note::{self, NoteError};

/// The first line of every tlog-proof.
const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// Most hashes an inclusion proof can have: one per level of a tree of up to 2^64 leaves.
const MAX_PROOF_HASHES: usize = 64;

/// Why a checkpoint or a tlog-proof was rejected.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The checkpoint body does not follow c2sp.org/tlog-checkpoint.
    #[error("malformed checkpoint: {0}")]
    MalformedBody(String),
    /// The checkpoint's origin is not the name of the key that signs or verifies it.
    #[error("checkpoint origin {origin:?} does not match key name {key_name:?}; agentrail logs sign with a key named after their origin")]
    OriginMismatch {
        /// The origin line.
        origin: String,
        /// The signer's or verifier's key name.
        key_name: String,
    },
    /// The signed note around the checkpoint did not parse or verify.
    #[error("checkpoint signature: {0}")]
    Note(NoteError),
    /// The tlog-proof text does not follow c2sp.org/tlog-proof@v1.
    #[error("malformed tlog-proof: {0}")]
    MalformedProof(String),
    /// The inclusion proof does not prove the leaf into the checkpoint's tree.
    #[error("inclusion proof does not verify against the checkpoint: {0}")]
    Proof(ProofError),
}

impl From<NoteError> for CheckpointError {
    fn from(e: NoteError) -> Self {
        CheckpointError::Note(e)
    }
}

impl From<ProofError> for CheckpointError {
    fn from(e: ProofError) -> Self {
        CheckpointError::Proof(e)
    }
}

/// A transparency log checkpoint: the log's identity and its tree head at some size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity; agentrail requires it to equal the signing key's name.
    pub origin: String,
    /// Number of leaves in the tree.
    pub size: u64,
    /// RFC 6962 root of the tree of `size` leaves.
    pub root: Hash,
    /// Opaque extension lines (each non-empty, without its newline). C2SP discourages them.
    pub extensions: Vec<String>,
}

/// `<origin>\n<size>\n<root base64>\n` followed by one line per extension.
fn format_body(origin: &str, size: u64, root_b64: &str, extensions: &[String]) -> String {
    let mut body = format!("{origin}\n{size}\n{root_b64}\n");
    for ext in extensions {
        body.push_str(ext);
        body.push('\n');
    }
    body
}

/// Parses a decimal with no sign and no leading zeros (except `0` itself).
fn parse_decimal(s: &str) -> Option<u64> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    canonical.then(|| s.parse().ok()).flatten()
}

impl Checkpoint {
    /// The note text of the checkpoint: `<origin>\n<size decimal>\n<base64 root>\n`, then each
    /// extension line and a newline.
    ///
    /// Does not validate: an origin or extension with a newline makes a body that does not parse
    /// back (which [`sign_checkpoint`] refuses to sign).
    pub fn to_body(&self) -> String {
        format_body(
            &self.origin,
            self.size,
            &self.root.to_base64(),
            &self.extensions,
        )
    }

    /// Parses checkpoint note text strictly: a non-empty origin, a decimal size without leading
    /// zeros, a base64 root of exactly 32 bytes, then non-empty extension lines; every line ends
    /// in a newline and none holds a control character.
    pub fn parse_body(text: &str) -> Result<Self, CheckpointError> {
        let malformed = |why: String| CheckpointError::MalformedBody(why);
        let Some(text) = text.strip_suffix('\n') else {
            return Err(malformed(
                "the checkpoint text does not end in a newline".to_owned(),
            ));
        };
        if let Some(c) = text.chars().find(|&c| c < ' ' && c != '\n') {
            return Err(malformed(format!(
                "the checkpoint text holds control character U+{:04X}",
                u32::from(c)
            )));
        }
        let mut lines = text.split('\n');
        let origin = lines.next().unwrap_or_default();
        let (Some(size), Some(root)) = (lines.next(), lines.next()) else {
            return Err(malformed(
                "a checkpoint needs an origin, a size and a root hash line".to_owned(),
            ));
        };
        if origin.is_empty() {
            return Err(malformed("the origin line is empty".to_owned()));
        }
        let size = parse_decimal(size).ok_or_else(|| {
            malformed(format!(
                "tree size {size:?} is not a decimal without leading zeros that fits 64 bits"
            ))
        })?;
        let root_bytes = b64_decode(root)
            .ok_or_else(|| malformed(format!("root hash {root:?} is not padded base64")))?;
        let root = Hash(root_bytes.as_slice().try_into().map_err(|_| {
            malformed(format!(
                "root hash has {} bytes, a SHA-256 root has 32",
                root_bytes.len()
            ))
        })?);
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(malformed(
                "an extension line is empty (the checkpoint has a blank line)".to_owned(),
            ));
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }
}

/// Signs a checkpoint as a signed note.
///
/// The signer's key name must equal the origin (agentrail's convention, checked again by
/// [`open_checkpoint`]), and the body must parse back to exactly `cp`.
pub fn sign_checkpoint(cp: &Checkpoint, signer: &note::Signer) -> Result<String, CheckpointError> {
    if cp.origin != signer.name() {
        return Err(CheckpointError::OriginMismatch {
            origin: cp.origin.clone(),
            key_name: signer.name().to_owned(),
        });
    }
    let body = cp.to_body();
    if Checkpoint::parse_body(&body)? != *cp {
        return Err(CheckpointError::MalformedBody(
            "an origin or extension line holds a newline".to_owned(),
        ));
    }
    Ok(signer.sign(&body)?)
}

/// Verifies a signed checkpoint with `verifier` and parses its body; the origin must equal the
/// verifier's key name. Other signatures (witness cosignatures) are ignored.
pub fn open_checkpoint(
    signed: &str,
    verifier: &note::Verifier,
) -> Result<Checkpoint, CheckpointError> {
    let n = note::open(signed, std::slice::from_ref(verifier))?;
    let cp = Checkpoint::parse_body(&n.text)?;
    if cp.origin != verifier.name() {
        return Err(CheckpointError::OriginMismatch {
            origin: cp.origin,
            key_name: verifier.name().to_owned(),
        });
    }
    Ok(cp)
}

/// A c2sp.org/tlog-proof@v1: a leaf index, its inclusion proof, and the signed checkpoint of the
/// tree it is proved into.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlogProof {
    /// Opaque, unauthenticated application data (the `extra` line); never trust it implicitly.
    pub extra: Option<Vec<u8>>,
    /// Zero-based index of the leaf.
    pub index: u64,
    /// RFC 6962 inclusion proof, from the leaf's sibling up to the root's child.
    pub hashes: Vec<Hash>,
    /// The signed checkpoint note, verbatim.
    pub checkpoint: String,
}

impl TlogProof {
    /// The proof text: the header line, an optional `extra <base64>` line, `index <n>`, one
    /// base64 hash per line, a blank line, then the checkpoint verbatim.
    pub fn to_text(&self) -> String {
        let mut out = format!("{TLOG_PROOF_HEADER}\n");
        if let Some(extra) = &self.extra {
            out.push_str(&format!("extra {}\n", b64(extra)));
        }
        out.push_str(&format!("index {}\n", self.index));
        for h in &self.hashes {
            out.push_str(&h.to_base64());
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint);
        out
    }

    /// Parses proof text strictly; the checkpoint is kept verbatim and checked only by
    /// [`TlogProof::verify`].
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        let malformed = |why: String| CheckpointError::MalformedProof(why);
        let mut rest = text;
        // Takes the next line (without its newline); None when no complete line is left.
        let mut next_line = || -> Option<&str> {
            let (line, after) = rest.split_once('\n')?;
            rest = after;
            Some(line)
        };

        if next_line() != Some(TLOG_PROOF_HEADER) {
            return Err(malformed(format!(
                "the first line must be {TLOG_PROOF_HEADER:?}"
            )));
        }
        let mut line = next_line();
        let mut extra = None;
        if let Some(e) = line.and_then(|l| l.strip_prefix("extra ")) {
            extra = Some(
                b64_decode(e)
                    .ok_or_else(|| malformed("the extra data is not padded base64".to_owned()))?,
            );
            line = next_line();
        }
        let index = line
            .and_then(|l| l.strip_prefix("index "))
            .ok_or_else(|| malformed("missing the \"index <n>\" line".to_owned()))?;
        let index = parse_decimal(index).ok_or_else(|| {
            malformed(format!(
                "index {index:?} is not a decimal without leading zeros that fits 64 bits"
            ))
        })?;
        let mut hashes = Vec::new();
        loop {
            match next_line() {
                None => {
                    return Err(malformed(
                        "missing the blank line before the checkpoint".to_owned(),
                    ))
                }
                Some("") => break,
                Some(l) => {
                    if hashes.len() == MAX_PROOF_HASHES {
                        return Err(malformed(format!(
                            "more than {MAX_PROOF_HASHES} proof hashes"
                        )));
                    }
                    let h = Hash::from_base64(l).ok_or_else(|| {
                        malformed(format!("proof hash {l:?} is not a base64 SHA-256 hash"))
                    })?;
                    hashes.push(h);
                }
            }
        }
        if rest.is_empty() {
            return Err(malformed("the checkpoint is missing".to_owned()));
        }
        Ok(TlogProof {
            extra,
            index,
            hashes,
            checkpoint: rest.to_owned(),
        })
    }

    /// Opens the checkpoint with `verifier` (see [`open_checkpoint`]) and checks that
    /// `leaf_hash` is the leaf at `index` in its tree; returns the checkpoint.
    pub fn verify(
        &self,
        leaf_hash: &Hash,
        verifier: &note::Verifier,
    ) -> Result<Checkpoint, CheckpointError> {
        let cp = open_checkpoint(&self.checkpoint, verifier)?;
        merkle::verify_inclusion(leaf_hash, self.index, cp.size, &self.hashes, &cp.root)?;
        Ok(cp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{inclusion_proof, leaf_hash, MemoryTree};
    use crate::note::{Signer, Verifier};

    // Keys from transparency-dev/formats log/note_test.go.
    const LOG_SKEY: &str = "PRIVATE+KEY+Log+2271c621+AdEIq9FLRQni54Wg68T96VJO+iayOaulswav2DUMKgvQ";
    const LOG_VKEY: &str = "Log+2271c621+AemuH5ooBpEPcr+W8onrjA1NfuzBVHdezakU81Ekarvs";
    const KNOWN_SKEY: &str =
        "PRIVATE+KEY+Known+451c786d+AQPRoE2+Z+Ed1HaHBA9F/FfracvcZ2rDU39kCecMEoci";
    const KNOWN_VKEY: &str = "Known+451c786d+AXAQ0T7lbwuY4ABJ9/MYY9bWV3hmSyOGVt2x42NkmdUH";

    fn log_signer() -> Signer {
        Signer::from_skey(LOG_SKEY).unwrap()
    }

    fn log_verifier() -> Verifier {
        Verifier::from_vkey(LOG_VKEY).unwrap()
    }

    fn malformed_body(text: &str) -> bool {
        matches!(
            Checkpoint::parse_body(text),
            Err(CheckpointError::MalformedBody(_))
        )
    }

    #[test]
    fn go_sumdb_format_tree() {
        // golang.org/x/mod/sumdb/tlog note_test.go: RecordHash and FormatTree.
        let root = leaf_hash(b"hello world");
        assert_eq!(
            root.to_base64(),
            "TszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0="
        );
        let cp = Checkpoint {
            origin: "go.sum database tree".to_owned(),
            size: 123456789012,
            root,
            extensions: vec![],
        };
        let body =
            "go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n";
        assert_eq!(cp.to_body(), body);
        assert_eq!(Checkpoint::parse_body(body), Ok(cp));
    }

    #[test]
    fn transparency_dev_body_vectors() {
        // log/checkpoint_test.go TestMarshal: the hashes are not 32 bytes, so the text layer is
        // tested directly and the strict parser must refuse them.
        let cases = [
            (
                "Log",
                123,
                b"bananas".as_slice(),
                "Log\n123\nYmFuYW5hcw==\n",
            ),
            (
                "Banana",
                9944,
                b"the view from the tree tops is great!".as_slice(),
                "Banana\n9944\ndGhlIHZpZXcgZnJvbSB0aGUgdHJlZSB0b3BzIGlzIGdyZWF0IQ==\n",
            ),
        ];
        for (origin, size, hash, want) in cases {
            assert_eq!(format_body(origin, size, &b64(hash), &[]), want);
            assert_eq!(
                Checkpoint::parse_body(want),
                Err(CheckpointError::MalformedBody(format!(
                    "root hash has {} bytes, a SHA-256 root has 32",
                    hash.len()
                )))
            );
        }
    }

    #[test]
    fn c2sp_checkpoint_example_parses() {
        let signed = "example.com/behind-the-sofa\n\
                      20852163\n\
                      CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\
                      \n\
                      \u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";
        let n = note::parse(signed).unwrap();
        assert_eq!(n.signatures[0].key_id, 0x033de0ae);
        assert_eq!(n.signatures[0].signature.len(), 64);
        let cp = Checkpoint::parse_body(&n.text).unwrap();
        assert_eq!(cp.origin, "example.com/behind-the-sofa");
        assert_eq!(cp.size, 20852163);
        assert_eq!(
            cp.root.to_base64(),
            "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
        );
        assert!(cp.extensions.is_empty());
        assert_eq!(cp.to_body(), n.text);
    }

    #[test]
    fn body_round_trips_with_extensions() {
        let cp = Checkpoint {
            origin: "example.com/log42".to_owned(),
            size: 0,
            root: merkle::empty_root(),
            extensions: vec!["ext one".to_owned(), "\u{2014} two".to_owned()],
        };
        let body = cp.to_body();
        assert_eq!(
            body,
            "example.com/log42\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\next one\n\u{2014} two\n"
        );
        assert_eq!(Checkpoint::parse_body(&body), Ok(cp));
    }

    #[test]
    fn strict_body_parsing() {
        let root = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
        assert!(Checkpoint::parse_body(&format!("o\n18446744073709551615\n{root}\n")).is_ok());
        for bad in [
            format!("o\n1\n{root}"),                      // no final newline
            format!("\n1\n{root}\n"),                     // empty origin
            format!("o\n{root}\n"),                       // no size
            "o\n1\n".to_owned(),                          // no root
            format!("o\n01\n{root}\n"),                   // leading zero
            format!("o\n00\n{root}\n"),                   // leading zero
            format!("o\n+1\n{root}\n"),                   // sign
            format!("o\n-1\n{root}\n"),                   // sign
            format!("o\n 1\n{root}\n"),                   // space
            format!("o\n1.0\n{root}\n"),                  // not an integer
            format!("o\n\n{root}\n"),                     // empty size
            format!("o\n18446744073709551616\n{root}\n"), // 2^64
            "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU\n".to_owned(), // unpadded
            "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV=\n".to_owned(), // stray bits
            "o\n1\n47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=\n".to_owned(), // URL alphabet
            format!("o\n1\n{root}\n\n"),                  // empty extension line
            format!("o\n1\n{root}\next\n\n"),             // empty extension line
            format!("o\r\n1\n{root}\n"),                  // control character
            format!("o\n1\n{root}\t\n"),                  // control character
        ] {
            assert!(malformed_body(&bad), "parsed {bad:?}");
        }
    }

    #[test]
    fn tlog_proof_marshal_vectors() {
        // transparency-dev/formats proof/tlog_proof_test.go TestMarshal.
        let h1 = Hash::sha256(b"hash1");
        let h2 = Hash::sha256(b"hash2");
        let cases = [
            (
                TlogProof {
                    extra: None,
                    index: 5,
                    hashes: vec![h1, h2],
                    checkpoint: "test checkpoint\n".to_owned(),
                },
                format!(
                    "c2sp.org/tlog-proof@v1\nindex 5\n{}\n{}\n\ntest checkpoint\n",
                    h1.to_base64(),
                    h2.to_base64()
                ),
            ),
            (
                TlogProof {
                    extra: Some(b"extra information".to_vec()),
                    index: 10,
                    hashes: vec![h1],
                    checkpoint: "checkpoint data\n".to_owned(),
                },
                format!(
                    "c2sp.org/tlog-proof@v1\nextra {}\nindex 10\n{}\n\ncheckpoint data\n",
                    b64(b"extra information"),
                    h1.to_base64()
                ),
            ),
            (
                TlogProof {
                    extra: None,
                    index: 0,
                    hashes: vec![],
                    checkpoint: "checkpoint\n".to_owned(),
                },
                "c2sp.org/tlog-proof@v1\nindex 0\n\ncheckpoint\n".to_owned(),
            ),
        ];
        for (proof, want) in cases {
            assert_eq!(proof.to_text(), want);
            assert_eq!(TlogProof::parse(&want), Ok(proof));
        }
        // Empty extra data is still an extra line.
        let empty_extra = TlogProof {
            extra: Some(vec![]),
            index: 1,
            hashes: vec![],
            checkpoint: "c\n".to_owned(),
        };
        assert_eq!(
            empty_extra.to_text(),
            "c2sp.org/tlog-proof@v1\nextra \nindex 1\n\nc\n"
        );
        assert_eq!(TlogProof::parse(&empty_extra.to_text()), Ok(empty_extra));
    }

    #[test]
    fn c2sp_tlog_proof_example_parses() {
        // tlog-proof.md's example; its signatures are elided, so only the proof layer parses.
        let text = "c2sp.org/tlog-proof@v1\n\
                    extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ\n\
                    index 73894\n\
                    gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=\n\
                    B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=\n\
                    EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=\n\
                    RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=\n\
                    AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=\n\
                    \n\
                    example.com/fancylog\n\
                    109482\n\
                    sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=\n\
                    \n\
                    \u{2014} example.com/fancylog hI2DJw[...]1roloI=\n";
        let p = TlogProof::parse(text).unwrap();
        assert_eq!(
            p.extra.as_deref().map(|e| &e[..30]),
            Some(b"age-v1.2.1-darwin-arm64.tar.gz".as_slice())
        );
        assert_eq!(p.index, 73894);
        assert_eq!(p.hashes.len(), 5);
        assert!(p.checkpoint.starts_with("example.com/fancylog\n109482\n"));
        assert_eq!(p.to_text(), text);
    }

    #[test]
    fn strict_tlog_proof_parsing() {
        let h = Hash::sha256(b"a").to_base64();
        for bad in [
            "wrong-header\nindex 0\n\ncheckpoint\n".to_owned(),
            "c2sp.org/tlog-proof@v2\nindex 0\n\ncheckpoint\n".to_owned(),
            "c2sp.org/tlog-proof@v1\nextra !!notbase64!!\nindex 0\n\ncheckpoint\n".to_owned(),
            "c2sp.org/tlog-proof@v1\n\n\ncheckpoint\n".to_owned(),
            "c2sp.org/tlog-proof@v1\nindex notanumber\n\ncheckpoint\n".to_owned(),
            "c2sp.org/tlog-proof@v1\nindex -5\n\ncheckpoint\n".to_owned(),
            "c2sp.org/tlog-proof@v1\nindex 05\n\ncheckpoint\n".to_owned(),
            "c2sp.org/tlog-proof@v1\nindex 18446744073709551616\n\ncheckpoint\n".to_owned(),
            "c2sp.org/tlog-proof@v1\nindex 0\n!!notbase64!!\n\ncheckpoint\n".to_owned(),
            format!(
                "c2sp.org/tlog-proof@v1\nindex 0\n{}\n\ncheckpoint\n",
                b64(&[0; 64])
            ),
            format!("c2sp.org/tlog-proof@v1\nindex 0\n{h}\n"), // no blank line
            format!("c2sp.org/tlog-proof@v1\nindex 0\n{h}\n\n"), // no checkpoint
            "c2sp.org/tlog-proof@v1\nindex 0".to_owned(),
            format!(
                "c2sp.org/tlog-proof@v1\nindex 0\n{}\ncheckpoint\n",
                format!("{h}\n").repeat(65)
            ),
        ] {
            assert!(
                matches!(
                    TlogProof::parse(&bad),
                    Err(CheckpointError::MalformedProof(_))
                ),
                "parsed {bad:?}"
            );
        }
    }

    /// A 23-leaf log, signed at its full size by the Log key.
    fn signed_log() -> (MemoryTree, Vec<Hash>, String) {
        let leaves: Vec<Hash> = (0..23u32)
            .map(|i| leaf_hash(format!("event {i}").as_bytes()))
            .collect();
        let mut t = MemoryTree::new();
        for l in &leaves {
            t.push(*l);
        }
        let cp = Checkpoint {
            origin: "Log".to_owned(),
            size: t.size(),
            root: t.root(),
            extensions: vec![],
        };
        let signed = sign_checkpoint(&cp, &log_signer()).unwrap();
        (t, leaves, signed)
    }

    fn proof_for(t: &mut MemoryTree, index: u64, signed: &str) -> TlogProof {
        let size = t.size();
        TlogProof {
            extra: None,
            index,
            hashes: inclusion_proof(t, index, size).unwrap(),
            checkpoint: signed.to_owned(),
        }
    }

    #[test]
    fn sign_open_prove_verify_round_trip() {
        let (mut t, leaves, signed) = signed_log();
        let cp = open_checkpoint(&signed, &log_verifier()).unwrap();
        assert_eq!(
            (cp.origin.as_str(), cp.size, cp.root),
            ("Log", 23, t.root())
        );
        assert!(signed.starts_with(&format!(
            "Log\n23\n{}\n\n\u{2014} Log ",
            t.root().to_base64()
        )));

        for (i, leaf) in leaves.iter().enumerate() {
            let proof = proof_for(&mut t, i as u64, &signed);
            let parsed = TlogProof::parse(&proof.to_text()).unwrap();
            assert_eq!(parsed, proof);
            assert_eq!(parsed.verify(leaf, &log_verifier()), Ok(cp.clone()));
            // Another leaf's hash at this index does not verify.
            let other = &leaves[(i + 1) % leaves.len()];
            assert!(matches!(
                parsed.verify(other, &log_verifier()),
                Err(CheckpointError::Proof(_))
            ));
        }
    }

    #[test]
    fn wrong_key_is_rejected() {
        let (_, _, signed) = signed_log();
        let known = Verifier::from_vkey(KNOWN_VKEY).unwrap();
        assert_eq!(
            open_checkpoint(&signed, &known),
            Err(CheckpointError::Note(NoteError::UnverifiedNote))
        );
    }

    #[test]
    fn origin_must_be_the_key_name() {
        let known = Signer::from_skey(KNOWN_SKEY).unwrap();
        let cp = Checkpoint {
            origin: "Log".to_owned(),
            size: 1,
            root: leaf_hash(b"x"),
            extensions: vec![],
        };
        assert_eq!(
            sign_checkpoint(&cp, &known),
            Err(CheckpointError::OriginMismatch {
                origin: "Log".to_owned(),
                key_name: "Known".to_owned()
            })
        );
        // Signed by hand, it still does not open.
        let signed = known.sign(&cp.to_body()).unwrap();
        assert_eq!(
            open_checkpoint(&signed, &known.verifier()),
            Err(CheckpointError::OriginMismatch {
                origin: "Log".to_owned(),
                key_name: "Known".to_owned()
            })
        );
    }

    #[test]
    fn unparseable_checkpoints_are_not_signed_or_opened() {
        let s = log_signer();
        let mut cp = Checkpoint {
            origin: "Log".to_owned(),
            size: 1,
            root: leaf_hash(b"x"),
            extensions: vec!["two\nlines".to_owned()],
        };
        assert!(matches!(
            sign_checkpoint(&cp, &s),
            Err(CheckpointError::MalformedBody(_))
        ));
        cp.extensions = vec![String::new()];
        assert!(matches!(
            sign_checkpoint(&cp, &s),
            Err(CheckpointError::MalformedBody(_))
        ));
        // A validly signed note whose text is not a checkpoint.
        let signed = s.sign("Log\nnot a size\n").unwrap();
        assert!(matches!(
            open_checkpoint(&signed, &s.verifier()),
            Err(CheckpointError::MalformedBody(_))
        ));
    }

    #[test]
    fn tampered_checkpoints_are_rejected() {
        let (mut t, leaves, signed) = signed_log();
        let root_b64 = t.root().to_base64();
        let mut other_root = t.root();
        other_root.0[0] ^= 1;
        let tampered = [
            signed.replacen("\n23\n", "\n24\n", 1),
            signed.replacen("\n23\n", "\n22\n", 1),
            signed.replacen(&root_b64, &other_root.to_base64(), 1),
        ];
        for bad in tampered {
            assert_ne!(bad, signed);
            assert_eq!(
                open_checkpoint(&bad, &log_verifier()),
                Err(CheckpointError::Note(NoteError::InvalidSignature {
                    name: "Log".to_owned(),
                    key_id: 0x2271c621
                }))
            );
            let mut proof = proof_for(&mut t, 3, &signed);
            proof.checkpoint = bad;
            assert!(matches!(
                proof.verify(&leaves[3], &log_verifier()),
                Err(CheckpointError::Note(_))
            ));
        }
    }

    #[test]
    fn altered_proofs_are_rejected() {
        let (mut t, leaves, signed) = signed_log();
        let good = proof_for(&mut t, 9, &signed);
        let v = log_verifier();
        assert!(good.verify(&leaves[9], &v).is_ok());

        let mut flipped = good.clone();
        flipped.hashes[2].0[7] ^= 0x40;
        assert!(matches!(
            flipped.verify(&leaves[9], &v),
            Err(CheckpointError::Proof(ProofError::RootMismatch { .. }))
        ));
        let mut short = good.clone();
        short.hashes.pop();
        assert!(matches!(
            short.verify(&leaves[9], &v),
            Err(CheckpointError::Proof(ProofError::WrongProofLength { .. }))
        ));
        let mut moved = good.clone();
        moved.index = 8;
        assert!(moved.verify(&leaves[9], &v).is_err());
        let mut past_end = good;
        past_end.index = 23;
        assert!(matches!(
            past_end.verify(&leaves[9], &v),
            Err(CheckpointError::Proof(ProofError::IndexOutOfRange { .. }))
        ));
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(s in "(\\PC|\n){0,300}") {
            let _ = Checkpoint::parse_body(&s);
            let _ = TlogProof::parse(&s);
            let _ = TlogProof::parse(&format!("c2sp.org/tlog-proof@v1\n{s}"));
            let _ = open_checkpoint(&s, &log_verifier());
        }
    }

    #[test]
    fn witness_cosignatures_are_ignored() {
        let (_, _, signed) = signed_log();
        let cosigned = format!(
            "{signed}\u{2014} witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
        );
        assert_eq!(
            open_checkpoint(&cosigned, &log_verifier()),
            open_checkpoint(&signed, &log_verifier())
        );
    }
}
