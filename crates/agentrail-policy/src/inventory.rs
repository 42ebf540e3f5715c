//! The agent inventory: `agents.toml`, what it declares, and [`load`].
//!
//! An inventory lists the agents that act in an organization: what each one is (`kind`), who
//! answers for it (`owner`), what it acts as (`principals`: account names and key ids, never
//! secrets), which systems it touches, what starts it (`triggers`), how sensitive its data is
//! (`data_classification`), and which Cedar policy file scopes it (`policy`). Top-level
//! `policies` apply to every agent.
//!
//! ```toml
//! policies = ["policies/base.cedar"]        # optional, relative to this file's directory, no ".."
//!
//! [[agent]]
//! id = "renewal-drafter"                    # required: 1-256 chars, no control characters
//! name = "Renewal drafter"                  # optional, default ""
//! kind = "llm-agent"                        # required: one of KINDS
//! owner = "revops@acme.example"             # required, non-empty
//! description = "drafts renewal quotes"     # optional
//! principals = ["svc-renewals", "key:ak_1234"]  # optional: references, never secrets
//! systems = ["crm", "contracts"]            # optional
//! triggers = ["user"]                       # optional: each one of TRIGGERS
//! data_classification = "customer"         # optional: one of CLASSIFICATIONS
//! elevated = false                          # optional, default false
//! policy = "policies/renewal-drafter.cedar" # optional, relative to this file's directory, no ".."
//! ```
//!
//! No text field may hold anything that looks like a secret ([`looks_like_secret`]: API keys and
//! tokens, PEM blocks, URLs with a password), since the inventory is recorded in the ledger.
//! Policy paths are relative and stay inside the inventory's directory; [`load`] reads only
//! regular files of at most [`POLICY_MAX_BYTES`] there.
//!
//! Parsing ([`Inventory::parse_toml`], [`Inventory::from_json`]) always validates: an inventory
//! value that exists has passed [`Inventory::validate`] unless its public fields were edited
//! since. Every error names the file, the agent (by id, or by position when the id is missing or
//! bad) and the field. This module never stores or echoes a value that looks like a secret.
//!
//! Only [`load`] touches the file system; everything else is pure.

mod fields;
mod validate;

use crate::cedar::Policies;
use crate::PolicyError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub use validate::looks_like_secret;

/// What an agent is.
pub const KINDS: &[&str] = &[
    "llm-agent",
    "api-integration",
    "scheduled-job",
    "service-account",
    "internal-automation",
    "third-party-ai-tool",
];

/// What can start an agent's session.
pub const TRIGGERS: &[&str] = &["user", "schedule", "system", "agent"];

/// Data classifications, in ascending sensitivity.
pub const CLASSIFICATIONS: &[&str] = &[
    "public",
    "internal",
    "confidential",
    "customer",
    "restricted",
];

/// The sensitivity rank of a classification: `None` (or an unknown value) is 0, `public` 1, …,
/// `restricted` 5.
pub fn classification_rank(c: Option<&str>) -> u8 {
    c.and_then(|c| CLASSIFICATIONS.iter().position(|k| *k == c))
        .map_or(0, |i| u8::try_from(i + 1).unwrap_or(u8::MAX))
}

/// One `[[agent]]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentEntry {
    pub id: String,
    /// Display name; `""` means "show the id".
    #[serde(default)]
    pub name: String,
    pub kind: String,
    pub owner: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Service accounts and key ids the agent acts under. References, never secrets.
    #[serde(default)]
    pub principals: Vec<String>,
    #[serde(default)]
    pub systems: Vec<String>,
    #[serde(default)]
    pub triggers: Vec<String>,
    #[serde(default)]
    pub data_classification: Option<String>,
    #[serde(default)]
    pub elevated: bool,
    /// A Cedar policy file, relative to the inventory file's directory.
    #[serde(default)]
    pub policy: Option<String>,
}

/// A whole inventory: top-level policies and agents, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    pub policies: Vec<String>,
    pub agents: Vec<AgentEntry>,
}

