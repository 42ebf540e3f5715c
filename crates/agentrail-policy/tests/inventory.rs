//! `agents.toml`: parsing, every validation error, the JSON and TOML forms, and `load`.

mod common;

use agentrail_policy::inventory::classification_rank;
use agentrail_policy::{load, AgentEntry, Inventory, PolicyError};
use common::{fixtures, loaded};
use serde_json::json;

const HEADER: &str = "[[agent]]\nid = \"a\"\nkind = \"llm-agent\"\nowner = \"o\"\n";

/// Parses `text` as agents.toml and asserts that it fails with exactly `expected`.
fn bad(text: &str, expected: &str) {
    match Inventory::parse_toml(text, "agents.toml") {
        Err(PolicyError::Inventory(m)) => assert_eq!(m, expected, "for:\n{text}"),
        other => panic!("expected an inventory error for:\n{text}\ngot {other:?}"),
    }
}

#[test]
fn the_fixture_parses_in_file_order() {
    let l = loaded();
    let ids: Vec<&str> = l.inventory.agents.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "renewal-drafter",
            "crm-sync",
            "triage-bot",
            "nightly-report"
        ]
    );
    let a = l.inventory.get("renewal-drafter").expect("present");
    assert_eq!(a.principals, ["svc-renewals", "key:0123456789abcdef"]);
    assert_eq!(a.data_classification.as_deref(), Some("customer"));
    let n = l.inventory.get("nightly-report").expect("present");
    assert_eq!(
        (
            n.name.as_str(),
            n.elevated,
            n.policy.as_deref(),
            n.description.as_deref()
        ),
        ("", false, None, None)
    );
    assert!(l.inventory.get("triage-bot").expect("present").elevated);
    assert!(l.inventory.registers_principal("svc-renewals"));
    assert!(!l.inventory.registers_principal("svc-other"));
    assert_eq!(
        l.inventory.policy_paths().into_iter().collect::<Vec<_>>(),
        [
            "policies/base.cedar",
            "policies/erroring.cedar",
            "policies/named.cedar",
            "policies/renewal-drafter.cedar"
        ]
    );
    assert_eq!(l.files.len(), 4);
}

