//! What inventory and policies were in force, rebuilt from ledger records.
//!
//! Every change to `agents.toml` or to a policy file is appended to the ledger, so "which rules
//! applied to this event" is answered from the log itself, not from whatever the files say
//! today. Two record kinds carry it; the body of each lives under its kind's suffix:
//!
//! - `agentrail.policy`, one per added, changed or removed policy file:
//!   `{"policy": {"path": P, "sha256": hex(SHA-256(text)), "text": T, "policy_set_hash": H, "by": O}}`
//!   or, for a removed file, `{"policy": {"path": P, "removed": true, "policy_set_hash": H, "by": O}}`.
//!   `H` is the [`crate::policy_set_hash`] of the files once this record applies.
//! - `agentrail.inventory`, after the policy records of the same sync:
//!   `{"inventory": {"source": S, "agents": [...], "policies": [...], "added": [ids],
//!   "removed": [ids], "changed": [ids], "policy_set_hash": H, "by": O}}`, where `agents` and
//!   `policies` are those of [`Inventory::to_json`] (the whole inventory, not a diff).
//!
//! [`PolicyState::sync_records`] makes the records; [`PolicyState::apply_record`] replays them.
//! Replaying the records of a sync in order gives the state that was synced.
//!
//! In the middle of a sync, an `@id` that moves from one file to another can exist twice (the
//! new file is recorded before the old one changes). Replay accepts that: the later file's policy
//! is named `<path>#<n>` until the record that removes the clash. The `policy_set_hash` in a
//! record is informational: replay recomputes the hash from the files and does not compare.

use crate::cedar::{self, ActionQuestion, Policies, StartQuestion, Verdict};
use crate::inventory::{Inventory, Loaded};
use crate::{sha256_hex, PolicyError, INVENTORY_KIND, POLICY_KIND};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// An inventory and the policies compiled from the files in force with it.
#[derive(Debug, Clone, Default)]
pub struct PolicyState {
    pub inventory: Inventory,
    pub policies: Policies,
}

/// Equal when the inventories have the same canonical JSON (agent order does not matter) and the
/// policy files are the same.
impl PartialEq for PolicyState {
    fn eq(&self, other: &Self) -> bool {
        self.policies.files() == other.policies.files()
            && self.inventory.to_json() == other.inventory.to_json()
    }
}

impl PolicyState {
    /// The state a loaded `agents.toml` describes.
    pub fn from_loaded(loaded: &Loaded) -> PolicyState {
        PolicyState {
            inventory: loaded.inventory.clone(),
            policies: loaded.policies.clone(),
        }
    }

    /// Applies one ledger record. `body` is the whole stored body (`{"policy": {...}}` or
    /// `{"inventory": {...}}`). Returns true when the state changed. Records of other kinds are
    /// ignored (false). An invalid record, or a policy text that no longer compiles, is an error
    /// and leaves the state as it was.
    pub fn apply_record(&mut self, kind: &str, body: &Value) -> Result<bool, PolicyError> {
        match kind {
            POLICY_KIND => self.apply_policy(body),
            INVENTORY_KIND => self.apply_inventory(body),
            _ => Ok(false),
        }
    }

