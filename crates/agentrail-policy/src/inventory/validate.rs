//! What an inventory's values must be, and what none of them may ever look like: a secret.
//!
//! An inventory is configuration that is recorded in the ledger forever, so a secret pasted into
//! any of its text (an agent's `id`, `name`, `kind`, `owner`, `description`, `principals`,
//! `systems`, `triggers`, `data_classification` or `policy`, or a top-level `policies` entry)
//! would be published to every reader of the log. [`looks_like_secret`] recognizes the common
//! credential formats and the validation refuses them, without ever echoing the value in the
//! error. The secret check runs before every other check so that no other message quotes a
//! secret either.
//!
//! Policy paths must stay inside the inventory's directory: relative, with no `..`, root or drive
//! component, under either separator (`/` or `\`), so that an inventory reads the same files on
//! every platform. `load` checks what is on disk (symbolic links, file type, size).

use super::fields::{label, position, Layout};
use super::{AgentEntry, Inventory, CLASSIFICATIONS, KINDS, TRIGGERS};
use regex::Regex;
use std::collections::HashMap;
use std::path::{Component, Path};
use std::sync::LazyLock;

/// The longest agent id, in characters.
pub const MAX_ID_CHARS: usize = 256;

/// Checks an identifier: 1 to 256 characters, no control characters (U+0000-U+001F,
/// U+007F-U+009F) and no invisible formatting characters (bidi overrides, zero-width ones):
/// an inventory id must read as what it is. The error is a reason ("is empty").
pub(crate) fn identifier(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("is empty".into());
    }
    let n = id.chars().count();
    if n > MAX_ID_CHARS {
        return Err(format!("is {n} characters long; at most {MAX_ID_CHARS}"));
    }
    no_control(id)
}

fn no_control(s: &str) -> Result<(), String> {
    match s.chars().find(|c| c.is_control()) {
        Some(c) => Err(format!(
            "contains a control character (U+{:04X})",
            u32::from(c)
        )),
        None => match s.chars().find(|c| agentrail_core::text::is_unsafe(*c)) {
            Some(c) => Err(format!(
                "contains an invisible formatting character (U+{:04X})",
                u32::from(c)
            )),
            None => Ok(()),
        },
    }
}

pub(crate) fn inventory(inv: &Inventory, layout: Layout) -> Result<(), String> {
    for (i, p) in inv.policies.iter().enumerate() {
        no_secret(p).map_err(|r| format!("field policies[{i}]: {r}"))?;
    }
    for (i, a) in inv.agents.iter().enumerate() {
        agent_secrets(a, layout, i)?;
    }
    for (i, p) in inv.policies.iter().enumerate() {
        policy_path(p).map_err(|r| format!("field policies[{i}]: {r}"))?;
    }
    duplicates(&inv.policies).map_err(|(i, j)| {
        format!(
            "field policies[{j}]: {:?} is listed twice (also policies[{i}])",
            inv.policies[j]
        )
    })?;
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, a) in inv.agents.iter().enumerate() {
        agent(a, layout, i)?;
        if let Some(first) = seen.get(a.id.as_str()) {
            return Err(format!(
                "{}: field id: {:?} is already the id of {}; ids must be unique",
                label(layout, i, Some(&a.id)),
                a.id,
                position(layout, *first)
            ));
        }
        seen.insert(&a.id, i);
    }
    Ok(())
}

