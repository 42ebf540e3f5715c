//! `agentrail prove` and the offline `agentrail verify-proof`.

use crate::cli::{KeyArgs, ProveArgs, VerifyConsistencyArgs, VerifyProofArgs};
use crate::exit::{Exit, InvalidInput};
use agentrail_core::checkpoint::{open_checkpoint, TlogProof};
use agentrail_core::event;
use agentrail_core::merkle;
use agentrail_core::note::Verifier;
use agentrail_core::Hash;
use agentrail_store::ledger::open_read;
use agentrail_store::{LedgerError, ReadLedger};
use anyhow::{Context, Result};
use std::path::Path;

pub fn prove(data: &Path, args: &ProveArgs) -> Result<Exit> {
    if let Some(sizes) = &args.consistency {
        let old = sizes[0];
        let mut backend = open_read(data)?;
        let mut r = ReadLedger::new(backend.as_mut());
        let new = match sizes.get(1).copied() {
            Some(n) => n,
            None => {
                r.latest_checkpoint()?
                    .ok_or_else(|| {
                        LedgerError::NotFound("no checkpoint has been signed yet".into())
                    })?
                    .size
            }
        };
        for h in r.consistency_proof(old, new)? {
            say!("{}", h.to_base64());
        }
        return Ok(Exit::Success);
    }
    let id = args.id.as_deref().unwrap_or_default();
    let mut backend = open_read(data)?;
    let index = ReadLedger::new(backend.as_mut()).event(id)?.row.leaf_index;
    // Against the latest checkpoint, as auditors compare against the newest tree head they hold.
    let latest = backend.latest_checkpoint()?;
    let checkpoint = match latest {
        Some(cp) if cp.size > index => cp,
        // The event is newer than the latest checkpoint: sign one now.
        _ => {
            let note = super::read::sign_now(data, "agentrail prove")
                .context("the event is newer than the latest checkpoint, so one must be signed")?;
            backend
                .latest_checkpoint()?
                .filter(|cp| cp.note == note)
                .context("the checkpoint just signed is not in the store")?
        }
    };
    let proof = ReadLedger::new(backend.as_mut()).inclusion_proof(index, &checkpoint)?;
    say_raw!("{}", proof.to_text());
    Ok(Exit::Success)
}

/// Loads a verifier key from `--key` or `--key-file`.
pub fn load_key(args: &KeyArgs) -> Result<Verifier> {
    let text = match (&args.key, &args.key_file) {
        (Some(k), _) => k.clone(),
        (None, Some(f)) => std::fs::read_to_string(f)
            .with_context(|| format!("reading the key file {}", f.display()))?,
        (None, None) => anyhow::bail!("give --key or --key-file"),
    };
    Verifier::from_vkey(text.trim())
        .map_err(|e| InvalidInput(format!("the verifier key is not valid: {e}")).into())
}

pub fn verify_proof(args: &VerifyProofArgs) -> Result<Exit> {
    let verifier = load_key(&args.key)?;
    let event_bytes =
        std::fs::read(&args.event).with_context(|| format!("reading {}", args.event.display()))?;
    let proof_text = std::fs::read_to_string(&args.proof)
        .with_context(|| format!("reading {}", args.proof.display()))?;
    let leaf = event::leaf_from_event(&event_bytes).map_err(|e| {
        InvalidInput(format!(
            "{} is not a stored agentrail event: {e}",
            args.event.display()
        ))
    })?;
    let header = event::parse_leaf(&leaf).map_err(|e| InvalidInput(e.to_string()))?;
    let proof = TlogProof::parse(&proof_text)
        .map_err(|e| InvalidInput(format!("{} is not a tlog-proof: {e}", args.proof.display())))?;
    let cp = proof
        .verify(&merkle::leaf_hash(&leaf), &verifier)
        .map_err(|e| InvalidInput(format!("INVALID: {e}")))?;
    say!(
        "VALID: event {} is leaf {} of {} at tree size {} (root {})",
        header.event_id,
        proof.index,
        cp.origin,
        cp.size,
        cp.root.to_base64()
    );
    Ok(Exit::Success)
}

pub fn verify_consistency(args: &VerifyConsistencyArgs) -> Result<Exit> {
    let verifier = load_key(&args.key)?;
    let open = |path: &std::path::Path| -> Result<agentrail_core::checkpoint::Checkpoint> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        open_checkpoint(&text, &verifier).map_err(|e| {
            InvalidInput(format!("INVALID: {} does not verify: {e}", path.display())).into()
        })
    };
    let old = open(&args.old)?;
    let new = open(&args.new)?;
    let text = std::fs::read_to_string(&args.proof)
        .with_context(|| format!("reading {}", args.proof.display()))?;
    let proof = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            Hash::from_base64(l.trim()).ok_or_else(|| {
                InvalidInput(format!(
                    "{} line {}: not a base64 SHA-256 hash",
                    args.proof.display(),
                    i + 1
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    merkle::verify_consistency(old.size, new.size, &proof, &old.root, &new.root)
        .map_err(|e| InvalidInput(format!("INVALID: {e}")))?;
    say!(
        "VALID: the tree of size {} extends the tree of size {} in {}",
        new.size,
        old.size,
        new.origin
    );
    Ok(Exit::Success)
}
