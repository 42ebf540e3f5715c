//! Evaluation through the public API: the decision rule, policy ids, the request shape.

mod common;

use agentrail_policy::{
    policy_set_hash, ActionQuestion, Decision, Inventory, Policies, SessionContext,
};
use common::{action, check, loaded, policies, start};
use serde_json::json;
use std::collections::BTreeMap;

const DRAFTER_READ: &str = "policies/renewal-drafter.cedar#0";
const DRAFTER_WRITE: &str = "policies/renewal-drafter.cedar#1";
const BASE_FORBID: &str = "policies/base.cedar#0";

#[test]
fn fixture_policy_ids() {
    let l = loaded();
    assert_eq!(
        l.policies.ids(),
        [
            "crm-sync-reads",
            "policies/base.cedar#0",
            "policies/erroring.cedar#0",
            "policies/named.cedar#1",
            "policies/renewal-drafter.cedar#0",
            "policies/renewal-drafter.cedar#1",
        ]
    );
    assert_eq!(l.policies.hash(), policy_set_hash(&l.files));
    assert_eq!(l.policies.files(), &l.files);
}

#[test]
fn allow() {
    let l = loaded();
    let (p, inv) = (&l.policies, &l.inventory);
    check(
        p,
        inv,
        action("renewal-drafter", "read", "crm", "acct/1"),
        Decision::Allow,
        &[DRAFTER_READ],
    );
    check(
        p,
        inv,
        action("renewal-drafter", "write", "contracts", "c-9"),
        Decision::Allow,
        &[DRAFTER_WRITE],
    );
    check(
        p,
        inv,
        action("crm-sync", "read", "crm", "acct/1"),
        Decision::Allow,
        &["crm-sync-reads"],
    );
}

#[test]
fn deny_by_forbid_wins_over_permit() {
    let l = loaded();
    let both = policies(&[
        (
            "base.cedar",
            r#"forbid (principal, action, resource) when { resource.system == "hr-payroll" };"#,
        ),
        ("all.cedar", "permit (principal, action, resource);"),
    ]);
    check(
        &l.policies,
        &l.inventory,
        action("renewal-drafter", "read", "hr-payroll", "emp/1"),
        Decision::Deny,
        &[BASE_FORBID],
    );
    check(
        &both,
        &l.inventory,
        action("renewal-drafter", "read", "hr-payroll", "emp/1"),
        Decision::Deny,
        &["base.cedar#0"],
    );
}

#[test]
fn deny_by_default_for_governed_agents() {
    let l = loaded();
    let (p, inv) = (&l.policies, &l.inventory);
    // Its own policy file does not permit deletes.
    check(
        p,
        inv,
        action("renewal-drafter", "delete", "crm", "acct/1"),
        Decision::Deny,
        &[],
    );
    // No policy file of its own: the top-level policies apply but do not govern, so what
    // nothing decides is no_policy, registered or not.
    check(
        p,
        inv,
        action("nightly-report", "read", "crm", "acct/1"),
        Decision::NoPolicy,
        &[],
    );
    check(
        p,
        inv,
        action("ghost", "read", "crm", "acct/1"),
        Decision::NoPolicy,
        &[],
    );
    // Without top-level policies, an agent with its own file is still governed.
    let mut own_only = inv.clone();
    own_only.policies.clear();
    check(
        p,
        &own_only,
        action("renewal-drafter", "delete", "crm", "x"),
        Decision::Deny,
        &[],
    );
}

