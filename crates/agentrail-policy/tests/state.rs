//! Rebuilding what was in force from ledger records, and making those records.

mod common;

use agentrail_policy::{
    policy_set_hash, AgentEntry, Decision, Inventory, Loaded, Policies, PolicyError, PolicyState,
    INVENTORY_KIND, POLICY_KIND,
};
use common::{action, loaded};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn sha(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn add(path: &str, text: &str) -> Value {
    json!({"policy": {"path": path, "sha256": sha(text), "text": text, "policy_set_hash": "", "by": "test"}})
}

fn remove(path: &str) -> Value {
    json!({"policy": {"path": path, "removed": true, "policy_set_hash": "", "by": "test"}})
}

/// A `Loaded` built in memory from an inventory and files.
fn loaded_from(inventory: Inventory, files: &[(&str, &str)]) -> Loaded {
    let files: BTreeMap<String, String> = files
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect();
    Loaded {
        path: PathBuf::from("agents.toml"),
        inventory,
        policies: Policies::compile(files.clone()).expect("compiles"),
        files,
    }
}

/// Applies the sync records of `state -> target` in order, checks that the result equals the
/// target and that a second sync makes nothing. Returns the records.
fn sync(state: &mut PolicyState, target: &Loaded) -> Vec<(&'static str, Value)> {
    let records = state.sync_records(target, "cli:test");
    for (kind, body) in &records {
        state
            .apply_record(kind, body)
            .unwrap_or_else(|e| panic!("{kind} {body}: {e}"));
    }
    assert_eq!(state, &PolicyState::from_loaded(target));
    assert_eq!(state.policies.hash(), target.policies.hash());
    assert_eq!(state.policies.ids(), target.policies.ids());
    assert!(
        state.sync_records(target, "cli:test").is_empty(),
        "syncing twice makes nothing"
    );
    records
}

#[test]
fn policy_records_add_change_and_remove() {
    let mut s = PolicyState::default();
    assert!(s.policies.is_empty());
    let v1 = "permit (principal, action, resource);";
    let v2 = "forbid (principal, action, resource);";
    assert!(s
        .apply_record(POLICY_KIND, &add("a.cedar", v1))
        .expect("applies"));
    assert_eq!(s.policies.ids(), ["a.cedar#0"]);
    assert!(
        !s.apply_record(POLICY_KIND, &add("a.cedar", v1))
            .expect("applies"),
        "same text: no change"
    );
    assert!(s
        .apply_record(POLICY_KIND, &add("a.cedar", v2))
        .expect("applies"));
    assert_eq!(s.policies.files()["a.cedar"], v2);
    assert_eq!(s.policies.hash(), policy_set_hash(s.policies.files()));
    assert!(s
        .apply_record(POLICY_KIND, &remove("a.cedar"))
        .expect("applies"));
    assert!(s.policies.files().is_empty());
    assert!(
        !s.apply_record(POLICY_KIND, &remove("a.cedar"))
            .expect("applies"),
        "already gone"
    );
    assert!(!s
        .apply_record("agentrail.apikey", &json!({"apikey": {}}))
        .expect("ignored"));
}

#[test]
fn invalid_records_name_the_field_and_change_nothing() {
    let mut s = PolicyState::default();
    s.apply_record(
        POLICY_KIND,
        &add("a.cedar", "permit (principal, action, resource);"),
    )
    .expect("applies");
    let before = s.clone();
    let cases = [
        (POLICY_KIND, json!({"nope": {}}), "agentrail.policy record: field policy: expected an object"),
        (POLICY_KIND, json!({"policy": {"text": "x"}}), "agentrail.policy record: field policy.path: expected a non-empty string without NUL"),
        (POLICY_KIND, json!({"policy": {"path": "b.cedar", "sha256": sha("x")}}), "agentrail.policy record: field policy.text: expected a string"),
        (POLICY_KIND, json!({"policy": {"path": "b.cedar", "text": "permit (principal, action, resource);", "sha256": sha("other")}}),
            "agentrail.policy record: field policy.sha256: does not match the SHA-256 of the text of \"b.cedar\""),
        (POLICY_KIND, json!({"policy": {"path": "b.cedar", "removed": "yes"}}), "agentrail.policy record: field policy.removed: expected a boolean"),
        (INVENTORY_KIND, json!({"inventory": {"policies": []}}), "agentrail.inventory record: field inventory.agents: expected an array"),
    ];
    for (kind, body, expected) in cases {
        let err = s.apply_record(kind, &body).unwrap_err();
        assert!(matches!(err, PolicyError::Record(_)), "{err:?}");
        assert_eq!(err.to_string(), expected);
        assert_eq!(s, before);
    }
    // A text that no longer compiles.
    let err = s
        .apply_record(
            POLICY_KIND,
            &add("b.cedar", "permit (principal, action resource);"),
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(
            "agentrail.policy record for \"b.cedar\": policy file \"b.cedar\": line 1, column"
        ),
        "{err}"
    );
    assert_eq!(s, before);
    // An invalid inventory in a record.
    let agent = json!({"id": "x", "name": "", "kind": "bot", "owner": "o", "description": null, "principals": [],
                       "systems": [], "triggers": [], "data_classification": null, "elevated": false, "policy": null});
    let err = s
        .apply_record(
            INVENTORY_KIND,
            &json!({"inventory": {"agents": [agent], "policies": []}}),
        )
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("agentrail.inventory record: field inventory: agent \"x\" (agents[0]): field kind: \"bot\""), "{err}");
    assert_eq!(s, before);
}