impl Inventory {
    /// Parses and validates `agents.toml` text. `origin` (usually the file's path) starts every
    /// error message. TOML syntax errors keep the toml crate's line and column.
    pub fn parse_toml(text: &str, origin: &str) -> Result<Inventory, PolicyError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| {
            PolicyError::Inventory(format!("{origin}: {}", e.to_string().trim_end()))
        })?;
        let inventory = fields::from_toml(&table, origin)?;
        inventory.validate_in(origin, fields::Layout::Toml)?;
        Ok(inventory)
    }

    /// Reads and validates the JSON form written by [`Inventory::to_json`].
    pub fn from_json(value: &Value) -> Result<Inventory, PolicyError> {
        Inventory::from_json_in(value, "inventory JSON")
    }

    /// [`Inventory::from_json`] with `origin` starting every error message.
    pub(crate) fn from_json_in(value: &Value, origin: &str) -> Result<Inventory, PolicyError> {
        let inventory = fields::from_json(value, origin)?;
        inventory.validate_in(origin, fields::Layout::Json)?;
        Ok(inventory)
    }

    /// The canonical JSON form: `{"policies": [...], "agents": [...]}`, agents sorted by id, every
    /// agent field present (`null` for none). Two equal inventories give equal JSON whatever the
    /// order of their agents.
    pub fn to_json(&self) -> Value {
        let mut agents: Vec<&AgentEntry> = self.agents.iter().collect();
        agents.sort_by(|a, b| a.id.cmp(&b.id));
        json!({
            "policies": self.policies,
            "agents": agents.iter().map(|a| a.to_json()).collect::<Vec<_>>(),
        })
    }

    /// The inventory as `agents.toml` text; [`Inventory::parse_toml`] reads it back equal.
    pub fn to_toml(&self) -> String {
        let mut out = String::from("# agentrail agent inventory\n");
        if !self.policies.is_empty() {
            out.push_str(&format!(
                "policies = {}\n",
                fields::toml_array(&self.policies)
            ));
        }
        for agent in &self.agents {
            out.push('\n');
            out.push_str(&agent.to_toml_table());
        }
        out
    }

    /// Checks everything [`Inventory::parse_toml`] checks after parsing: nothing that looks like
    /// a secret in any text field, unique identifier ids, values in their lists, non-empty
    /// owners, clean principal and system lists, and relative policy paths with no `..`.
    pub fn validate(&self) -> Result<(), PolicyError> {
        self.validate_in("inventory", fields::Layout::Json)
    }

    fn validate_in(&self, origin: &str, layout: fields::Layout) -> Result<(), PolicyError> {
        validate::inventory(self, layout)
            .map_err(|m| PolicyError::Inventory(format!("{origin}: {m}")))
    }

    /// The agent with this id.
    pub fn get(&self, id: &str) -> Option<&AgentEntry> {
        self.agents.iter().find(|a| a.id == id)
    }

    /// True when some agent lists `p` among its principals.
    pub fn registers_principal(&self, p: &str) -> bool {
        self.agents
            .iter()
            .any(|a| a.principals.iter().any(|x| x == p))
    }

    /// Every policy file named: the top-level `policies` and each agent's `policy`.
    pub fn policy_paths(&self) -> BTreeSet<String> {
        let mut paths: BTreeSet<String> = self.policies.iter().cloned().collect();
        paths.extend(self.agents.iter().filter_map(|a| a.policy.clone()));
        paths
    }

    /// True when the agent is governed: its entry names a `policy` file of its own. A governed
    /// agent that no policy permits is denied. The top-level `policies` apply to every agent
    /// (their `forbid`s deny, their `permit`s allow) but govern none: an agent they do not
    /// mention is not denied by default.
    pub fn governs(&self, agent_id: &str) -> bool {
        self.get(agent_id).is_some_and(|a| a.policy.is_some())
    }

    /// Who names `path`, for error messages: `the top-level policies, agent "a"`.
    fn referrers(&self, path: &str) -> String {
        let mut who = Vec::new();
        if self.policies.iter().any(|p| p == path) {
            who.push("the top-level policies".to_string());
        }
        for a in self
            .agents
            .iter()
            .filter(|a| a.policy.as_deref() == Some(path))
        {
            who.push(format!("agent {:?}", a.id));
        }
        who.join(", ")
    }
}

impl AgentEntry {
    /// The JSON form used in [`Inventory::to_json`]: every field, `null` for none.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "owner": self.owner,
            "description": self.description,
            "principals": self.principals,
            "systems": self.systems,
            "triggers": self.triggers,
            "data_classification": self.data_classification,
            "elevated": self.elevated,
            "policy": self.policy,
        })
    }

    /// One `[[agent]]` table, ending in a newline, for appending to an existing `agents.toml`
    /// without touching its comments. Fields at their defaults are left out.
    pub fn to_toml_table(&self) -> String {
        let s = fields::toml_string;
        let mut out = String::from("[[agent]]\n");
        out.push_str(&format!("id = {}\n", s(&self.id)));
        if !self.name.is_empty() {
            out.push_str(&format!("name = {}\n", s(&self.name)));
        }
        out.push_str(&format!("kind = {}\n", s(&self.kind)));
        out.push_str(&format!("owner = {}\n", s(&self.owner)));
        if let Some(d) = &self.description {
            out.push_str(&format!("description = {}\n", s(d)));
        }
        for (key, list) in [
            ("principals", &self.principals),
            ("systems", &self.systems),
            ("triggers", &self.triggers),
        ] {
            if !list.is_empty() {
                out.push_str(&format!("{key} = {}\n", fields::toml_array(list)));
            }
        }
        if let Some(c) = &self.data_classification {
            out.push_str(&format!("data_classification = {}\n", s(c)));
        }
        if self.elevated {
            out.push_str("elevated = true\n");
        }
        if let Some(p) = &self.policy {
            out.push_str(&format!("policy = {}\n", s(p)));
        }
        out
    }
}

