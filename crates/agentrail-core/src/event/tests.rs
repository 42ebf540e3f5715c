use super::*;
use serde_json::json;

/// Validates `input` and expects either success or an error with this code and field.
fn check(input: Value, expected: Result<(), (ErrorCode, &str)>) {
    let got = validate_client_event(input.clone());
    match (got, expected) {
        (Ok(_), Ok(())) => {}
        (Err(e), Err((code, field))) => {
            assert_eq!(
                (e.code, e.field.as_str()),
                (code, field),
                "input {input}: {e}"
            )
        }
        (got, expected) => panic!("input {input}: got {got:?}, expected {expected:?}"),
    }
}

fn base(kind: &str) -> Value {
    json!({"session_id": "s-1", "agent_id": "renewal-drafter", "kind": kind, "ts": "2026-11-28T13:00:00Z"})
}

fn with(mut v: Value, key: &str, val: Value) -> Value {
    v[key] = val;
    v
}

fn action(body: Value) -> Value {
    with(base("action"), "action", body)
}

#[test]
fn every_kind_accepts_its_minimal_body() {
    check(
        with(
            base("session.start"),
            "trigger",
            json!({"type": "user", "initiator": "alice@acme.example"}),
        ),
        Ok(()),
    );
    check(
        with(
            base("authz.change"),
            "authorization",
            json!({"decision": "deny"}),
        ),
        Ok(()),
    );
    check(
        action(json!({"type": "read", "system": "crm", "resource": "accounts", "status": "ok"})),
        Ok(()),
    );
    check(
        action(
            json!({"type": "model_call", "system": "openai", "status": "ok", "model": "gpt-x",
                      "tokens": {"input": 10, "output": 20}}),
        ),
        Ok(()),
    );
    check(
        with(
            base("decision"),
            "decision",
            json!({"name": "pick", "chosen": ["a"], "rejected": [{"id": 7, "reason": "too late"}]}),
        ),
        Ok(()),
    );
    check(
        with(
            base("diff"),
            "diff",
            json!({"resource": "drafts/1", "op": "create", "after": {"x": 1}}),
        ),
        Ok(()),
    );
    check(
        with(
            base("session.end"),
            "outcome",
            json!({"status": "succeeded"}),
        ),
        Ok(()),
    );
    check(with(base("note"), "note", json!({"text": "hi"})), Ok(()));
}

#[test]
fn envelope_rules_name_the_field() {
    use ErrorCode::*;
    let note = with(base("note"), "note", json!({"text": "x"}));
    let mut no_session = note.clone();
    no_session.as_object_mut().unwrap().remove("session_id");
    check(no_session, Err((MissingField, "session_id")));
    let mut no_ts = note.clone();
    no_ts.as_object_mut().unwrap().remove("ts");
    check(no_ts, Err((MissingField, "ts")));
    let mut no_kind = note.clone();
    no_kind.as_object_mut().unwrap().remove("kind");
    check(no_kind, Err((MissingField, "kind")));
    check(
        with(note.clone(), "ts", json!("2026-11-28T13:00:00")),
        Err((InvalidField, "ts")),
    );
    check(
        with(note.clone(), "agent_id", json!("")),
        Err((InvalidField, "agent_id")),
    );
    // agentrail's own records use this session id: no client event may join them.
    check(
        with(note.clone(), "session_id", json!("agentrail")),
        Err((InvalidField, "session_id")),
    );
    check(
        with(note.clone(), "agent_id", json!("a\u{1b}[31m")),
        Err((InvalidField, "agent_id")),
    );
    check(
        with(note.clone(), "event_id", json!("has space")),
        Err((InvalidField, "event_id")),
    );
    check(
        with(note.clone(), "event_id", json!("x".repeat(129))),
        Err((InvalidField, "event_id")),
    );
    check(
        with(
            note.clone(),
            "trace_id",
            json!("ABCDEF0123456789ABCDEF0123456789"),
        ),
        Err((InvalidField, "trace_id")),
    );
    check(
        with(note.clone(), "span_id", json!("0000000000000000")),
        Err((InvalidField, "span_id")),
    );
    check(
        with(note.clone(), "colour", json!("red")),
        Err((UnknownField, "colour")),
    );
    check(
        with(note.clone(), "attributes", json!([1])),
        Err((InvalidField, "attributes")),
    );
    check(
        with(note.clone(), "kind", json!("launch")),
        Err((UnknownKind, "kind")),
    );
    check(
        with(note.clone(), "kind", json!("agentrail.access")),
        Err((ReservedKind, "kind")),
    );
    // A body key of another kind is unknown for this one.
    check(
        with(note, "diff", json!({"resource": "r", "op": "create"})),
        Err((UnknownField, "diff")),
    );
}

