//! Cedar scope policies: compiling policy files, the policy set hash, and evaluating events.
//!
//! # Policy files and ids
//!
//! Each file is parsed on its own. Templates (policies with `?principal` or `?resource` slots)
//! are refused. A policy's id is its `@id("...")` annotation when it has one, else
//! `<path>#<n>`, where `path` is the file's path as written in `agents.toml` and `n` the
//! policy's 0-based position in the file. Ids must be unique across all files.
//!
//! # The policy set hash
//!
//! [`policy_set_hash`] is the lowercase hex SHA-256 over, for each file in byte order of path,
//! `u64be(len(path)) || path || u64be(len(text)) || text`. The empty set hashes to the SHA-256 of
//! nothing (`e3b0c442…b855`).
//!
//! # The request shape (the contract policies are written against)
//!
//! Entity types are `Agent`, `Resource`, `Initiator` and `Action`, in no namespace. There is no
//! schema and no entity hierarchy (no parents), so `in` is the same as `==`.
//!
//! Every `Agent` entity carries these attributes:
//!
//! | attribute        | type          | value                                                        |
//! |------------------|---------------|--------------------------------------------------------------|
//! | `registered`     | Bool          | the agent id is in the inventory                             |
//! | `name`           | String        | inventory `name` (`""` when unset or unregistered)           |
//! | `kind`           | String        | inventory `kind` (`""` when unregistered)                    |
//! | `owner`          | String        | inventory `owner` (`""` when unregistered)                   |
//! | `classification` | String        | inventory `data_classification`, `"unclassified"` when none  |
//! | `elevated`       | Bool          | inventory `elevated` (`false` when unregistered)             |
//! | `systems`        | `Set<String>` | inventory `systems` (empty when unregistered)                |
//! | `triggers`       | `Set<String>` | inventory `triggers` (empty when unregistered)               |
//! | `principals`     | `Set<String>` | inventory `principals` (empty when unregistered)             |
//!
//! **An action event** (an agent's call to a system or a model) is asked as:
//!
//! - principal: `Agent::"<agent_id>"`;
//! - action: `Action::"<action_type>"` (for example `Action::"read"`);
//! - resource: `Resource::"<system>/<r>"`, where `r` is the event's `resource`, else (model
//!   calls) its `model`, else `""`. The `Resource` entity has the attributes `system` (String),
//!   `resource` (String, `r`), `classification` (String, the agent's, as above), plus every
//!   string, boolean and integer (within i64) value of the event's `attributes`, under its own
//!   key. Floats, nulls, arrays and objects are left out, and so are keys named `system`,
//!   `resource` or `classification` (agentrail's own values win);
//! - context: `session_id`, `trigger_type`, `initiator`, `request_id`, `principal` (the
//!   principal the event says the agent acted as), `operation`, `status`, all Strings, always
//!   present, `""` when unknown; `count` (Long) only when the event has one (test it with
//!   `context has count`).
//!
//! **A session start** is asked as:
//!
//! - principal: `Initiator::"<initiator>"` (an entity with no attributes);
//! - action: `Action::"start"`;
//! - resource: `Agent::"<agent_id>"`, with the attributes above;
//! - context: `session_id`, `trigger_type`, `schedule`, `request_id`, `principal`, all Strings,
//!   `""` when unknown.
//!
//! Entity ids are built with Cedar's typed constructors, never by formatting policy text, so an
//! id may hold any character (quotes, backslashes, newlines).
//!
//! # The decision
//!
//! 1. An empty policy set gives `no_policy`.
//! 2. Otherwise Cedar's `Authorizer::is_authorized` runs, without a schema. The determining
//!    policies are the ids in its reason set; the errors are Cedar's evaluation diagnostics, each
//!    prefixed with its policy's id (`"<id>: <message>"`). Both are sorted.
//! 3. Cedar allows and there are no errors: `allow`. Cedar allows with errors: `error`.
//! 4. Cedar denies and some `forbid` was satisfied (the reason set is not empty): `deny` (errors
//!    are still listed). No policy was satisfied but some policy errored: `error`. Nothing was
//!    satisfied and nothing errored: `deny` when the agent is *governed* (its inventory entry
//!    names a `policy` file of its own), else `no_policy`. The top-level `policies` apply to
//!    every agent but govern none.
//!
//! The same inputs always give the same [`Verdict`], byte for byte.

mod compile;
mod eval;

pub use eval::{evaluate_action, evaluate_start};

use crate::PolicyError;
use cedar_policy::{ActionConstraint, EntityUid, PolicySet, PrincipalConstraint};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