/// An inventory file read from disk with every policy file it names, compiled.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The `agents.toml` that was read.
    pub path: PathBuf,
    pub inventory: Inventory,
    /// Policy path as written in the inventory -> the file's text.
    pub files: BTreeMap<String, String>,
    pub policies: Policies,
}

/// The largest policy file [`load`] reads: 1 MiB.
pub const POLICY_MAX_BYTES: u64 = 1024 * 1024;

/// Reads `agents.toml` at `path` and every policy file it names (relative paths are resolved
/// against the TOML file's directory), then compiles the policies.
///
/// A policy file must be a regular file of at most [`POLICY_MAX_BYTES`] inside the inventory's
/// directory: its path as written is relative with no `..` (checked when the inventory is
/// parsed), and once resolved it must not lead outside the directory through a symbolic link
/// (the canonical paths are compared). Its type is checked before it is opened, so a FIFO or a
/// device never blocks `load`.
///
/// A missing `agents.toml` is [`PolicyError::Io`] with kind `NotFound`, which callers treat as
/// "no inventory". A policy file that is missing, unreadable, outside the directory, not a regular
/// file, too large, not UTF-8, holds a NUL or does not compile is [`PolicyError::Policy`], naming
/// the path, the agents that reference it and why.
pub fn load(path: &Path) -> Result<Loaded, PolicyError> {
    let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let origin = path.display().to_string();
    let inventory = Inventory::parse_toml(&text, &origin)?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut files = BTreeMap::new();
    for rel in inventory.policy_paths() {
        let bad = |reason: String| {
            PolicyError::Policy(format!(
                "{origin}: policy file {rel:?} (named by {}): {reason}",
                inventory.referrers(&rel)
            ))
        };
        let text = read_policy(dir, &rel).map_err(bad)?;
        files.insert(rel, text);
    }
    let policies = Policies::compile(files.clone()).map_err(|e| match e {
        PolicyError::Policy(m) => PolicyError::Policy(format!("{origin}: {m}")),
        other => other,
    })?;
    Ok(Loaded {
        path: path.to_path_buf(),
        inventory,
        files,
        policies,
    })
}

/// The text of the policy file `rel` (as written in the inventory) under `dir`, or why not.
fn read_policy(dir: &Path, rel: &str) -> Result<String, String> {
    use std::io::Read;
    // Parsing already checked this; checked again because what follows relies on it.
    validate::policy_path(rel)?;
    let full = dir.join(rel);
    let shown = full.display();
    // Nothing is opened before the file is known to be a regular file inside `dir`.
    let link = std::fs::symlink_metadata(&full).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let target = std::fs::canonicalize(&full).map_err(|e| {
        if link.file_type().is_symlink() {
            format!("{shown} is a symbolic link that cannot be resolved: {e}")
        } else {
            format!("cannot read {shown}: {e}")
        }
    })?;
    let root = std::fs::canonicalize(dir).map_err(|e| {
        format!(
            "cannot resolve the inventory's directory {}: {e}",
            dir.display()
        )
    })?;
    if !target.starts_with(&root) {
        return Err(format!(
            "{shown} resolves through a symbolic link to {}, outside the inventory's directory {}; \
             policy files must be inside it",
            target.display(),
            root.display()
        ));
    }
    let meta = std::fs::metadata(&full).map_err(|e| format!("cannot read {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!(
            "{shown} is {}, not a regular file",
            file_kind(&meta.file_type())
        ));
    }
    let too_big = || format!("{shown} is larger than {POLICY_MAX_BYTES} bytes (1 MiB), the limit");
    if meta.len() > POLICY_MAX_BYTES {
        return Err(too_big());
    }
    let file = std::fs::File::open(&full).map_err(|e| format!("cannot read {shown}: {e}"))?;
    // The file may have been replaced or grown since it was looked at: read at most one byte more
    // than the limit, and check that what was opened is still a regular file.
    let opened = file
        .metadata()
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    if !opened.is_file() {
        return Err(format!(
            "{shown} is {}, not a regular file",
            file_kind(&opened.file_type())
        ));
    }
    let mut bytes = Vec::new();
    #[allow(clippy::disallowed_methods)] // read_to_end behind take(max + 1): the bounded form
    let read = file.take(POLICY_MAX_BYTES + 1).read_to_end(&mut bytes);
    read.map_err(|e| format!("cannot read {shown}: {e}"))?;
    if bytes.len() as u64 > POLICY_MAX_BYTES {
        return Err(too_big());
    }
    let text = String::from_utf8(bytes)
        .map_err(|e| format!("not UTF-8 (at byte {})", e.utf8_error().valid_up_to()))?;
    if let Some(at) = text.find('\0') {
        return Err(format!("contains a NUL character (at byte {at})"));
    }
    Ok(text)
}

/// "a directory", "a FIFO", ... for a file that is not a regular file.
fn file_kind(t: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_block_device() || t.is_char_device() {
            return "a device";
        }
    }
    if t.is_dir() {
        "a directory"
    } else {
        "a special file"
    }
}