fn agent(a: &AgentEntry, layout: Layout, index: usize) -> Result<(), String> {
    let who = label(layout, index, Some(&a.id));
    identifier(&a.id).map_err(|r| format!("{who}: field id: {r}"))?;
    if !KINDS.contains(&a.kind.as_str()) {
        return Err(format!(
            "{who}: field kind: {:?} is not one of {}",
            a.kind,
            KINDS.join(", ")
        ));
    }
    if a.owner.trim().is_empty() {
        return Err(format!(
            "{who}: field owner: is empty; name the person or team that answers for this agent"
        ));
    }
    for (i, p) in a.principals.iter().enumerate() {
        reference(p).map_err(|r| format!("{who}: field principals[{i}]: {r}"))?;
    }
    for (i, s) in a.systems.iter().enumerate() {
        reference(s).map_err(|r| format!("{who}: field systems[{i}]: {r}"))?;
    }
    for (i, t) in a.triggers.iter().enumerate() {
        if !TRIGGERS.contains(&t.as_str()) {
            return Err(format!(
                "{who}: field triggers[{i}]: {t:?} is not one of {}",
                TRIGGERS.join(", ")
            ));
        }
    }
    for (key, list) in [
        ("principals", &a.principals),
        ("systems", &a.systems),
        ("triggers", &a.triggers),
    ] {
        duplicates(list).map_err(|(i, j)| {
            format!(
                "{who}: field {key}[{j}]: {:?} is listed twice (also {key}[{i}])",
                list[j]
            )
        })?;
    }
    if let Some(c) = &a.data_classification {
        if !CLASSIFICATIONS.contains(&c.as_str()) {
            return Err(format!(
                "{who}: field data_classification: {c:?} is not one of {}",
                CLASSIFICATIONS.join(", ")
            ));
        }
    }
    if let Some(p) = &a.policy {
        policy_path(p).map_err(|r| format!("{who}: field policy: {r}"))?;
    }
    Ok(())
}

/// The secret check of every text field of an agent, run (by [`inventory`]) before any other
/// check so that no message quotes a secret. An id that looks like a secret is never used to name
/// the agent: the error names it by position.
fn agent_secrets(a: &AgentEntry, layout: Layout, index: usize) -> Result<(), String> {
    if let Err(r) = no_secret(&a.id) {
        return Err(format!("{}: field id: {r}", label(layout, index, None)));
    }
    let who = label(layout, index, Some(&a.id));
    let one = |field: &str, value: &str| -> Result<(), String> {
        no_secret(value).map_err(|r| format!("{who}: field {field}: {r}"))
    };
    one("name", &a.name)?;
    one("kind", &a.kind)?;
    one("owner", &a.owner)?;
    if let Some(d) = &a.description {
        one("description", d)?;
    }
    for (i, p) in a.principals.iter().enumerate() {
        if let Some(what) = looks_like_secret(p) {
            return Err(format!(
                "{who}: field principals[{i}]: looks like a secret ({what}); list the key's id or \
                 the account name, never the secret"
            ));
        }
    }
    for (key, list) in [("systems", &a.systems), ("triggers", &a.triggers)] {
        for (i, v) in list.iter().enumerate() {
            one(&format!("{key}[{i}]"), v)?;
        }
    }
    if let Some(c) = &a.data_classification {
        one("data_classification", c)?;
    }
    if let Some(p) = &a.policy {
        one("policy", p)?;
    }
    Ok(())
}

/// Refuses a value that looks like a secret, naming only what kind of secret it looks like.
fn no_secret(value: &str) -> Result<(), String> {
    match looks_like_secret(value) {
        Some(what) => Err(format!(
            "looks like a secret ({what}); an inventory is recorded in the ledger for good, so \
             keep secrets out of it (name where the secret is kept instead)"
        )),
        None => Ok(()),
    }
}

/// A principal or system name: non-empty, no control characters.
fn reference(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("is empty".into());
    }
    no_control(s)
}

/// A policy file path as written: non-empty, no NUL, relative to the inventory's directory and
/// staying inside it. Both `/` and `\` count as separators whatever the platform, and a drive
/// (`C:`) counts as a root, so an inventory that passes here passes everywhere.
pub(crate) fn policy_path(p: &str) -> Result<(), String> {
    const RELATIVE: &str = "name a path relative to the inventory file's directory, inside it";
    if p.is_empty() {
        return Err("is empty; name a Cedar policy file".into());
    }
    if p.contains('\0') {
        return Err("contains a NUL character".into());
    }
    let bytes = p.as_bytes();
    let drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    let native_root = Path::new(p)
        .components()
        .any(|c| matches!(c, Component::RootDir | Component::Prefix(_)));
    if p.starts_with(['/', '\\']) || drive || native_root {
        return Err(format!("{p:?} is an absolute path; {RELATIVE}"));
    }
    let parent = Path::new(p)
        .components()
        .any(|c| matches!(c, Component::ParentDir));
    if parent || p.split(['/', '\\']).any(|part| part == "..") {
        return Err(format!("{p:?} has a \"..\" component; {RELATIVE}"));
    }
    Ok(())
}