    fn apply_policy(&mut self, body: &Value) -> Result<bool, PolicyError> {
        let bad = |field: &str, why: &str| {
            PolicyError::Record(format!("{POLICY_KIND} record: field {field}: {why}"))
        };
        let rec =
            record_object(body, "policy").ok_or_else(|| bad("policy", "expected an object"))?;
        let path = rec
            .get("path")
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty() && !p.contains('\0'))
            .ok_or_else(|| bad("policy.path", "expected a non-empty string without NUL"))?;
        let removed = match rec.get("removed") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(bad("policy.removed", "expected a boolean")),
        };
        let mut files = self.policies.files().clone();
        if removed {
            if files.remove(path).is_none() {
                return Ok(false);
            }
        } else {
            let text = rec
                .get("text")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("policy.text", "expected a string"))?;
            let sha = rec
                .get("sha256")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("policy.sha256", "expected a string"))?;
            if sha != sha256_hex(text.as_bytes()) {
                return Err(bad(
                    "policy.sha256",
                    &format!("does not match the SHA-256 of the text of {path:?}"),
                ));
            }
            if files.get(path).map(String::as_str) == Some(text) {
                return Ok(false);
            }
            files.insert(path.to_string(), text.to_string());
        }
        self.policies = Policies::compile_relaxed(files)
            .map_err(|e| PolicyError::Record(format!("{POLICY_KIND} record for {path:?}: {e}")))?;
        Ok(true)
    }

    fn apply_inventory(&mut self, body: &Value) -> Result<bool, PolicyError> {
        let origin = format!("{INVENTORY_KIND} record: field inventory");
        let rec = record_object(body, "inventory")
            .ok_or_else(|| PolicyError::Record(format!("{origin}: expected an object")))?;
        for field in ["agents", "policies"] {
            if !rec.get(field).is_some_and(Value::is_array) {
                return Err(PolicyError::Record(format!(
                    "{origin}.{field}: expected an array"
                )));
            }
        }
        let value = json!({"policies": rec["policies"], "agents": rec["agents"]});
        let inventory = Inventory::from_json_in(&value, &origin).map_err(|e| match e {
            PolicyError::Inventory(m) => PolicyError::Record(m),
            other => other,
        })?;
        let changed = inventory.to_json() != self.inventory.to_json();
        self.inventory = inventory;
        Ok(changed)
    }

    /// The state as JSON, for persisting: `{"inventory": <Inventory::to_json>, "files": {path: text}}`.
    pub fn to_json(&self) -> Value {
        json!({"inventory": self.inventory.to_json(), "files": self.policies.files()})
    }

    /// Reads what [`PolicyState::to_json`] wrote, and recompiles the policies.
    pub fn from_json(v: &Value) -> Result<PolicyState, PolicyError> {
        let origin = "policy state: field inventory";
        let inventory = Inventory::from_json_in(&v["inventory"], origin).map_err(|e| match e {
            PolicyError::Inventory(m) => PolicyError::Record(m),
            other => other,
        })?;
        let bad = || {
            PolicyError::Record("policy state: field files: expected an object of strings".into())
        };
        let files = v["files"]
            .as_object()
            .ok_or_else(bad)?
            .iter()
            .map(|(k, t)| t.as_str().map(|t| (k.clone(), t.to_string())))
            .collect::<Option<BTreeMap<_, _>>>()
            .ok_or_else(bad)?;
        let policies = Policies::compile_relaxed(files)
            .map_err(|e| PolicyError::Record(format!("policy state: field files: {e}")))?;
        Ok(PolicyState {
            inventory,
            policies,
        })
    }

    /// The records `(kind, body)` that bring this state to `loaded`: one `agentrail.policy` per
    /// added, changed or removed file (by path), then one `agentrail.inventory` when the
    /// inventory differs or any file record was made. Applying them in order gives a state equal
    /// to `loaded`; an empty list means they already agree.
    pub fn sync_records(&self, loaded: &Loaded, origin: &str) -> Vec<(&'static str, Value)> {
        let old = self.policies.files();
        let new = loaded.policies.files();
        let mut running = old.clone();
        let mut records = Vec::new();
        let paths: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
        for path in paths {
            let body = match (old.get(path), new.get(path)) {
                (Some(a), Some(b)) if a == b => continue,
                (_, Some(text)) => {
                    running.insert(path.clone(), text.clone());
                    json!({"policy": {
                        "path": path,
                        "sha256": sha256_hex(text.as_bytes()),
                        "text": text,
                        "policy_set_hash": cedar::policy_set_hash(&running),
                        "by": origin,
                    }})
                }
                (Some(_), None) => {
                    running.remove(path);
                    json!({"policy": {
                        "path": path,
                        "removed": true,
                        "policy_set_hash": cedar::policy_set_hash(&running),
                        "by": origin,
                    }})
                }
                (None, None) => continue,
            };
            records.push((POLICY_KIND, body));
        }
        let before = self.inventory.to_json();
        let after = loaded.inventory.to_json();
        if before != after || !records.is_empty() {
            let (added, removed, changed) = agent_changes(&self.inventory, &loaded.inventory);
            records.push((
                INVENTORY_KIND,
                json!({"inventory": {
                    "source": loaded.path.display().to_string(),
                    "agents": after["agents"],
                    "policies": after["policies"],
                    "added": added,
                    "removed": removed,
                    "changed": changed,
                    "policy_set_hash": loaded.policies.hash(),
                    "by": origin,
                }}),
            ));
        }
        records
    }

    /// [`cedar::evaluate_action`] against this state.
    pub fn evaluate_action(&self, q: &ActionQuestion) -> Verdict {
        cedar::evaluate_action(&self.policies, &self.inventory, q)
    }

    /// [`cedar::evaluate_start`] against this state.
    pub fn evaluate_start(&self, q: &StartQuestion) -> Verdict {
        cedar::evaluate_start(&self.policies, &self.inventory, q)
    }
}

fn record_object<'a>(body: &'a Value, key: &str) -> Option<&'a Map<String, Value>> {
    body.get(key).and_then(Value::as_object)
}

/// Agent ids added, removed and changed from `old` to `new`, each sorted.
fn agent_changes(old: &Inventory, new: &Inventory) -> (Vec<String>, Vec<String>, Vec<String>) {
    let old_by_id: BTreeMap<&str, _> = old.agents.iter().map(|a| (a.id.as_str(), a)).collect();
    let new_by_id: BTreeMap<&str, _> = new.agents.iter().map(|a| (a.id.as_str(), a)).collect();
    let added = new_by_id
        .keys()
        .filter(|id| !old_by_id.contains_key(*id))
        .map(|id| id.to_string())
        .collect();
    let removed = old_by_id
        .keys()
        .filter(|id| !new_by_id.contains_key(*id))
        .map(|id| id.to_string())
        .collect();
    let changed = new_by_id
        .iter()
        .filter(|(id, a)| old_by_id.get(*id).is_some_and(|b| b != *a))
        .map(|(id, _)| id.to_string())
        .collect();
    (added, removed, changed)
}