#[test]
fn validation_errors_name_the_agent_and_the_field() {
    let three = "[[agent]]\nid = \"a\"\nkind = \"llm-agent\"\nowner = \"o\"\n\n\
                 [[agent]]\nid = \"b\"\nkind = \"llm-agent\"\nowner = \"o\"\n\n";
    bad(
        &format!("{three}[[agent]]\nid = \"crm-sync\"\nkind = \"bot\"\nowner = \"o\"\n"),
        "agents.toml: agent \"crm-sync\" (the 3rd [[agent]]): field kind: \"bot\" is not one of \
         llm-agent, api-integration, scheduled-job, service-account, internal-automation, third-party-ai-tool",
    );
    bad(
        &format!("{HEADER}colour = \"red\"\n"),
        "agents.toml: agent \"a\" (the 1st [[agent]]): field colour: unknown field; the fields are \
         id, name, kind, owner, description, principals, systems, triggers, data_classification, elevated, policy",
    );
    bad(
        &format!("{three}[[agent]]\nid = \"a\"\nkind = \"llm-agent\"\nowner = \"o\"\n"),
        "agents.toml: agent \"a\" (the 3rd [[agent]]): field id: \"a\" is already the id of the 1st \
         [[agent]]; ids must be unique",
    );
    bad(
        &format!("{HEADER}triggers = [\"user\", \"cron\"]\n"),
        "agents.toml: agent \"a\" (the 1st [[agent]]): field triggers[1]: \"cron\" is not one of user, schedule, system, agent",
    );
    bad(
        &format!("{HEADER}data_classification = \"secret\"\n"),
        "agents.toml: agent \"a\" (the 1st [[agent]]): field data_classification: \"secret\" is not one of \
         public, internal, confidential, customer, restricted",
    );
    bad(
        "[[agent]]\nkind = \"llm-agent\"\nowner = \"o\"\n",
        "agents.toml: the 1st [[agent]]: field id: missing (it is required)",
    );
    bad(
        "[[agent]]\nid = \"a\\nb\"\nkind = \"llm-agent\"\nowner = \"o\"\n",
        "agents.toml: the 1st [[agent]]: field id: contains a control character (U+000A)",
    );
    bad(
        &format!(
            "[[agent]]\nid = \"{}\"\nkind = \"llm-agent\"\nowner = \"o\"\n",
            "x".repeat(257)
        ),
        "agents.toml: the 1st [[agent]]: field id: is 257 characters long; at most 256",
    );
    bad(
        "[[agent]]\nid = \"a\"\nkind = \"llm-agent\"\nowner = \" \"\n",
        "agents.toml: agent \"a\" (the 1st [[agent]]): field owner: is empty; name the person or team \
         that answers for this agent",
    );
    bad(
        &format!("{HEADER}elevated = \"yes\"\n"),
        "agents.toml: agent \"a\" (the 1st [[agent]]): field elevated: expected a boolean, got a string",
    );
    bad(
        &format!("{HEADER}systems = [\"crm\", 3]\n"),
        "agents.toml: agent \"a\" (the 1st [[agent]]): field systems[1]: expected a string, got an integer",
    );
    bad(
        &format!("{HEADER}principals = [\"svc\", \"\"]\n"),
        "agents.toml: agent \"a\" (the 1st [[agent]]): field principals[1]: is empty",
    );
    bad(
        &format!("{HEADER}principals = [\"svc\", \"other\", \"svc\"]\n"),
        "agents.toml: agent \"a\" (the 1st [[agent]]): field principals[2]: \"svc\" is listed twice (also principals[0])",
    );
    bad(
        &format!("{HEADER}policy = \"\"\n"),
        "agents.toml: agent \"a\" (the 1st [[agent]]): field policy: is empty; name a Cedar policy file",
    );
    bad(
        &format!("{HEADER}name = 1979-05-27\n"),
        "agents.toml: agent \"a\" (the 1st [[agent]]): field name: expected a string, got a datetime",
    );
    bad(
        "policies = [\"a.cedar\", \"a.cedar\"]\n",
        "agents.toml: field policies[1]: \"a.cedar\" is listed twice (also policies[0])",
    );
    bad(
        "agents = []\n",
        "agents.toml: unknown top-level key \"agents\" (agents are [[agent]] tables); expected policies and [[agent]] tables",
    );
    bad(
        "agent = \"x\"\n",
        "agents.toml: field agent: expected [[agent]] tables, got a string",
    );
}

#[test]
fn secret_looking_principals_are_refused_without_echoing_them() {
    let secret = "sk-proj-abcdefghijklmnopqrstuvwxyz012345";
    let text = format!("{HEADER}principals = [\"svc-renewals\", \"{secret}\"]\n");
    bad(
        &text,
        "agents.toml: agent \"a\" (the 1st [[agent]]): field principals[1]: looks like a secret (an \
         OpenAI key); list the key's id or the account name, never the secret",
    );
    let ark = format!("ark_0123456789abcdef_{}", "ab".repeat(32));
    let err = Inventory::parse_toml(
        &format!("{HEADER}principals = [\"{ark}\"]\n"),
        "agents.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("field principals[0]: looks like a secret (an agentrail API key)"),
        "{err}"
    );
    assert!(!err.contains(&ark));
    // Key ids are references, not secrets.
    Inventory::parse_toml(
        &format!("{HEADER}principals = [\"key:0123456789abcdef\", \"AKIAIOSFODNN7EXAMPLE\"]\n"),
        "x",
    )
    .expect("key ids are fine");
}

#[test]
fn toml_syntax_errors_keep_line_and_column() {
    let err = Inventory::parse_toml("[[agent]]\nid = \"a\nkind = 1\n", "agents.toml")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("agents.toml: TOML parse error at line 2, column"),
        "{err}"
    );
}

#[test]
fn toml_round_trip() {
    let l = loaded();
    let text = l.inventory.to_toml();
    assert_eq!(
        Inventory::parse_toml(&text, "round-trip").expect("parses"),
        l.inventory,
        "{text}"
    );
    let odd = Inventory {
        policies: vec!["p/\"q\".cedar".into()],
        agents: vec![AgentEntry {
            id: "we\"ird\\id é".into(),
            name: "Ünïcode \"name\"".into(),
            kind: "service-account".into(),
            owner: "o\\wner".into(),
            description: Some("line one\nline two\ttabbed".into()),
            principals: vec!["svc-a".into()],
            systems: vec!["s\"ys".into()],
            triggers: vec!["system".into(), "agent".into()],
            data_classification: Some("restricted".into()),
            elevated: true,
            policy: Some("policies\\x.cedar".into()),
        }],
    };
    odd.validate().expect("valid");
    assert_eq!(
        Inventory::parse_toml(&odd.to_toml(), "odd").expect("parses"),
        odd
    );
}