#[test]
fn no_policy_for_ungoverned_agents_and_empty_sets() {
    let l = loaded();
    let mut inv = l.inventory.clone();
    inv.policies.clear();
    check(
        &l.policies,
        &inv,
        action("nightly-report", "read", "crm", "acct/1"),
        Decision::NoPolicy,
        &[],
    );
    check(
        &l.policies,
        &inv,
        action("ghost", "read", "crm", "acct/1"),
        Decision::NoPolicy,
        &[],
    );
    let empty = Policies::empty();
    assert!(empty.is_empty());
    check(
        &empty,
        &l.inventory,
        action("renewal-drafter", "read", "hr-payroll", "emp/1"),
        Decision::NoPolicy,
        &[],
    );
    check(
        &empty,
        &l.inventory,
        start("crm-sync", "scheduler", "schedule"),
        Decision::NoPolicy,
        &[],
    );
    // A file with only comments is an empty set too.
    let comments = policies(&[("c.cedar", "// nothing yet\n")]);
    assert!(comments.is_empty());
    check(
        &comments,
        &l.inventory,
        action("renewal-drafter", "read", "crm", "x"),
        Decision::NoPolicy,
        &[],
    );
}

#[test]
fn evaluation_errors() {
    let l = loaded();
    let (p, inv) = (&l.policies, &l.inventory);
    let v = check(
        p,
        inv,
        action("triage-bot", "read", "crm", "t-1"),
        Decision::Error,
        &[],
    );
    assert_eq!(v.errors.len(), 1, "{v:?}");
    assert!(
        v.errors[0].starts_with("policies/erroring.cedar#0: "),
        "{v:?}"
    );
    assert!(v.errors[0].contains("nope"), "{v:?}");
    // A satisfied forbid still denies; the error is listed.
    let v = check(
        p,
        inv,
        action("triage-bot", "read", "hr-payroll", "emp/1"),
        Decision::Deny,
        &[BASE_FORBID],
    );
    assert_eq!(v.errors.len(), 1, "{v:?}");
    // Cedar allows, but another policy errored: error, with the permit listed.
    let mixed = policies(&[(
        "m.cedar",
        "permit (principal, action, resource);\npermit (principal, action, resource) when { resource.nope };",
    )]);
    let v = check(
        &mixed,
        inv,
        action("renewal-drafter", "read", "crm", "x"),
        Decision::Error,
        &["m.cedar#0"],
    );
    assert_eq!(v.errors.len(), 1, "{v:?}");
    assert!(v.errors[0].starts_with("m.cedar#1: "), "{v:?}");
}

#[test]
fn session_starts() {
    let l = loaded();
    let (p, inv) = (&l.policies, &l.inventory);
    check(
        p,
        inv,
        start("crm-sync", "scheduler", "schedule"),
        Decision::Allow,
        &["policies/named.cedar#1"],
    );
    // Registered, but its triggers do not include "schedule": governed, so denied.
    check(
        p,
        inv,
        start("renewal-drafter", "scheduler", "schedule"),
        Decision::Deny,
        &[],
    );
    // Unregistered, so ungoverned: nothing decides its start.
    check(
        p,
        inv,
        start("ghost", "scheduler", "schedule"),
        Decision::NoPolicy,
        &[],
    );
    let ctx = policies(&[(
        "s.cedar",
        r#"permit (principal == Initiator::"alice", action == Action::"start", resource == Agent::"renewal-drafter")
           when { context.session_id == "sess-1" && context.trigger_type == "user" && context.schedule == ""
                  && context.request_id == "req-7" && context.principal == "svc-renewals"
                  && resource.registered && resource.kind == "llm-agent" };"#,
    )]);
    let mut q = start("renewal-drafter", "alice", "user");
    q.request_id = Some("req-7");
    q.principal = Some("svc-renewals");
    check(&ctx, inv, q, Decision::Allow, &["s.cedar#0"]);
}

