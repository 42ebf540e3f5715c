//! Building Cedar requests from events and turning Cedar's answer into a [`Verdict`].
//!
//! This runs for every action event the index reads, so it parses nothing per call: entity type
//! names and the authorizer are built once, and entities are built directly from values with
//! Cedar's typed constructors (never from formatted text, which an id with a quote would break).
//! The request shape and the decision rule are documented in the parent module; change them only
//! together with that documentation, because users write policies against them.

use super::{ActionQuestion, Decision, Policies, StartQuestion, Verdict};
use crate::inventory::Inventory;
use cedar_policy::PolicySet;
use cedar_policy::{
    AuthorizationError, Authorizer, Context, Entities, Entity, EntityId, EntityTypeName, EntityUid,
    Request, RestrictedExpression,
};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::LazyLock;

/// The classification of an agent without one (or not in the inventory).
const UNCLASSIFIED: &str = "unclassified";

/// Resource attributes agentrail sets itself; event attributes with these keys are left out.
const RESERVED: &[&str] = &["system", "resource", "classification"];

struct Types {
    agent: EntityTypeName,
    resource: EntityTypeName,
    initiator: EntityTypeName,
    action: EntityTypeName,
}

static TYPES: LazyLock<Types> = LazyLock::new(|| {
    let name = |n: &str| EntityTypeName::from_str(n).expect("a valid entity type name");
    Types {
        agent: name("Agent"),
        resource: name("Resource"),
        initiator: name("Initiator"),
        action: name("Action"),
    }
});

static AUTHORIZER: LazyLock<Authorizer> = LazyLock::new(Authorizer::new);

fn uid(ty: &EntityTypeName, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(ty.clone(), EntityId::new(id))
}

fn string(s: &str) -> RestrictedExpression {
    RestrictedExpression::new_string(s.to_string())
}

fn strings(items: &[String]) -> RestrictedExpression {
    RestrictedExpression::new_set(items.iter().map(|s| string(s)))
}

/// The `Agent` entity and the agent's classification, from the cache while the agent's
/// inventory entry is the one it was built from.
fn agent_entity(
    policies: &Policies,
    inventory: &Inventory,
    agent_id: &str,
) -> Result<(Entity, String), String> {
    let entry = inventory.get(agent_id);
    let mut cache = policies.agents.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((built_from, entity, classification)) = cache.get(agent_id) {
        if built_from.as_ref() == entry {
            return Ok((entity.clone(), classification.clone()));
        }
    }
    let (entity, classification) = build_agent(entry, agent_id)?;
    if cache.len() >= super::NARROWED_MAX {
        cache.clear();
    }
    cache.insert(
        agent_id.to_string(),
        (entry.cloned(), entity.clone(), classification.clone()),
    );
    Ok((entity, classification))
}