#[test]
fn an_agent_table_appends_to_a_file_with_comments() {
    let original = std::fs::read_to_string(fixtures().join("agents.toml")).expect("fixture");
    let new = AgentEntry {
        id: "new-agent".into(),
        name: String::new(),
        kind: "internal-automation".into(),
        owner: "ops@acme.example".into(),
        description: None,
        principals: vec![],
        systems: vec!["wiki".into()],
        triggers: vec![],
        data_classification: None,
        elevated: false,
        policy: None,
    };
    let appended = format!("{original}\n{}", new.to_toml_table());
    assert!(appended.starts_with("# The inventory agentrail-policy's tests run against."));
    let inv = Inventory::parse_toml(&appended, "appended").expect("parses");
    assert_eq!(inv.agents.len(), 5);
    assert_eq!(inv.agents.last(), Some(&new));
}

#[test]
fn json_form_is_canonical() {
    let l = loaded();
    let json = l.inventory.to_json();
    let ids: Vec<&str> = json["agents"]
        .as_array()
        .expect("array")
        .iter()
        .map(|a| a["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        ids,
        [
            "crm-sync",
            "nightly-report",
            "renewal-drafter",
            "triage-bot"
        ]
    );
    assert_eq!(
        json["agents"][1],
        json!({"id": "nightly-report", "name": "", "kind": "scheduled-job", "owner": "finance@acme.example",
               "description": null, "principals": [], "systems": [], "triggers": ["schedule"],
               "data_classification": null, "elevated": false, "policy": null})
    );
    assert_eq!(json["policies"], json!(["policies/base.cedar"]));
    let mut reversed = l.inventory.clone();
    reversed.agents.reverse();
    assert_eq!(reversed.to_json(), json);
    assert_eq!(
        serde_json::to_string(&reversed.to_json()).ok(),
        serde_json::to_string(&json).ok()
    );
    let back = Inventory::from_json(&json).expect("reads back");
    assert_eq!(back.to_json(), json);
    let mut broken = json.clone();
    broken["agents"][2]["kind"] = json!("bot");
    let err = Inventory::from_json(&broken).unwrap_err().to_string();
    assert!(
        err.starts_with(
            "inventory JSON: agent \"renewal-drafter\" (agents[2]): field kind: \"bot\""
        ),
        "{err}"
    );
}

#[test]
fn classification_ranks() {
    let ranks: Vec<u8> = [
        None,
        Some("public"),
        Some("internal"),
        Some("confidential"),
        Some("customer"),
        Some("restricted"),
        Some("bogus"),
    ]
    .into_iter()
    .map(classification_rank)
    .collect();
    assert_eq!(ranks, [0, 1, 2, 3, 4, 5, 0]);
}

#[test]
fn governed_agents() {
    // Only an agent's own policy file governs it; the top-level policies govern no one.
    let l = loaded();
    assert!(!l.inventory.policies.is_empty());
    assert!(l.inventory.governs("renewal-drafter"));
    assert!(!l.inventory.governs("nightly-report"));
    assert!(!l.inventory.governs("ghost"));
}

#[test]
fn load_names_the_agent_and_path_of_a_missing_policy_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let toml = format!("{HEADER}policy = \"policies/missing.cedar\"\n");
    std::fs::write(dir.path().join("agents.toml"), toml).expect("write");
    let err = load(&dir.path().join("agents.toml")).unwrap_err();
    assert!(matches!(err, PolicyError::Policy(_)), "{err:?}");
    assert!(!err.is_not_found());
    let msg = err.to_string();
    assert!(
        msg.contains("policy file \"policies/missing.cedar\" (named by agent \"a\"): cannot read "),
        "{msg}"
    );
    assert!(msg.contains("missing.cedar"), "{msg}");
}

