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