/// The first repeated item, as (first position, repeated position).
fn duplicates(list: &[String]) -> Result<(), (usize, usize)> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (j, item) in list.iter().enumerate() {
        if let Some(i) = seen.get(item.as_str()) {
            return Err((*i, j));
        }
        seen.insert(item, j);
    }
    Ok(())
}

/// Credential formats, each with what it is called in messages. Prefix formats are matched at
/// the start of a word so that a longer name merely containing the letters is not refused.
static SECRETS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (r"-----BEGIN", "a PEM key or certificate"),
        // A password in a URL's authority: `scheme://user:password@host` (the user may be
        // empty). A port (`host:443/x@y`) is not a password: the password stops at `/?#`.
        (
            r"[A-Za-z][A-Za-z0-9+.-]*://[^\s/?#@:]*:[^\s/?#@]+@",
            "a URL with a password",
        ),
        (
            r"(?:^|[^A-Za-z0-9])[sr]k_(?:live|test)_[A-Za-z0-9]{16,}",
            "a Stripe secret key",
        ),
        (
            r"(?:^|[^A-Za-z0-9_-])AIza[A-Za-z0-9_-]{35}",
            "a Google API key",
        ),
        (
            r"(?:^|[^A-Za-z0-9])glpat-[A-Za-z0-9_-]{20,}",
            "a GitLab token",
        ),
        (
            r"(?:^|[^A-Za-z0-9])sk-ant-[A-Za-z0-9_-]{20,}",
            "an Anthropic key",
        ),
        (r"(?:^|[^A-Za-z0-9])sk-[A-Za-z0-9_-]{20,}", "an OpenAI key"),
        (
            r"(?:^|[^A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{16,}|github_pat_[A-Za-z0-9_]{16,})",
            "a GitHub token",
        ),
        (
            r"(?:^|[^A-Za-z0-9])xox[abps]-[A-Za-z0-9-]{10,}",
            "a Slack token",
        ),
        (
            r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.",
            "a JSON web token",
        ),
        // agentrail's own API key secret: `ark_<16 hex id>_<64 hex secret>` (the key id alone,
        // `ark_<16 hex>` or `key:<16 hex>`, is a reference and is fine).
        (r"ark_[0-9a-f]{16}_[0-9a-fA-F]{64}", "an agentrail API key"),
        (r"local_[0-9a-fA-F]{64}", "the agentrail local admin token"),
    ]
    .into_iter()
    .map(|(re, what)| (Regex::new(re).expect("a valid pattern"), what))
    .collect()
});

/// An AWS access key id (a reference, fine alone) ...
static AWS_KEY_ID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|[^A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?:$|[^A-Z0-9])").expect("a valid pattern")
});
/// ... and a 40-character secret access key after a separator: together they are a credential.
static AWS_SECRET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|[\s:=,;|@/])[A-Za-z0-9+/]{40}(?:$|[^A-Za-z0-9+/])").expect("a valid pattern")
});