/// Lowercase hex SHA-256 over `u64be(len(path)) || path || u64be(len(text)) || text` for each
/// file, in byte order of path.
pub fn policy_set_hash(files: &BTreeMap<String, String>) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for (path, text) in files {
        for part in [path.as_bytes(), text.as_bytes()] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
    }
    crate::to_hex(&h.finalize())
}

/// A compiled set of policy files. Immutable: compile a new one to change it.
#[derive(Clone)]
pub struct Policies {
    // INVARIANT: `hash == policy_set_hash(&files)`, `whole` holds exactly the policies of `files`
    // under the ids in `ids` (sorted).
    files: BTreeMap<String, String>,
    hash: String,
    ids: Vec<String>,
    /// Every policy, shared by the requests that use the whole set.
    whole: Arc<PolicySet>,
    /// For each (agent, action type) asked about, the policies whose scope can match an action
    /// request of that agent and type ([`Policies::for_action`]).
    narrowed: Arc<Mutex<Narrowed>>,
    /// Each agent's `Agent` entity as last built, with the inventory entry it was built from
    /// (a hit is used only when the entry is still the same) and its classification.
    pub(crate) agents: Arc<Mutex<HashMap<String, CachedAgent>>>,
}

/// (agent id, action type) -> the policies whose scope can match.
type Narrowed = HashMap<(String, String), Arc<PolicySet>>;

/// An `Agent` entity built for [`Policies::agents`].
pub(crate) type CachedAgent = (Option<crate::AgentEntry>, cedar_policy::Entity, String);

/// The most (agent, action type) pairs whose narrowed policy sets are kept; beyond, the cache
/// starts over (agent ids come from events, so their number is not bounded).
pub(crate) const NARROWED_MAX: usize = 4096;

impl std::fmt::Debug for Policies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policies")
            .field("files", &self.files.keys().collect::<Vec<_>>())
            .field("hash", &self.hash)
            .field("ids", &self.ids)
            .finish()
    }
}

impl Default for Policies {
    fn default() -> Self {
        Policies::empty()
    }
}

impl Policies {
    /// Compiles policy files (path as written in the inventory -> text). Errors name the file
    /// and carry Cedar's message with line and column; two policies with one id is an error
    /// naming both files.
    pub fn compile(files: BTreeMap<String, String>) -> Result<Policies, PolicyError> {
        compile::build(files, false)
    }

    /// Like [`Policies::compile`], but two files that give a policy the same `@id` are accepted:
    /// the later file's policy is named `<path>#<n>` instead. Only [`crate::state`] uses it, for
    /// the states in the middle of a sync, where an `@id` may move from one file to another.
    pub(crate) fn compile_relaxed(
        files: BTreeMap<String, String>,
    ) -> Result<Policies, PolicyError> {
        compile::build(files, true)
    }

    /// No policies at all.
    pub fn empty() -> Policies {
        let files = BTreeMap::new();
        Policies::from_parts(files, PolicySet::new(), Vec::new())
    }

    /// The [`policy_set_hash`] of the files.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// True when there are no policies (no files, or only files without policies).
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The files, path -> text.
    pub fn files(&self) -> &BTreeMap<String, String> {
        &self.files
    }

    /// Every policy id, sorted.
    pub fn ids(&self) -> Vec<String> {
        self.ids.clone()
    }

    /// The whole set, shared.
    pub(crate) fn whole(&self) -> Arc<PolicySet> {
        self.whole.clone()
    }

    pub(crate) fn from_parts(
        files: BTreeMap<String, String>,
        set: PolicySet,
        ids: Vec<String>,
    ) -> Policies {
        Policies {
            hash: policy_set_hash(&files),
            files,
            whole: Arc::new(set),
            ids,
            narrowed: Arc::default(),
            agents: Arc::default(),
        }
    }

    /// The policies that can apply to an action request whose principal is `agent` and whose
    /// action is `action`: those whose principal scope is unconstrained, `is Agent`, or names
    /// `agent`, and whose action scope is unconstrained or names `action`. Cedar evaluates a
    /// policy's scope before its conditions, so a policy left out could neither be satisfied nor
    /// err on such a request: the answer is the same as with the whole set, at the cost of the
    /// few policies that concern this agent rather than all of them.
    pub(crate) fn for_action(
        &self,
        (agent_id, agent): (&str, &EntityUid),
        (action_type, action): (&str, &EntityUid),
    ) -> Arc<PolicySet> {
        let key = (agent_id.to_string(), action_type.to_string());
        let mut cache = self.narrowed.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(set) = cache.get(&key) {
            return set.clone();
        }
        let mut set = PolicySet::new();
        for p in self.whole.policies() {
            let principal = match p.principal_constraint() {
                PrincipalConstraint::Any => true,
                PrincipalConstraint::Eq(u) | PrincipalConstraint::In(u) => &u == agent,
                PrincipalConstraint::Is(t) => &t == agent.type_name(),
                PrincipalConstraint::IsIn(t, u) => &t == agent.type_name() && &u == agent,
            };
            #[allow(
                unreachable_patterns,
                reason = "other variants exist under cedar features"
            )]
            let action_ok = match p.action_constraint() {
                ActionConstraint::Any => true,
                ActionConstraint::Eq(u) => &u == action,
                ActionConstraint::In(us) => us.contains(action),
                _ => true,
            };
            if principal && action_ok {
                // Ids are unique in `self.whole`, so adding cannot fail.
                let _ = set.add(p.clone());
            }
        }
        let set = Arc::new(set);
        if cache.len() >= NARROWED_MAX {
            cache.clear();
        }
        cache.insert(key, set.clone());
        set
    }
}

