//! Reading an inventory's structure (which keys, which types) from TOML or JSON, and writing
//! TOML strings.
//!
//! TOML is first turned into a JSON value so that one walker reads both forms and both give the
//! same messages. This module checks only shapes: a key that is not a field, a string where a
//! boolean belongs. What the values mean is checked by `validate`, which sees positions too.

use super::{AgentEntry, Inventory};
use crate::PolicyError;
use serde_json::{Map, Value};

/// Where an inventory came from, for naming an agent by position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// `agents.toml`: "the 3rd [[agent]]".
    Toml,
    /// JSON (records, persisted state): "agents[2]".
    Json,
}

/// The fields of an `[[agent]]` table, in the order they are documented.
pub(crate) const AGENT_FIELDS: &[&str] = &[
    "id",
    "name",
    "kind",
    "owner",
    "description",
    "principals",
    "systems",
    "triggers",
    "data_classification",
    "elevated",
    "policy",
];

/// Marks a TOML value that JSON cannot hold (a datetime, a NaN), so that it is reported by type.
const TOML_ONLY: &str = "$agentrail-toml-only";

/// "the 3rd [[agent]]" or "agents[2]" for the agent at 0-based `index`.
pub(crate) fn position(layout: Layout, index: usize) -> String {
    match layout {
        Layout::Toml => format!("the {} [[agent]]", ordinal(index + 1)),
        Layout::Json => format!("agents[{index}]"),
    }
}

/// `agent "id" (position)` when the id is usable, else the position alone.
pub(crate) fn label(layout: Layout, index: usize, id: Option<&str>) -> String {
    match id {
        Some(id) if super::validate::identifier(id).is_ok() => {
            format!("agent {id:?} ({})", position(layout, index))
        }
        _ => position(layout, index),
    }
}

fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

pub(crate) fn from_toml(table: &toml::Table, origin: &str) -> Result<Inventory, PolicyError> {
    let root: Map<String, Value> = table
        .iter()
        .map(|(k, v)| (k.clone(), toml_to_json(v)))
        .collect();
    walk(&root, Layout::Toml).map_err(|m| PolicyError::Inventory(format!("{origin}: {m}")))
}

pub(crate) fn from_json(value: &Value, origin: &str) -> Result<Inventory, PolicyError> {
    let Some(root) = value.as_object() else {
        return Err(PolicyError::Inventory(format!(
            "{origin}: expected an object, got {}",
            type_name(value)
        )));
    };
    walk(root, Layout::Json).map_err(|m| PolicyError::Inventory(format!("{origin}: {m}")))
}

fn toml_to_json(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => {
            serde_json::Number::from_f64(*f).map_or_else(|| only_toml("a float"), Value::Number)
        }
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(_) => only_toml("a datetime"),
        toml::Value::Array(a) => Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

fn only_toml(what: &str) -> Value {
    let mut m = Map::new();
    m.insert(TOML_ONLY.into(), Value::String(what.into()));
    Value::Object(m)
}

/// "a string", "an integer", "a table", ... for messages.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a float",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(m) => match m.get(TOML_ONLY).and_then(Value::as_str) {
            Some("a datetime") => "a datetime",
            Some(_) => "a float",
            None => "a table",
        },
    }
}

fn walk(root: &Map<String, Value>, layout: Layout) -> Result<Inventory, String> {
    let agents_key = match layout {
        Layout::Toml => "agent",
        Layout::Json => "agents",
    };
    if let Some(key) = root.keys().find(|k| *k != "policies" && *k != agents_key) {
        let hint = if layout == Layout::Toml && key == "agents" {
            " (agents are [[agent]] tables)"
        } else {
            ""
        };
        return Err(format!(
            "unknown top-level key {key:?}{hint}; expected policies and {}",
            match layout {
                Layout::Toml => "[[agent]] tables",
                Layout::Json => "agents",
            }
        ));
    }
    let policies = string_list(root.get("policies"), "field policies")?;
    let agents = match root.get(agents_key) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| agent(item, layout, i))
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(format!(
                "field {agents_key}: expected {}, got {}",
                match layout {
                    Layout::Toml => "[[agent]] tables",
                    Layout::Json => "an array",
                },
                type_name(other)
            ))
        }
    };
    Ok(Inventory { policies, agents })
}

fn agent(item: &Value, layout: Layout, index: usize) -> Result<AgentEntry, String> {
    let Some(map) = item.as_object().filter(|m| !m.contains_key(TOML_ONLY)) else {
        return Err(format!(
            "{}: expected a table, got {}",
            position(layout, index),
            type_name(item)
        ));
    };
    let who = label(layout, index, map.get("id").and_then(Value::as_str));
    if let Some(key) = map.keys().find(|k| !AGENT_FIELDS.contains(&k.as_str())) {
        return Err(format!(
            "{who}: field {key}: unknown field; the fields are {}",
            AGENT_FIELDS.join(", ")
        ));
    }
    let field = |key: &str| map.get(key).filter(|v| !v.is_null());
    let opt_string = |key: &str| -> Result<Option<String>, String> {
        match field(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(format!(
                "{who}: field {key}: expected a string, got {}",
                type_name(other)
            )),
        }
    };
    let required = |key: &str| -> Result<String, String> {
        opt_string(key)?.ok_or_else(|| format!("{who}: field {key}: missing (it is required)"))
    };
    let list = |key: &str| string_list(field(key), &format!("{who}: field {key}"));
    let elevated = match field("elevated") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(format!(
                "{who}: field elevated: expected a boolean, got {}",
                type_name(other)
            ))
        }
    };
    Ok(AgentEntry {
        id: required("id")?,
        name: opt_string("name")?.unwrap_or_default(),
        kind: required("kind")?,
        owner: required("owner")?,
        description: opt_string("description")?,
        principals: list("principals")?,
        systems: list("systems")?,
        triggers: list("triggers")?,
        data_classification: opt_string("data_classification")?,
        elevated,
        policy: opt_string("policy")?,
    })
}

/// An optional array of strings; `what` names it in errors ("field policies").
fn string_list(value: Option<&Value>, what: &str) -> Result<Vec<String>, String> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(format!(
                    "{what}[{i}]: expected a string, got {}",
                    type_name(other)
                )),
            })
            .collect(),
        Some(other) => Err(format!(
            "{what}: expected an array of strings, got {}",
            type_name(other)
        )),
    }
}

/// A TOML basic string: `"` and `\` escaped, control characters as escapes.
pub(crate) fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A TOML array of basic strings on one line.
pub(crate) fn toml_array(items: &[String]) -> String {
    let inner: Vec<String> = items.iter().map(|s| toml_string(s)).collect();
    format!("[{}]", inner.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinals() {
        let got: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111]
            .into_iter()
            .map(ordinal)
            .collect();
        assert_eq!(
            got,
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st",
                "111th"
            ]
        );
    }

    #[test]
    fn toml_strings_parse_back() {
        for s in [
            "plain",
            "q\"uote",
            "back\\slash",
            "new\nline\ttab",
            "\u{7f}\u{1}\u{85}",
            "é✓",
        ] {
            let doc = format!("v = {}", toml_string(s));
            let t: toml::Table = toml::from_str(&doc).expect("valid toml");
            assert_eq!(t["v"].as_str(), Some(s), "{doc}");
        }
    }
}