#[test]
fn body_rules_name_the_nested_field() {
    use ErrorCode::*;
    check(
        action(json!({"type": "read", "system": "crm", "status": "ok"})),
        Err((MissingField, "action.resource")),
    );
    check(
        action(json!({"type": "read", "system": "crm", "resource": "a"})),
        Err((MissingField, "action.status")),
    );
    check(
        action(json!({"type": "peek", "system": "crm", "resource": "a", "status": "ok"})),
        Err((InvalidField, "action.type")),
    );
    check(
        action(
            json!({"type": "read", "system": "crm", "resource": "a", "status": "ok", "count": -1}),
        ),
        Err((InvalidField, "action.count")),
    );
    check(
        action(
            json!({"type": "read", "system": "crm", "resource": "a", "status": "ok", "resource_ids": ["1", 2]}),
        ),
        Err((InvalidField, "action.resource_ids[1]")),
    );
    check(
        action(
            json!({"type": "read", "system": "crm", "resource": "a", "status": "ok", "stauts": "ok"}),
        ),
        Err((UnknownField, "action.stauts")),
    );
    check(
        with(
            base("decision"),
            "decision",
            json!({"name": "pick", "chosen": [], "rejected": [{"id": "x"}]}),
        ),
        Err((MissingField, "decision.rejected[0].reason")),
    );
    check(
        with(base("session.start"), "trigger", json!({"type": "user"})),
        Err((MissingField, "trigger.initiator")),
    );
    check(base("session.start"), Err((MissingField, "trigger")));
    check(
        with(base("session.end"), "outcome", json!({"status": "done"})),
        Err((InvalidField, "outcome.status")),
    );
}

#[test]
fn unportable_json_is_rejected_with_the_field() {
    for (raw, field) in [
        (r#"{"kind":"note","kind":"note"}"#, ""),
        (
            r#"{"session_id":"s","agent_id":"a","kind":"note","ts":"2026-11-28T13:00:00Z","note":{"text":"x"},"attributes":{"n":9007199254740993}}"#,
            "attributes.n",
        ),
    ] {
        let err = parse_client_event(raw.as_bytes()).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidJson, "{raw}: {err}");
        assert_eq!(err.field, field, "{raw}: {err}");
    }
}

#[test]
fn ts_is_normalized_and_content_hash_ignores_the_offset_spelling() {
    let a = validate_client_event(with(
        with(base("note"), "note", json!({"text": "x"})),
        "ts",
        json!("2026-11-28T14:00:00.500+01:00"),
    ))
    .unwrap();
    let b = validate_client_event(with(
        with(base("note"), "note", json!({"text": "x"})),
        "ts",
        json!("2026-11-28T13:00:00.5Z"),
    ))
    .unwrap();
    assert_eq!(a.ts, "2026-11-28T13:00:00.5Z");
    assert_eq!(a.content_hash, b.content_hash);
    assert_eq!(a.event_id, b.event_id);
    assert!(a.event_id_derived);
    assert_eq!(a.event_id, derived_event_id(&a.content_hash));
    assert_eq!(a.event_id.len(), 2 + 32);
}

/// The golden event: fixed input, nonce and receive time give these exact bytes forever.
#[test]
fn golden_leaf_body_and_event_bytes() {
    let raw = r#"{"event_id":"evt-1","session_id":"s-1","agent_id":"renewal-drafter","kind":"action","ts":"2026-11-28T14:00:00+01:00","principal":"svc-renewals","action":{"type":"read","system":"crm","resource":"accounts","status":"ok","count":2},"attributes":{"k":"v"}}"#;
    let ev = parse_client_event(raw.as_bytes()).unwrap();
    let sealed = seal(&ev, "2026-11-28T13:00:01.25Z", "cli", [7u8; 16]).unwrap();
    let body = r#"{"action":{"count":2,"resource":"accounts","status":"ok","system":"crm","type":"read"},"attributes":{"k":"v"},"nonce":"BwcHBwcHBwcHBwcHBwcHBw=="}"#;
    assert_eq!(String::from_utf8(sealed.body.clone()).unwrap(), body);
    assert_eq!(sealed.body_sha256, Hash::sha256(body.as_bytes()));
    let leaf = format!(
        r#"{{"agent_id":"renewal-drafter","body_sha256":"{}","event_id":"evt-1","kind":"action","principal":"svc-renewals","received_at":"2026-11-28T13:00:01.25Z","schema":"agentrail.event/v1","session_id":"s-1","source":"cli","ts":"2026-11-28T13:00:00Z"}}"#,
        sealed.body_sha256.to_hex()
    );
    assert_eq!(String::from_utf8(sealed.leaf.clone()).unwrap(), leaf);
    assert_eq!(sealed.leaf_hash, crate::merkle::leaf_hash(leaf.as_bytes()));

    // The spliced event bytes are exactly the canonical form of header + body.
    let event = event_bytes(&sealed.leaf, &sealed.body).unwrap();
    let mut full: Value = serde_json::from_slice(&sealed.leaf).unwrap();
    full.as_object_mut().unwrap().remove("body_sha256");
    full["body"] = serde_json::from_slice(&sealed.body).unwrap();
    assert_eq!(event, json::canonicalize(&full).unwrap());

    // And an offline verifier gets the leaf back from the event bytes alone.
    assert_eq!(leaf_from_event(&event).unwrap(), sealed.leaf);

    // The idempotency record is recomputable from what is stored.
    let header = parse_leaf(&sealed.leaf).unwrap();
    assert_eq!(header.event_id, "evt-1");
    assert_eq!(
        content_hash_of_stored(&header, &sealed.body).unwrap(),
        ev.content_hash
    );
}

