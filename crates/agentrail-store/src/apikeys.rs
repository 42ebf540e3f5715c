//! API keys: minted here, stored hashed, recorded in the ledger.
//!
//! A key reads `ark_<id>_<secret>`: `id` is 16 hex digits, public, the key's name in lists and
//! ledger records; `secret` is 64 hex digits (256 random bits). Only SHA-256(secret) is stored (a
//! high-entropy secret needs no slow hash), and it is compared in constant time. Creating and
//! revoking a key is appended to the ledger as an `agentrail.apikey` record in the same
//! transaction as the key row itself, so the key table and the log cannot disagree.

use crate::backend::ApiKeyRow;
use crate::LedgerError;
use agentrail_core::hash::{from_hex, to_hex};
use agentrail_core::Hash;

/// The roles a key can have.
pub const ROLES: &[&str] = &["ingest", "read", "admin"];

/// A parsed presented key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedKey {
    pub id: String,
    pub secret: [u8; 32],
}

/// Parses `ark_<16 hex>_<64 hex>`.
pub fn parse_key(text: &str) -> Option<PresentedKey> {
    let rest = text.strip_prefix("ark_")?;
    let (id, secret) = rest.split_once('_')?;
    let id_ok = id.len() == 16
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
    if !id_ok || secret.len() != 64 {
        return None;
    }
    let secret: [u8; 32] = from_hex(secret)?.try_into().ok()?;
    Some(PresentedKey {
        id: id.to_string(),
        secret,
    })
}

/// Mints a new key: returns the full key text (shown once) and its row.
pub fn mint(
    role: &str,
    agent: Option<&str>,
    name: &str,
    created_at: &str,
) -> Result<(String, ApiKeyRow), LedgerError> {
    if !ROLES.contains(&role) {
        return Err(LedgerError::Invalid(format!(
            "role {role:?} must be one of: {}",
            ROLES.join(", ")
        )));
    }
    if agent.is_some() && role != "ingest" {
        return Err(LedgerError::Invalid(
            "only ingest keys can be bound to an agent (--agent)".into(),
        ));
    }
    if let Some(a) = agent {
        if a.is_empty() || a.chars().any(char::is_control) {
            return Err(LedgerError::Invalid(format!(
                "agent {a:?} is not a valid agent id"
            )));
        }
    }
    if name.chars().any(char::is_control) || name.len() > 200 {
        return Err(LedgerError::Invalid(
            "a key name is at most 200 characters, without control characters".into(),
        ));
    }
    let mut id = [0u8; 8];
    let mut secret = [0u8; 32];
    getrandom::fill(&mut id)
        .and_then(|()| getrandom::fill(&mut secret))
        .map_err(|e| LedgerError::io("reading randomness", std::io::Error::other(e.to_string())))?;
    let id = to_hex(&id);
    let text = format!("ark_{id}_{}", to_hex(&secret));
    let row = ApiKeyRow {
        id,
        name: name.to_string(),
        role: role.to_string(),
        agent: agent.map(str::to_string),
        secret_sha256: Hash::sha256(&secret),
        created_at: created_at.to_string(),
        revoked_at: None,
    };
    Ok((text, row))
}

/// True when `presented` is the key `row` describes and the row is not revoked. Constant time in
/// the secret.
pub fn matches(row: &ApiKeyRow, presented: &PresentedKey) -> bool {
    let got = Hash::sha256(&presented.secret);
    let eq = got
        .0
        .iter()
        .zip(row.secret_sha256.0.iter())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0;
    eq && row.id == presented.id && row.revoked_at.is_none()
}

/// A key as shown to people and APIs: everything but the secret and its hash.
pub fn describe(row: &ApiKeyRow) -> serde_json::Value {
    serde_json::json!({
        "id": row.id,
        "name": row.name,
        "role": row.role,
        "agent": row.agent,
        "created_at": row.created_at,
        "revoked_at": row.revoked_at,
    })
}

/// The ledger record of a key event: the key as [`describe`]d, what happened and who did it.
pub fn record(op: &str, row: &ApiKeyRow, by: &str) -> serde_json::Value {
    let mut v = describe(row);
    v["op"] = op.into();
    v["by"] = by.into();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_keys_parse_and_match_only_themselves() {
        let (text, row) = mint("ingest", Some("agent-1"), "ci", "2026-11-28T13:00:00Z").unwrap();
        assert!(text.starts_with(&format!("ark_{}_", row.id)));
        let k = parse_key(&text).unwrap();
        assert!(matches(&row, &k));
        let (other, _) = mint("ingest", None, "other", "2026-11-28T13:00:00Z").unwrap();
        assert!(!matches(&row, &parse_key(&other).unwrap()));
        let mut revoked = row.clone();
        revoked.revoked_at = Some("2026-11-28T14:00:00Z".into());
        assert!(!matches(&revoked, &k));
        assert!(!record("create", &row, "cli")
            .to_string()
            .contains(&text[21..]));
    }

    #[test]
    fn malformed_keys_and_arguments_are_refused() {
        for bad in [
            "",
            "ark_",
            "ark_zz_00",
            "Bearer x",
            &format!("ark_{}_{}", "A".repeat(16), "0".repeat(64)),
        ] {
            assert_eq!(parse_key(bad), None, "{bad}");
        }
        assert!(mint("root", None, "", "t").is_err());
        assert!(mint("read", Some("a"), "", "t").is_err());
    }
}