fn build_agent(
    entry: Option<&crate::AgentEntry>,
    agent_id: &str,
) -> Result<(Entity, String), String> {
    let classification = entry
        .and_then(|a| a.data_classification.clone())
        .unwrap_or_else(|| UNCLASSIFIED.to_string());
    let empty: &[String] = &[];
    let attrs: HashMap<String, RestrictedExpression> = [
        (
            "registered",
            RestrictedExpression::new_bool(entry.is_some()),
        ),
        ("name", string(entry.map_or("", |a| &a.name))),
        ("kind", string(entry.map_or("", |a| &a.kind))),
        ("owner", string(entry.map_or("", |a| &a.owner))),
        ("classification", string(&classification)),
        (
            "elevated",
            RestrictedExpression::new_bool(entry.is_some_and(|a| a.elevated)),
        ),
        ("systems", strings(entry.map_or(empty, |a| &a.systems))),
        ("triggers", strings(entry.map_or(empty, |a| &a.triggers))),
        (
            "principals",
            strings(entry.map_or(empty, |a| &a.principals)),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let entity = Entity::new(uid(&TYPES.agent, agent_id), attrs, HashSet::new())
        .map_err(|e| format!("building the Agent entity: {e}"))?;
    Ok((entity, classification))
}

/// The event attributes that become `Resource` attributes: strings, booleans and integers that
/// fit i64, under keys agentrail does not set itself.
fn event_attribute(key: &str, value: &Value) -> Option<RestrictedExpression> {
    if RESERVED.contains(&key) {
        return None;
    }
    match value {
        Value::String(s) => Some(string(s)),
        Value::Bool(b) => Some(RestrictedExpression::new_bool(*b)),
        Value::Number(n) => n.as_i64().map(RestrictedExpression::new_long),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// Evaluates an action event. See the parent module for the request shape and the rule.
pub fn evaluate_action(policies: &Policies, inventory: &Inventory, q: &ActionQuestion) -> Verdict {
    if policies.is_empty() {
        return no_policy(policies);
    }
    let build = || -> Result<(Request, Entities, Arc<PolicySet>), String> {
        let (agent, classification) = agent_entity(policies, inventory, q.agent_id)?;
        let r = q.resource.or(q.model).unwrap_or("");
        let mut attrs: HashMap<String, RestrictedExpression> = HashMap::new();
        if let Some(map) = q.attributes {
            for (k, v) in map {
                if let Some(x) = event_attribute(k, v) {
                    attrs.insert(k.clone(), x);
                }
            }
        }
        attrs.insert("system".into(), string(q.system));
        attrs.insert("resource".into(), string(r));
        attrs.insert("classification".into(), string(&classification));
        let resource_uid = uid(&TYPES.resource, &format!("{}/{r}", q.system));
        let resource = Entity::new(resource_uid.clone(), attrs, HashSet::new())
            .map_err(|e| format!("building the Resource entity: {e}"))?;
        let s = &q.session;
        let mut context: Vec<(String, RestrictedExpression)> = [
            ("session_id", s.session_id),
            ("trigger_type", s.trigger_type.unwrap_or("")),
            ("initiator", s.initiator.unwrap_or("")),
            ("request_id", s.request_id.unwrap_or("")),
            ("principal", q.principal.unwrap_or("")),
            ("operation", q.operation.unwrap_or("")),
            ("status", q.status.unwrap_or("")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), string(v)))
        .collect();
        if let Some(count) = q.count.and_then(|c| i64::try_from(c).ok()) {
            context.push(("count".into(), RestrictedExpression::new_long(count)));
        }
        let (agent_uid, action_uid) = (
            uid(&TYPES.agent, q.agent_id),
            uid(&TYPES.action, q.action_type),
        );
        let set = policies.for_action((q.agent_id, &agent_uid), (q.action_type, &action_uid));
        let request = request(agent_uid, action_uid, resource_uid, context)?;
        let entities = Entities::from_entities([agent, resource], None)
            .map_err(|e| format!("building the entities: {e}"))?;
        Ok((request, entities, set))
    };
    decide(policies, inventory.governs(q.agent_id), build())
}

/// Evaluates a session start. See the parent module for the request shape and the rule.
pub fn evaluate_start(policies: &Policies, inventory: &Inventory, q: &StartQuestion) -> Verdict {
    if policies.is_empty() {
        return no_policy(policies);
    }
    let build = || -> Result<(Request, Entities, Arc<PolicySet>), String> {
        let (agent, _) = agent_entity(policies, inventory, q.agent_id)?;
        let initiator = Entity::new_no_attrs(uid(&TYPES.initiator, q.initiator), HashSet::new());
        let context: Vec<(String, RestrictedExpression)> = [
            ("session_id", q.session_id),
            ("trigger_type", q.trigger_type),
            ("schedule", q.schedule.unwrap_or("")),
            ("request_id", q.request_id.unwrap_or("")),
            ("principal", q.principal.unwrap_or("")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), string(v)))
        .collect();
        let request = request(
            uid(&TYPES.initiator, q.initiator),
            uid(&TYPES.action, "start"),
            uid(&TYPES.agent, q.agent_id),
            context,
        )?;
        let entities = Entities::from_entities([agent, initiator], None)
            .map_err(|e| format!("building the entities: {e}"))?;
        // Starts are one a run: the whole set, not worth narrowing.
        Ok((request, entities, policies.whole()))
    };
    decide(policies, inventory.governs(q.agent_id), build())
}

fn request(
    principal: EntityUid,
    action: EntityUid,
    resource: EntityUid,
    context: Vec<(String, RestrictedExpression)>,
) -> Result<Request, String> {
    let context = Context::from_pairs(context).map_err(|e| format!("building the context: {e}"))?;
    Request::new(principal, action, resource, context, None)
        .map_err(|e| format!("building the request: {e}"))
}

fn no_policy(policies: &Policies) -> Verdict {
    Verdict {
        decision: Decision::NoPolicy,
        policies: Vec::new(),
        errors: Vec::new(),
        policy_set_hash: policies.hash().to_string(),
    }
}

fn decide(
    policies: &Policies,
    governed: bool,
    built: Result<(Request, Entities, Arc<PolicySet>), String>,
) -> Verdict {
    let (request, entities, set) = match built {
        Ok(x) => x,
        // Not reachable with the literal values built above; reported rather than hidden.
        Err(e) => {
            return Verdict {
                decision: Decision::Error,
                policies: Vec::new(),
                errors: vec![e],
                policy_set_hash: policies.hash().to_string(),
            }
        }
    };
    let response = AUTHORIZER.is_authorized(&request, &set, &entities);
    let diagnostics = response.diagnostics();
    let mut reasons: Vec<String> = diagnostics
        .reason()
        .map(|id| AsRef::<str>::as_ref(id).to_string())
        .collect();
    reasons.sort();
    let mut errors: Vec<String> = diagnostics
        .errors()
        .map(|e| match e {
            AuthorizationError::PolicyEvaluationError(e) => {
                format!("{}: {}", AsRef::<str>::as_ref(e.policy_id()), e.inner())
            }
        })
        .collect();
    errors.sort();
    let decision = match response.decision() {
        cedar_policy::Decision::Allow if errors.is_empty() => Decision::Allow,
        cedar_policy::Decision::Allow => Decision::Error,
        cedar_policy::Decision::Deny if !reasons.is_empty() => Decision::Deny,
        cedar_policy::Decision::Deny if !errors.is_empty() => Decision::Error,
        cedar_policy::Decision::Deny if governed => Decision::Deny,
        cedar_policy::Decision::Deny => Decision::NoPolicy,
    };
    Verdict {
        decision,
        policies: reasons,
        errors,
        policy_set_hash: policies.hash().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Not a timing test: it checks that repeated evaluations are independent and identical,
    /// which is what lets the indexer call this per event without caching anything per call.
    #[test]
    fn repeated_evaluations_are_identical() {
        let files = BTreeMap::from([(
            "p.cedar".to_string(),
            r#"permit(principal, action == Action::"read", resource) when { resource.system == "crm" };"#
                .to_string(),
        )]);
        let policies = Policies::compile(files).expect("compiles");
        let inventory = Inventory::default();
        let q = ActionQuestion {
            agent_id: "a",
            action_type: "read",
            system: "crm",
            ..Default::default()
        };
        let first = evaluate_action(&policies, &inventory, &q);
        assert_eq!(first.decision, Decision::Allow);
        assert_eq!(first.policies, ["p.cedar#0"]);
        for _ in 0..1000 {
            assert_eq!(evaluate_action(&policies, &inventory, &q), first);
        }
    }

    /// Narrowing the set to the policies whose scope can match (by principal and action) must
    /// give exactly the verdict of the whole set: same decision, same determining policies, same
    /// errors. Checked over policies of every scope shape, including ones that err.
    #[test]
    fn the_narrowed_set_answers_as_the_whole_set() {
        let files = BTreeMap::from([
            (
                "a.cedar".to_string(),
                r#"
                permit (principal == Agent::"a", action == Action::"read", resource);
                permit (principal in Agent::"a", action in [Action::"query", Action::"write"], resource)
                  when { resource.system == "crm" };
                forbid (principal is Agent, action, resource is Resource) when { resource.system == "hr" };
                forbid (principal is Agent in Agent::"b", action, resource);
                permit (principal, action == Action::"model_call", resource) when { resource.nope == 1 };
                forbid (principal == Agent::"c", action == Action::"read", resource) when { context.nope };
                permit (principal, action, resource) when { context.count > 10 };
                "#
                .to_string(),
            ),
            (
                "b.cedar".to_string(),
                r#"permit (principal == Agent::"b", action, resource) when { principal.registered };"#
                    .to_string(),
            ),
        ]);
        let policies = Policies::compile(files).expect("compiles");
        let toml = "[[agent]]\nid = \"a\"\nkind = \"llm-agent\"\nowner = \"o\"\npolicy = \"a.cedar\"\n\n[[agent]]\nid = \"b\"\nkind = \"llm-agent\"\nowner = \"o\"\n";
        let inventory = Inventory::parse_toml(toml, "t").expect("parses");
        let mut checked = 0;
        for agent in ["a", "b", "c", "ghost"] {
            for action in ["read", "query", "write", "model_call", "delete"] {
                for system in ["crm", "hr", "s3"] {
                    for count in [None, Some(5), Some(50)] {
                        let q = ActionQuestion {
                            agent_id: agent,
                            action_type: action,
                            system,
                            resource: Some("r"),
                            count,
                            ..Default::default()
                        };
                        let narrowed = evaluate_action(&policies, &inventory, &q);
                        let (request, entities, _) = {
                            let (agent_e, classification) =
                                agent_entity(&policies, &inventory, agent).expect("agent");
                            let mut attrs = HashMap::new();
                            attrs.insert("system".to_string(), string(system));
                            attrs.insert("resource".to_string(), string("r"));
                            attrs.insert("classification".to_string(), string(&classification));
                            let rid = uid(&TYPES.resource, &format!("{system}/r"));
                            let resource =
                                Entity::new(rid.clone(), attrs, HashSet::new()).expect("resource");
                            let mut context: Vec<(String, RestrictedExpression)> = [
                                "session_id",
                                "trigger_type",
                                "initiator",
                                "request_id",
                                "principal",
                                "operation",
                                "status",
                            ]
                            .into_iter()
                            .map(|k| (k.to_string(), string("")))
                            .collect();
                            if let Some(c) = count {
                                context.push((
                                    "count".into(),
                                    RestrictedExpression::new_long(c as i64),
                                ));
                            }
                            let req = request(
                                uid(&TYPES.agent, agent),
                                uid(&TYPES.action, action),
                                rid,
                                context,
                            )
                            .expect("request");
                            let entities = Entities::from_entities([agent_e, resource], None)
                                .expect("entities");
                            (req, entities, ())
                        };
                        let whole = decide(
                            &policies,
                            inventory.governs(agent),
                            Ok((request, entities, policies.whole())),
                        );
                        assert_eq!(narrowed, whole, "{agent} {action} {system} {count:?}");
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, 180);
    }
}