/// What kind of secret `value` looks like ("an OpenAI key"), or `None` when it looks like a
/// reference (an account name, a key id).
pub fn looks_like_secret(value: &str) -> Option<&'static str> {
    if let Some((_, what)) = SECRETS.iter().find(|(re, _)| re.is_match(value)) {
        return Some(what);
    }
    if AWS_KEY_ID.is_match(value) && AWS_SECRET.is_match(value) {
        return Some("an AWS access key with its secret");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_recognized_and_references_are_not() {
        let hex64 = "0123456789abcdef".repeat(4);
        let aws_secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        let secrets = [
            ("-----BEGIN OPENSSH PRIVATE KEY-----".to_string(), "a PEM"),
            (
                "sk-proj-abcdefghijklmnopqrstuvwx".to_string(),
                "an OpenAI key",
            ),
            (
                "key:sk-abcdefghijklmnopqrstuvwx".to_string(),
                "an OpenAI key",
            ),
            (
                "sk-ant-api03-abcdefghijklmnopqrstuvwx".to_string(),
                "an Anthropic key",
            ),
            (
                "ghp_abcdefghijklmnopqrstuvwxyz0123456789".to_string(),
                "a GitHub token",
            ),
            (
                "github_pat_11ABCDEFG0123456789_abcdef".to_string(),
                "a GitHub token",
            ),
            ("xoxb-1234567890-abcdefghij".to_string(), "a Slack token"),
            (
                format!("AKIAIOSFODNN7EXAMPLE:{aws_secret}"),
                "an AWS access key",
            ),
            (
                format!("ark_0123456789abcdef_{hex64}"),
                "an agentrail API key",
            ),
            (format!("local_{hex64}"), "the agentrail local admin token"),
            (
                "sk_live_4eC39HqLyjWDarjtT1zdp7dc".to_string(),
                "a Stripe secret key",
            ),
            (
                "rk_live_4eC39HqLyjWDarjtT1zdp7dc".to_string(),
                "a Stripe secret key",
            ),
            (
                "key=sk_test_4eC39HqLyjWDarjtT1zdp7dc".to_string(),
                "a Stripe secret key",
            ),
            (
                "https://svc:Pa55w0rd!@db.example".to_string(),
                "a URL with a password",
            ),
            (
                "connect to postgres://app:s3cr@t/x@db.internal:5432/prod".to_string(),
                "a URL with a password",
            ),
            (
                "redis://:hunter2@cache.example:6379".to_string(),
                "a URL with a password",
            ),
            (
                "AIzaSyA-1234567890abcdefghijklmnopqrstu".to_string(),
                "a Google API key",
            ),
            (
                "token glpat-abcdefghij0123456789".to_string(),
                "a GitLab token",
            ),
        ];
        for (value, what) in &secrets {
            let got = looks_like_secret(value);
            assert!(got.is_some_and(|g| g.starts_with(what)), "{value}: {got:?}");
        }
        let references = [
            "svc-renewals",
            "key:ak_1234",
            "key:0123456789abcdef",
            "ark_0123456789abcdef",
            "AKIAIOSFODNN7EXAMPLE",
            "task-runner",
            "sk-short",
            "desk-abcdefghijklmnopqrstuvwxyz",
            "ghp_short",
            "local_admin",
            "revops@acme.example",
            "the API key is stored in vault",
            "Pushes usage to Stripe (sk_live keys live in vault)",
            "pk_live_4eC39HqLyjWDarjtT1zdp7dc",
            "https://db.example:5432/prod",
            "https://svc@db.example/x",
            "https://example.com:443/users/@alice",
            "mailto:ops:team@acme.example",
            "AIzaShort",
            "glpat-short",
            "policies/base.cedar",
        ];
        for value in references {
            assert_eq!(looks_like_secret(value), None, "{value}");
        }
    }

    #[test]
    fn policy_paths_are_relative_and_stay_inside() {
        for ok in [
            "base.cedar",
            "policies/base.cedar",
            "./policies/x.cedar",
            "policies\\x.cedar",
            "a..b.cedar",
            "..cedar",
        ] {
            assert_eq!(policy_path(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("/etc/passwd", "is an absolute path"),
            ("\\\\server\\share\\x.cedar", "is an absolute path"),
            ("C:\\policies\\x.cedar", "is an absolute path"),
            ("c:x.cedar", "is an absolute path"),
            ("../x.cedar", "has a \"..\" component"),
            ("policies/../../x.cedar", "has a \"..\" component"),
            ("policies\\..\\x.cedar", "has a \"..\" component"),
            ("..", "has a \"..\" component"),
        ] {
            let err = policy_path(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
            assert!(
                err.contains("relative to the inventory file's directory"),
                "{err}"
            );
        }
    }

    #[test]
    fn identifiers() {
        assert!(identifier("renewal-drafter").is_ok());
        assert!(identifier("with \"quotes\" and \\ and é").is_ok());
        assert!(identifier(&"x".repeat(256)).is_ok());
        assert_eq!(identifier(""), Err("is empty".into()));
        assert!(identifier(&"x".repeat(257)).is_err());
        assert!(identifier("a\nb").is_err());
        assert!(identifier("a\u{85}b").is_err());
        assert!(identifier("a\u{7f}b").is_err());
    }
}