#[test]
fn ids_with_quotes_backslashes_and_newlines() {
    let p = policies(&[(
        "w.cedar",
        r#"permit (principal == Agent::"we\"ird\\id\nx", action == Action::"re\"ad", resource == Resource::"s\\ys/r\"es\nource");
           permit (principal == Initiator::"al\"ice\n", action == Action::"start", resource == Agent::"we\"ird\\id\nx");"#,
    )]);
    let inv = Inventory::default();
    let agent = "we\"ird\\id\nx";
    check(
        &p,
        &inv,
        action(agent, "re\"ad", "s\\ys", "r\"es\nource"),
        Decision::Allow,
        &["w.cedar#0"],
    );
    // A near miss matches nothing: ids are compared exactly, never re-parsed.
    check(
        &p,
        &inv,
        action(agent, "re\"ad", "s\\ys", "r\"es\\nource"),
        Decision::NoPolicy,
        &[],
    );
    check(
        &p,
        &inv,
        action("we\"ird\\id", "re\"ad", "s\\ys", "r\"es\nource"),
        Decision::NoPolicy,
        &[],
    );
    check(
        &p,
        &inv,
        start(agent, "al\"ice\n", "user"),
        Decision::Allow,
        &["w.cedar#1"],
    );
}

#[test]
fn resource_attributes_keep_strings_bools_and_integers_only() {
    let p = policies(&[(
        "a.cedar",
        r#"@id("string") permit (principal, action == Action::"s", resource) when { resource.label == "x" };
           @id("bool") permit (principal, action == Action::"b", resource) when { resource.flag == true };
           @id("int") permit (principal, action == Action::"i", resource) when { resource.n == -7 };
           @id("left-out") permit (principal, action == Action::"out", resource)
             when { !(resource has f) && !(resource has arr) && !(resource has nul) && !(resource has obj) && !(resource has big) };
           @id("own-values-win") permit (principal, action == Action::"own", resource)
             when { resource.system == "crm" && resource.resource == "acct/1" && resource.classification == "customer" };"#,
    )]);
    let l = loaded();
    let attributes = json!({
        "label": "x", "flag": true, "n": -7, "f": 1.5, "arr": [1], "nul": null, "obj": {},
        "big": u64::MAX, "system": "evil", "resource": "evil", "classification": "public",
    });
    let attributes = attributes.as_object().expect("an object");
    for (act, id) in [
        ("s", "string"),
        ("b", "bool"),
        ("i", "int"),
        ("out", "left-out"),
        ("own", "own-values-win"),
    ] {
        let mut q = action("renewal-drafter", act, "crm", "acct/1");
        q.attributes = Some(attributes);
        check(&p, &l.inventory, q, Decision::Allow, &[id]);
    }
}

#[test]
fn agent_attributes_and_context() {
    let l = loaded();
    let p = policies(&[(
        "c.cedar",
        r#"@id("registered") permit (principal, action == Action::"reg", resource)
             when { principal.registered && principal.name == "Renewal drafter" && principal.kind == "llm-agent"
                    && principal.owner == "revops@acme.example" && principal.classification == "customer"
                    && !principal.elevated && principal.systems.contains("contracts")
                    && principal.triggers == ["user"] && principal.principals.contains("svc-renewals") };
           @id("unregistered") permit (principal, action == Action::"unreg", resource)
             when { !principal.registered && principal.name == "" && principal.kind == "" && principal.owner == ""
                    && principal.classification == "unclassified" && !principal.elevated
                    && principal.systems == [] && principal.triggers == [] && principal.principals == []
                    && resource.classification == "unclassified" };
           @id("context") permit (principal, action == Action::"ctx", resource)
             when { context has count && context.count == 3 && context.session_id == "sess-9"
                    && context.trigger_type == "user" && context.initiator == "alice" && context.request_id == ""
                    && context.principal == "svc-renewals" && context.operation == "update" && context.status == "ok" };
           @id("unknowns") permit (principal, action == Action::"unk", resource)
             when { !(context has count) && context.trigger_type == "" && context.initiator == ""
                    && context.principal == "" && context.operation == "" && context.status == "" };
           @id("model") permit (principal, action == Action::"model_call", resource == Resource::"llm/gpt-x")
             when { resource.resource == "gpt-x" };
           @id("bare") permit (principal, action == Action::"ping", resource == Resource::"crm/")
             when { resource.resource == "" };"#,
    )]);
    let inv = &l.inventory;
    check(
        &p,
        inv,
        action("renewal-drafter", "reg", "crm", "x"),
        Decision::Allow,
        &["registered"],
    );
    check(
        &p,
        inv,
        action("ghost", "unreg", "crm", "x"),
        Decision::Allow,
        &["unregistered"],
    );
    check(
        &p,
        inv,
        action("ghost", "unk", "crm", "x"),
        Decision::Allow,
        &["unknowns"],
    );
    let q = ActionQuestion {
        principal: Some("svc-renewals"),
        operation: Some("update"),
        status: Some("ok"),
        count: Some(3),
        session: SessionContext {
            session_id: "sess-9",
            trigger_type: Some("user"),
            initiator: Some("alice"),
            request_id: None,
        },
        ..action("renewal-drafter", "ctx", "crm", "x")
    };
    check(&p, inv, q, Decision::Allow, &["context"]);
    let model = ActionQuestion {
        resource: None,
        model: Some("gpt-x"),
        ..action("a", "model_call", "llm", "")
    };
    check(&p, inv, model, Decision::Allow, &["model"]);
    let bare = ActionQuestion {
        resource: None,
        ..action("a", "ping", "crm", "")
    };
    check(&p, inv, bare, Decision::Allow, &["bare"]);
}