#[test]
fn content_hash_is_recomputable_for_derived_ids_and_minimal_events() {
    let ev = validate_client_event(with(base("note"), "note", json!({"text": "x"}))).unwrap();
    let sealed = seal(&ev, "2026-11-28T13:00:00Z", "api", [0u8; 16]).unwrap();
    let header = parse_leaf(&sealed.leaf).unwrap();
    assert_eq!(
        content_hash_of_stored(&header, &sealed.body).unwrap(),
        ev.content_hash
    );
}

#[test]
fn leaf_parsing_refuses_non_canonical_or_foreign_leaves() {
    let ev = validate_client_event(with(base("note"), "note", json!({"text": "x"}))).unwrap();
    let sealed = seal(&ev, "2026-11-28T13:00:00Z", "api", [0u8; 16]).unwrap();
    let mut spaced = sealed.leaf.clone();
    spaced.insert(1, b' ');
    assert!(parse_leaf(&spaced).is_err());
    let text = String::from_utf8(sealed.leaf.clone()).unwrap();
    let foreign = text.replace("agentrail.event/v1", "agentrail.event/v9");
    assert_eq!(parse_leaf(foreign.as_bytes()).unwrap_err().field, "schema");
}

#[test]
fn internal_events_use_the_same_envelope() {
    let ev = internal_event(
        "agentrail.apikey",
        "agentrail",
        "agentrail",
        "2026-11-28T13:00:00Z",
        json!({"op": "create", "id": "k1"}),
    )
    .unwrap();
    assert_eq!(ev.kind, "agentrail.apikey");
    assert!(ev.body.contains_key("apikey"));
    assert!(internal_event("note", "s", "a", "2026-11-28T13:00:00Z", json!({})).is_err());
}

/// The shipped JSON Schema is the rendering of the tables. Regenerate with
/// `AGENTRAIL_UPDATE_SCHEMA=1 cargo test -p agentrail-core shipped_json_schema`.
#[test]
fn shipped_json_schema_matches_the_tables() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../schema/event-v1.schema.json"
    );
    let mut schema = schema::json_schema();
    crate::json::sort_keys(&mut schema);
    let rendered = serde_json::to_string_pretty(&schema).unwrap() + "\n";
    if std::env::var_os("AGENTRAIL_UPDATE_SCHEMA").is_some() {
        std::fs::write(path, &rendered).unwrap();
    }
    let shipped = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        shipped == rendered,
        "schema/event-v1.schema.json is stale: rerun with AGENTRAIL_UPDATE_SCHEMA=1"
    );
}

#[test]
fn a_derived_id_sent_back_is_the_same_event_and_a_forged_one_is_refused() {
    let plain = validate_client_event(with(base("note"), "note", json!({"text": "x"}))).unwrap();
    let resent = validate_client_event(with(
        with(base("note"), "note", json!({"text": "x"})),
        "event_id",
        json!(plain.event_id.clone()),
    ))
    .unwrap();
    assert_eq!(resent, plain, "the same event, the same content hash");
    let sealed = seal(&resent, "2026-11-28T13:00:00Z", "api", [1u8; 16]).unwrap();
    let header = parse_leaf(&sealed.leaf).unwrap();
    assert_eq!(
        content_hash_of_stored(&header, &sealed.body).unwrap(),
        plain.content_hash
    );
    let forged = with(
        with(base("note"), "note", json!({"text": "x"})),
        "event_id",
        json!(format!("c-{}", "0".repeat(32))),
    );
    check(forged, Err((ErrorCode::InvalidField, "event_id")));
}