#[test]
fn load_refuses_bad_policy_files_and_reports_a_missing_inventory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = load(&dir.path().join("agents.toml")).unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert!(
        matches!(&err, PolicyError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    );

    std::fs::write(dir.path().join("agents.toml"), "policies = [\"p.cedar\"]\n").expect("write");
    std::fs::write(
        dir.path().join("p.cedar"),
        b"permit (principal, action, resource);\xff",
    )
    .expect("write");
    let msg = load(&dir.path().join("agents.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        msg.ends_with(
            "policy file \"p.cedar\" (named by the top-level policies): not UTF-8 (at byte 37)"
        ),
        "{msg}"
    );

    std::fs::write(
        dir.path().join("p.cedar"),
        "permit (principal, action, resource) when { nope };",
    )
    .expect("write");
    let msg = load(&dir.path().join("agents.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("agents.toml: policy file \"p.cedar\": "),
        "{msg}"
    );

    std::fs::write(
        dir.path().join("p.cedar"),
        "permit (principal, action, resource);",
    )
    .expect("write");
    let l = load(&dir.path().join("agents.toml")).expect("loads");
    assert_eq!(l.policies.ids(), ["p.cedar#0"]);
    assert!(l.inventory.agents.is_empty());
}

#[test]
fn secrets_in_any_text_field_are_refused_without_echoing_them() {
    let anthropic = format!("sk-ant-api03-{}", "a".repeat(24));
    let google = format!("AIza{}", "B".repeat(35));
    let cases = [
        (
            format!("[[agent]]\nid = \"a\"\nname = \"{anthropic}\"\nkind = \"llm-agent\"\nowner = \"o\"\n"),
            "field name: looks like a secret (an Anthropic key)",
            anthropic.clone(),
        ),
        (
            format!("{HEADER}description = \"calls the API with {anthropic}\"\n"),
            "field description: looks like a secret (an Anthropic key)",
            anthropic.clone(),
        ),
        (
            "[[agent]]\nid = \"a\"\nkind = \"llm-agent\"\nowner = \"https://svc:Pa55w0rd!@db.example\"\n"
                .to_string(),
            "field owner: looks like a secret (a URL with a password)",
            "Pa55w0rd".to_string(),
        ),
        (
            format!("{HEADER}systems = [\"crm\", \"{google}\"]\n"),
            "field systems[1]: looks like a secret (a Google API key)",
            google.clone(),
        ),
        (
            format!("{HEADER}triggers = [\"user\", \"glpat-abcdefghij0123456789\"]\n"),
            "field triggers[1]: looks like a secret (a GitLab token)",
            "glpat-abcdefghij0123456789".to_string(),
        ),
        (
            format!("{HEADER}principals = [\"sk_live_4eC39HqLyjWDarjtT1zdp7dc\"]\n"),
            "field principals[0]: looks like a secret (a Stripe secret key)",
            "4eC39HqLyjWDarjtT1zdp7dc".to_string(),
        ),
        (
            format!("{HEADER}principals = [\"rk_live_4eC39HqLyjWDarjtT1zdp7dc\"]\n"),
            "field principals[0]: looks like a secret (a Stripe secret key)",
            "4eC39HqLyjWDarjtT1zdp7dc".to_string(),
        ),
        (
            format!("{HEADER}principals = [\"sk_test_4eC39HqLyjWDarjtT1zdp7dc\"]\n"),
            "field principals[0]: looks like a secret (a Stripe secret key)",
            "4eC39HqLyjWDarjtT1zdp7dc".to_string(),
        ),
    ];
    for (text, expected, secret) in &cases {
        let err = Inventory::parse_toml(text, "agents.toml").unwrap_err();
        assert!(matches!(err, PolicyError::Inventory(_)), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.starts_with("agents.toml: agent \"a\" (the 1st [[agent]]): "),
            "{msg}"
        );
        assert!(msg.contains(expected), "{msg}");
        assert!(!msg.contains(secret.as_str()), "{msg}");
    }
    bad(
        &format!("{HEADER}description = \"uses {anthropic}\"\n"),
        "agents.toml: agent \"a\" (the 1st [[agent]]): field description: looks like a secret (an \
         Anthropic key); an inventory is recorded in the ledger for good, so keep secrets out of \
         it (name where the secret is kept instead)",
    );
    // An id that looks like a secret names the agent by position only.
    let msg = Inventory::parse_toml(
        &format!("[[agent]]\nid = \"{anthropic}\"\nkind = \"llm-agent\"\nowner = \"o\"\n"),
        "agents.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        msg.starts_with("agents.toml: the 1st [[agent]]: field id: looks like a secret"),
        "{msg}"
    );
    assert!(!msg.contains(&anthropic), "{msg}");
    // The secret check runs before any check that would quote the value.
    let msg = Inventory::parse_toml(
        &format!("{HEADER}systems = [\"{google}\", \"{google}\"]\nkind2 = 1\n"),
        "agents.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(!msg.contains(&google), "{msg}");
    let mut inv = Inventory::parse_toml(HEADER, "x").expect("valid");
    inv.agents[0].systems = vec![google.clone(), google.clone()];
    let msg = inv.validate().unwrap_err().to_string();
    assert!(
        msg.contains("field systems[0]: looks like a secret"),
        "{msg}"
    );
    assert!(!msg.contains(&google), "{msg}");
    inv.agents[0].systems.clear();
    inv.policies = vec![format!("policies/{google}.cedar")];
    let msg = inv.validate().unwrap_err().to_string();
    assert!(
        msg.contains("field policies[0]: looks like a secret"),
        "{msg}"
    );
    assert!(!msg.contains(&google), "{msg}");

    // Ordinary text passes.
    Inventory::parse_toml(
        "[[agent]]\nid = \"a\"\nname = \"Renewal drafter\"\nkind = \"llm-agent\"\n\
         owner = \"revops@acme.example\"\n\
         description = \"the API key is stored in vault; see https://wiki.example:8443/agents\"\n\
         systems = [\"stripe\", \"postgres://db.example/prod\"]\n",
        "x",
    )
    .expect("ordinary text is fine");
}

#[test]
fn policy_paths_must_be_relative_without_dot_dot() {
    bad(
        &format!("{HEADER}policy = \"/etc/agentrail/x.cedar\"\n"),
        "agents.toml: agent \"a\" (the 1st [[agent]]): field policy: \"/etc/agentrail/x.cedar\" is \
         an absolute path; name a path relative to the inventory file's directory, inside it",
    );
    bad(
        &format!("{HEADER}policy = \"policies/../../secret.cedar\"\n"),
        "agents.toml: agent \"a\" (the 1st [[agent]]): field policy: \"policies/../../secret.cedar\" \
         has a \"..\" component; name a path relative to the inventory file's directory, inside it",
    );
    bad(
        "policies = [\"ok.cedar\", \"../up.cedar\"]\n",
        "agents.toml: field policies[1]: \"../up.cedar\" has a \"..\" component; name a path \
         relative to the inventory file's directory, inside it",
    );
    bad(
        "policies = [\"C:\\\\policies\\\\x.cedar\"]\n",
        "agents.toml: field policies[0]: \"C:\\\\policies\\\\x.cedar\" is an absolute path; name a \
         path relative to the inventory file's directory, inside it",
    );
    Inventory::parse_toml(
        &format!("policies = [\"./base.cedar\"]\n{HEADER}policy = \"policies/a..b.cedar\"\n"),
        "x",
    )
    .expect("relative paths are fine");
}

/// Writes `agents.toml` naming `policies = [rel]` into `dir` and loads it.
fn load_with_policy(
    dir: &std::path::Path,
    rel: &str,
) -> Result<agentrail_policy::Loaded, PolicyError> {
    let toml = format!("policies = [\"base.cedar\"]\n{HEADER}policy = \"{rel}\"\n");
    std::fs::write(
        dir.join("base.cedar"),
        "permit (principal, action, resource);",
    )
    .expect("write");
    std::fs::write(dir.join("agents.toml"), toml).expect("write");
    load(&dir.join("agents.toml"))
}

/// The message of a `PolicyError::Policy`, which it must be.
fn policy_message(r: Result<agentrail_policy::Loaded, PolicyError>) -> String {
    match r {
        Err(e @ PolicyError::Policy(_)) => {
            assert!(!e.is_not_found());
            e.to_string()
        }
        other => panic!("expected a policy error, got {other:?}"),
    }
}

#[test]
fn load_refuses_a_policy_file_over_one_mib() {
    use agentrail_policy::POLICY_MAX_BYTES;
    let dir = tempfile::tempdir().expect("tempdir");
    let limit = usize::try_from(POLICY_MAX_BYTES).expect("fits");
    assert_eq!(limit, 1024 * 1024);
    let body = |len: usize| {
        let rule = "permit (principal, action, resource);\n";
        let mut s = rule.repeat(len / rule.len());
        s.push_str(&" ".repeat(len - s.len()));
        s
    };
    std::fs::write(dir.path().join("big.cedar"), body(limit + 1)).expect("write");
    let msg = policy_message(load_with_policy(dir.path(), "big.cedar"));
    assert!(
        msg.contains("policy file \"big.cedar\" (named by agent \"a\"): ")
            && msg.ends_with("is larger than 1048576 bytes (1 MiB), the limit"),
        "{msg}"
    );
    std::fs::write(dir.path().join("big.cedar"), body(limit)).expect("write");
    let l = load_with_policy(dir.path(), "big.cedar").expect("exactly 1 MiB loads");
    assert_eq!(l.files["big.cedar"].len(), limit);
}

#[test]
fn load_refuses_a_directory_and_keeps_a_missing_file_a_policy_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("sub.cedar")).expect("mkdir");
    let msg = policy_message(load_with_policy(dir.path(), "sub.cedar"));
    assert!(
        msg.contains("policy file \"sub.cedar\" (named by agent \"a\"): ")
            && msg.ends_with("sub.cedar is a directory, not a regular file"),
        "{msg}"
    );
    let msg = policy_message(load_with_policy(dir.path(), "nope/missing.cedar"));
    assert!(
        msg.contains("policy file \"nope/missing.cedar\" (named by agent \"a\"): cannot read "),
        "{msg}"
    );
}

