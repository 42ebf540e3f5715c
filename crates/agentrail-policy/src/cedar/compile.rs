//! Turning policy files into one Cedar policy set under agentrail's policy ids.
//!
//! Each file is parsed alone (`PolicySet::from_str`, which names its policies `policy0`,
//! `policy1`, … in file order); each policy is then re-named (`Policy::new_id`) to its `@id` or
//! `<path>#<n>` and added to the merged set. Nothing here reads a file or evaluates a policy.

use super::Policies;
use crate::PolicyError;
use cedar_policy::{Policy, PolicyId, PolicySet};
use miette::Diagnostic;
use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

pub(super) fn build(
    files: BTreeMap<String, String>,
    relaxed: bool,
) -> Result<Policies, PolicyError> {
    let mut set = PolicySet::new();
    // policy id -> (file, position), to name both sides of a clash.
    let mut owners: HashMap<String, (String, usize)> = HashMap::new();
    let mut ids = Vec::new();
    for (path, text) in &files {
        for (n, policy) in parse_file(path, text)? {
            let mut id = match policy.annotation("id") {
                Some("") => {
                    return Err(PolicyError::Policy(format!(
                        "policy file {path:?}: policy #{n}: @id is empty; give it a name or \
                         remove it"
                    )))
                }
                Some(id) => id.to_string(),
                None => format!("{path}#{n}"),
            };
            if let Some((other, m)) = owners.get(&id) {
                if !relaxed || other == path {
                    return Err(PolicyError::Policy(format!(
                        "policy id {id:?} is used twice: policy file {other:?} (policy #{m}) and \
                         policy file {path:?} (policy #{n}); give one of them another @id"
                    )));
                }
                id = format!("{path}#{n}");
                let mut k = 1;
                while owners.contains_key(&id) {
                    id = format!("{path}#{n}~{k}");
                    k += 1;
                }
            }
            owners.insert(id.clone(), (path.clone(), n));
            set.add(policy.new_id(PolicyId::new(&id))).map_err(|e| {
                PolicyError::Policy(format!("policy file {path:?}: policy #{n} ({id:?}): {e}"))
            })?;
            ids.push(id);
        }
    }
    ids.sort();
    Ok(Policies::from_parts(files, set, ids))
}

/// The static policies of one file with their 0-based positions, in file order.
fn parse_file(path: &str, text: &str) -> Result<Vec<(usize, Policy)>, PolicyError> {
    if let Some(at) = text.find('\0') {
        let (line, column) = line_column(text, at);
        return Err(PolicyError::Policy(format!(
            "policy file {path:?}: line {line}, column {column}: contains a NUL character"
        )));
    }
    let parsed = PolicySet::from_str(text).map_err(|errors| {
        let messages: Vec<String> = errors
            .iter()
            .map(|e| {
                let at = e
                    .labels()
                    .and_then(|mut labels| labels.next())
                    .map(|label| {
                        let (line, column) = line_column(text, label.offset());
                        format!("line {line}, column {column}: ")
                    })
                    .unwrap_or_default();
                format!("{at}{e}")
            })
            .collect();
        PolicyError::Policy(format!("policy file {path:?}: {}", messages.join("; ")))
    })?;
    if let Some(template) = parsed.templates().next() {
        let n = position(template.id());
        return Err(PolicyError::Policy(format!(
            "policy file {path:?}: policy #{}: templates are not supported (a policy with \
             ?principal or ?resource slots); write a static policy",
            n.map_or_else(|| "?".to_string(), |n| n.to_string())
        )));
    }
    let mut policies = Vec::new();
    for policy in parsed.policies() {
        let Some(n) = position(policy.id()) else {
            return Err(PolicyError::Policy(format!(
                "policy file {path:?}: cedar named a policy {:?}, not policyN; agentrail cannot \
                 tell its position",
                AsRef::<str>::as_ref(policy.id())
            )));
        };
        policies.push((n, policy.clone()));
    }
    policies.sort_by_key(|(n, _)| *n);
    Ok(policies)
}

/// The position cedar encoded in a parsed policy's default id (`policy3` -> 3).
fn position(id: &PolicyId) -> Option<usize> {
    AsRef::<str>::as_ref(id)
        .strip_prefix("policy")?
        .parse()
        .ok()
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column() {
        let text = "ab\ncdé\nf";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 3), (2, 1));
        assert_eq!(line_column(text, 7), (2, 4));
        assert_eq!(line_column(text, 9), (3, 2));
    }

    #[test]
    fn syntax_errors_name_file_line_and_column() {
        let files = BTreeMap::from([(
            "p.cedar".to_string(),
            "permit(principal, action, resource);\npermit(principal, action resource);\n"
                .to_string(),
        )]);
        let err = Policies::compile(files).unwrap_err().to_string();
        assert!(
            err.starts_with("policy file \"p.cedar\": line 2, column "),
            "{err}"
        );
    }

    #[test]
    fn templates_are_refused() {
        let files = BTreeMap::from([(
            "t.cedar".to_string(),
            "permit(principal, action, resource);\npermit(principal == ?principal, action, \
             resource);"
                .to_string(),
        )]);
        let err = Policies::compile(files).unwrap_err().to_string();
        assert!(
            err.contains("\"t.cedar\": policy #1: templates are not supported"),
            "{err}"
        );
    }
}