#[test]
fn syncing_from_nothing_gives_the_loaded_state() {
    let l = loaded();
    let mut s = PolicyState::default();
    let records = sync(&mut s, &l);
    let kinds: Vec<&str> = records.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        kinds,
        [
            POLICY_KIND,
            POLICY_KIND,
            POLICY_KIND,
            POLICY_KIND,
            INVENTORY_KIND
        ]
    );
    let paths: Vec<&str> = records[..4]
        .iter()
        .map(|(_, b)| b["policy"]["path"].as_str().expect("path"))
        .collect();
    assert_eq!(
        paths,
        [
            "policies/base.cedar",
            "policies/erroring.cedar",
            "policies/named.cedar",
            "policies/renewal-drafter.cedar"
        ]
    );
    assert_eq!(records[3].1["policy"]["policy_set_hash"], l.policies.hash());
    assert_eq!(records[0].1["policy"]["by"], "cli:test");
    let inv = &records[4].1["inventory"];
    assert_eq!(
        inv["added"],
        json!([
            "crm-sync",
            "nightly-report",
            "renewal-drafter",
            "triage-bot"
        ])
    );
    assert_eq!(
        (inv["removed"].clone(), inv["changed"].clone()),
        (json!([]), json!([]))
    );
    assert_eq!(inv["agents"], l.inventory.to_json()["agents"]);
    assert_eq!(inv["policies"], json!(["policies/base.cedar"]));
    assert_eq!(inv["policy_set_hash"], l.policies.hash());
    assert_eq!(inv["source"], l.path.display().to_string());
    // The rebuilt state decides like the loaded one.
    let q = action("renewal-drafter", "read", "crm", "acct/1");
    assert_eq!(s.evaluate_action(&q).decision, Decision::Allow);
    assert_eq!(
        s.evaluate_action(&q),
        agentrail_policy::cedar::evaluate_action(&l.policies, &l.inventory, &q)
    );
}

#[test]
fn syncing_changes_adds_removes_and_changes() {
    let l = loaded();
    let mut s = PolicyState::from_loaded(&l);
    let mut inventory = l.inventory.clone();
    inventory.agents.retain(|a| a.id != "triage-bot");
    inventory.agents[0].owner = "sales@acme.example".into();
    inventory.agents.push(AgentEntry {
        id: "new-bot".into(),
        name: String::new(),
        kind: "llm-agent".into(),
        owner: "o".into(),
        description: None,
        principals: vec![],
        systems: vec![],
        triggers: vec![],
        data_classification: None,
        elevated: false,
        policy: None,
    });
    let mut files = l.files.clone();
    files.remove("policies/erroring.cedar");
    files.insert(
        "policies/base.cedar".into(),
        "forbid (principal, action, resource) when { false };".into(),
    );
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let target = loaded_from(inventory, &refs);
    let records = sync(&mut s, &target);
    assert_eq!(records.len(), 3, "{records:?}");
    assert_eq!(records[0].1["policy"]["path"], "policies/base.cedar");
    assert_eq!(
        records[1].1["policy"],
        json!({"path": "policies/erroring.cedar", "removed": true,
        "policy_set_hash": target.policies.hash(), "by": "cli:test"})
    );
    let inv = &records[2].1["inventory"];
    assert_eq!(
        (&inv["added"], &inv["removed"], &inv["changed"]),
        (
            &json!(["new-bot"]),
            &json!(["triage-bot"]),
            &json!(["renewal-drafter"])
        )
    );

    // Only the inventory changes: one record.
    let mut inventory = target.inventory.clone();
    inventory.agents[0].description = Some("now described".into());
    let only_inventory = loaded_from(inventory, &refs);
    let records = sync(&mut s, &only_inventory);
    assert_eq!(records.len(), 1);
    assert_eq!(
        records[0].1["inventory"]["changed"],
        json!(["renewal-drafter"])
    );
}

#[test]
fn an_id_moving_between_files_replays() {
    // "x" moves from b.cedar to a.cedar; a.cedar's record comes first, so for one record both
    // files name a policy "x".
    let before = loaded_from(
        Inventory::default(),
        &[
            ("a.cedar", "permit (principal, action, resource);"),
            (
                "b.cedar",
                r#"@id("x") forbid (principal, action, resource);"#,
            ),
        ],
    );
    let after = loaded_from(
        Inventory::default(),
        &[
            (
                "a.cedar",
                r#"@id("x") forbid (principal, action, resource);"#,
            ),
            ("b.cedar", "permit (principal, action, resource);"),
        ],
    );
    let mut s = PolicyState::default();
    sync(&mut s, &before);
    let records = sync(&mut s, &after);
    assert_eq!(records.len(), 3);
    assert_eq!(s.policies.ids(), ["b.cedar#0", "x"]);
}

#[test]
fn state_json_round_trips() {
    let l = loaded();
    let s = PolicyState::from_loaded(&l);
    let back = PolicyState::from_json(&s.to_json()).expect("reads back");
    assert_eq!(back, s);
    assert_eq!(back.policies.ids(), s.policies.ids());
    assert_eq!(back.to_json(), s.to_json());
    assert_eq!(
        PolicyState::from_json(&PolicyState::default().to_json()).expect("empty"),
        PolicyState::default()
    );
    let err = PolicyState::from_json(
        &json!({"inventory": {"agents": [], "policies": []}, "files": {"a": 1}}),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "policy state: field files: expected an object of strings"
    );
}