#[cfg(unix)]
#[test]
fn load_refuses_a_symlink_leading_outside_the_inventory_directory() {
    use std::os::unix::fs::symlink;
    let outside = tempfile::tempdir().expect("tempdir");
    let dir = tempfile::tempdir().expect("tempdir");
    let target = outside.path().join("elsewhere.cedar");
    std::fs::write(&target, "permit (principal, action, resource);").expect("write");
    symlink(&target, dir.path().join("link.cedar")).expect("symlink");
    let msg = policy_message(load_with_policy(dir.path(), "link.cedar"));
    assert!(
        msg.contains("policy file \"link.cedar\" (named by agent \"a\"): ")
            && msg.contains("resolves through a symbolic link to ")
            && msg.contains("outside the inventory's directory"),
        "{msg}"
    );
    // A directory on the way that leads outside is refused too.
    symlink(outside.path(), dir.path().join("shared")).expect("symlink");
    let msg = policy_message(load_with_policy(dir.path(), "shared/elsewhere.cedar"));
    assert!(msg.contains("outside the inventory's directory"), "{msg}");
    // A dangling link is a policy error, not "no inventory".
    symlink(
        dir.path().join("gone.cedar"),
        dir.path().join("dangling.cedar"),
    )
    .expect("symlink");
    let msg = policy_message(load_with_policy(dir.path(), "dangling.cedar"));
    assert!(
        msg.contains("is a symbolic link that cannot be resolved"),
        "{msg}"
    );
    // A link that stays inside is fine.
    std::fs::write(
        dir.path().join("real.cedar"),
        "permit (principal, action, resource);",
    )
    .expect("write");
    symlink("real.cedar", dir.path().join("inside.cedar")).expect("symlink");
    let l = load_with_policy(dir.path(), "inside.cedar").expect("a link inside loads");
    assert!(l.files.contains_key("inside.cedar"));
}

#[cfg(unix)]
#[test]
fn load_refuses_a_fifo_without_blocking() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("pipe.cedar");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    // Also through a link inside the directory.
    std::os::unix::fs::symlink("pipe.cedar", dir.path().join("to-pipe.cedar")).expect("symlink");
    for rel in ["pipe.cedar", "to-pipe.cedar"] {
        let path = dir.path().to_path_buf();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(policy_message(load_with_policy(&path, rel)));
        });
        let msg = rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("load returns instead of blocking on the FIFO");
        assert!(
            msg.contains(&format!("policy file \"{rel}\" (named by agent \"a\"): "))
                && msg.ends_with("is a FIFO (named pipe), not a regular file"),
            "{msg}"
        );
    }
}