/// The outcome of one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    Allow,
    Deny,
    /// No policy applies: the set is empty, or nothing matched an ungoverned agent.
    NoPolicy,
    /// A policy failed to evaluate and nothing else decided.
    Error,
}

impl Decision {
    /// `"allow"`, `"deny"`, `"no_policy"` or `"error"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
            Decision::NoPolicy => "no_policy",
            Decision::Error => "error",
        }
    }
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Decision {
    type Err = PolicyError;

    fn from_str(s: &str) -> Result<Decision, PolicyError> {
        match s {
            "allow" => Ok(Decision::Allow),
            "deny" => Ok(Decision::Deny),
            "no_policy" => Ok(Decision::NoPolicy),
            "error" => Ok(Decision::Error),
            _ => Err(PolicyError::Record(format!(
                "decision {s:?} is not one of allow, deny, no_policy, error"
            ))),
        }
    }
}

/// A decision with what determined it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub decision: Decision,
    /// The determining policies' ids, sorted.
    pub policies: Vec<String>,
    /// Evaluation errors, `"<policy id>: <message>"`, sorted.
    pub errors: Vec<String>,
    /// The hash of the policy set that decided.
    pub policy_set_hash: String,
}

impl Verdict {
    /// `{"decision", "policies", "errors", "policy_set_hash"}`.
    pub fn to_json(&self) -> Value {
        json!({
            "decision": self.decision.as_str(),
            "policies": self.policies,
            "errors": self.errors,
            "policy_set_hash": self.policy_set_hash,
        })
    }

    /// Reads what [`Verdict::to_json`] wrote. Errors name the field.
    pub fn from_json(v: &Value) -> Result<Verdict, PolicyError> {
        let bad =
            |field: &str, why: &str| PolicyError::Record(format!("verdict: field {field}: {why}"));
        let obj = v
            .as_object()
            .ok_or_else(|| bad("(root)", "expected an object"))?;
        let string = |field: &str| {
            obj.get(field)
                .and_then(Value::as_str)
                .ok_or_else(|| bad(field, "expected a string"))
        };
        let list = |field: &str| -> Result<Vec<String>, PolicyError> {
            obj.get(field)
                .and_then(Value::as_array)
                .ok_or_else(|| bad(field, "expected an array of strings"))?
                .iter()
                .map(|x| x.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| bad(field, "expected an array of strings"))
        };
        Ok(Verdict {
            decision: string("decision")?
                .parse()
                .map_err(|e: PolicyError| bad("decision", &e.to_string()))?,
            policies: list("policies")?,
            errors: list("errors")?,
            policy_set_hash: string("policy_set_hash")?.to_string(),
        })
    }
}

/// What is known of the session an event belongs to. `None` is "unknown".
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionContext<'a> {
    pub session_id: &'a str,
    pub trigger_type: Option<&'a str>,
    pub initiator: Option<&'a str>,
    pub request_id: Option<&'a str>,
}

/// An action event, as a question: may this agent do this? `None` is "unknown".
#[derive(Debug, Clone, Copy, Default)]
pub struct ActionQuestion<'a> {
    pub agent_id: &'a str,
    /// The principal (account, key id) the event says the agent acted as.
    pub principal: Option<&'a str>,
    pub action_type: &'a str,
    pub system: &'a str,
    pub resource: Option<&'a str>,
    pub model: Option<&'a str>,
    pub operation: Option<&'a str>,
    pub status: Option<&'a str>,
    pub count: Option<u64>,
    pub attributes: Option<&'a Map<String, Value>>,
    pub session: SessionContext<'a>,
}

/// A session start, as a question: may this initiator start this agent?
#[derive(Debug, Clone, Copy, Default)]
pub struct StartQuestion<'a> {
    pub agent_id: &'a str,
    pub principal: Option<&'a str>,
    pub initiator: &'a str,
    pub trigger_type: &'a str,
    pub schedule: Option<&'a str>,
    pub session_id: &'a str,
    pub request_id: Option<&'a str>,
}