#[test]
fn duplicate_ids_are_refused() {
    let files = |list: &[(&str, &str)]| {
        list.iter()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect::<BTreeMap<_, _>>()
    };
    let err = Policies::compile(files(&[
        ("a.cedar", r#"@id("x") permit (principal, action, resource);"#),
        ("b.cedar", r#"permit (principal, action, resource); @id("x") forbid (principal, action, resource);"#),
    ]))
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "policy id \"x\" is used twice: policy file \"a.cedar\" (policy #0) and policy file \
         \"b.cedar\" (policy #1); give one of them another @id"
    );
    let err = Policies::compile(files(&[(
        "one.cedar",
        r#"@id("y") permit (principal, action, resource); @id("y") permit (principal, action, resource);"#,
    )]))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("\"one.cedar\" (policy #0) and policy file \"one.cedar\" (policy #1)"),
        "{err}"
    );
    // An @id may not take another policy's positional id either.
    let err = Policies::compile(files(&[
        (
            "a.cedar",
            r#"@id("b.cedar#0") permit (principal, action, resource);"#,
        ),
        ("b.cedar", "permit (principal, action, resource);"),
    ]))
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("policy id \"b.cedar#0\" is used twice"),
        "{err}"
    );
}

#[test]
fn policy_set_hash_known_answers() {
    // Expected values computed independently with python3 hashlib:
    //   for p in sorted(paths by UTF-8 bytes): m.update(struct.pack('>Q', len(p))); m.update(p);
    //                                          m.update(struct.pack('>Q', len(t))); m.update(t)
    assert_eq!(
        policy_set_hash(&BTreeMap::new()),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    let one = BTreeMap::from([(
        "a.cedar".to_string(),
        "permit(principal, action, resource);\n".to_string(),
    )]);
    assert_eq!(
        policy_set_hash(&one),
        "c64f3cc3b9226bdfd3cba052619988f3bd069b1c54f933d842542fe2f3aea017"
    );
    let mut three = one.clone();
    three.insert(
        "b/\u{e9}.cedar".into(),
        "forbid(principal, action, resource);".into(),
    );
    three.insert("B.cedar".into(), String::new());
    assert_eq!(
        policy_set_hash(&three),
        "92878f081d443562b3f7719bfd1d723aa4425382a5a511a92c6443f652f644a3"
    );
    assert_eq!(Policies::empty().hash(), policy_set_hash(&BTreeMap::new()));
}

#[test]
fn decisions_as_strings() {
    for d in [
        Decision::Allow,
        Decision::Deny,
        Decision::NoPolicy,
        Decision::Error,
    ] {
        assert_eq!(d.as_str().parse::<Decision>().expect("parses"), d);
    }
    assert_eq!(Decision::NoPolicy.as_str(), "no_policy");
    assert!("permit".parse::<Decision>().is_err());
}
