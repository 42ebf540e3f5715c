//! `POST /api/v1/events` through the router: per-item results, idempotency, NDJSON, gzip, the
//! request limits, `/healthz`, `/metrics`, and what a 500 says.

mod common;

use agentrail_server::serve::ServeOptions;
use agentrail_server::Limits;
use agentrail_store::apikeys;
use axum::http::{header, StatusCode};
use common::*;
use serde_json::{json, Value};

fn opts() -> ServeOptions {
    ServeOptions::default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_json_array_gets_one_result_per_item_in_order() {
    let server = Server::start(opts());
    let no_ts = {
        let mut ev = action(Some("e2"), "a1");
        ev.as_object_mut().unwrap().remove("ts");
        ev
    };
    let derived_src = action(None, "a1");
    let body = format!(
        r#"[{},{},42,{{"event_id":"e3","event_id":"e4"}},{}]"#,
        action(Some("e1"), "a1"),
        no_ts,
        derived_src,
    );
    let r = server
        .send(post("/api/v1/events").body("application/json", body.clone()))
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(r.header(header::CONTENT_TYPE), Some("application/json"));
    let v = r.json();
    let derived = v["results"][4]["event_id"].as_str().unwrap().to_string();
    let expected_id = agentrail_core::event::validate_client_event(derived_src)
        .unwrap()
        .event_id;
    assert_eq!(derived, expected_id);
    assert!(
        derived.starts_with("c-") && derived.len() == 34,
        "{derived}"
    );
    assert_json(
        &v,
        &json!({
            "results": [
                accepted(0, "e1", 0),
                {"index": 1, "event_id": "e2",
                 "error": {"code": "missing_field", "field": "ts", "message": "is required"}},
                {"index": 2, "event_id": null,
                 "error": {"code": "invalid_json", "field": "", "message": "an event must be a JSON object"}},
                rejected(3, None, "invalid_json", ""),
                accepted(4, &derived, 1),
            ],
            "tree_size": 2,
        }),
    );
    assert!(
        v["results"][3]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("duplicate key"),
        "{v}"
    );

    // The same request again: duplicates at the original leaves, nothing appended.
    let again = server
        .send(post("/api/v1/events").body("application/json", body))
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_json(
        &again,
        &json!({
            "results": [
                duplicate(0, "e1", 0),
                rejected(1, Some("e2"), "missing_field", "ts"),
                rejected(2, None, "invalid_json", ""),
                rejected(3, None, "invalid_json", ""),
                duplicate(4, &derived, 1),
            ],
            "tree_size": 2,
        }),
    );

    // The same id with other content is a conflict; within one request the same rules hold.
    let mut changed = action(Some("e1"), "a1");
    changed["action"]["status"] = "error".into();
    let mut changed_e5 = action(Some("e5"), "a1");
    changed_e5["action"]["resource"] = "accounts/43".into();
    let r = server
        .post_events(
            None,
            &json!([
                changed,
                action(Some("e5"), "a1"),
                action(Some("e5"), "a1"),
                changed_e5
            ]),
        )
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_json(
        &r,
        &json!({
            "results": [
                rejected(0, Some("e1"), "conflict", "event_id"),
                accepted(1, "e5", 2),
                duplicate(2, "e5", 2),
                rejected(3, Some("e5"), "conflict", "event_id"),
            ],
            "tree_size": 3,
        }),
    );

    let store = server.finish().await;
    assert_eq!(store.size(), 3);
    assert_eq!(store.event("e1")["body"]["action"]["status"], "ok");
    assert_eq!(store.event(&derived)["source"], "api");
    assert_eq!(store.event_text("e2"), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn ndjson_skips_blank_lines_and_gzip_works_for_both_encodings() {
    let server = Server::start(opts());
    let nd = format!(
        "\n{}\r\n\n   \n{}\n\n",
        action(Some("n1"), "a1"),
        action(Some("n2"), "a1")
    );
    let r = server
        .send(post("/api/v1/events").body("application/x-ndjson", nd))
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_json(
        &r,
        &json!({"results": [accepted(0, "n1", 0), accepted(1, "n2", 1)], "tree_size": 2}),
    );

    let nd = format!("{}\n{{\"kind\":\n", action(Some("n3"), "a1"));
    let r = server
        .send(
            post("/api/v1/events")
                .body("application/x-ndjson; charset=utf-8", nd)
                .gzip(),
        )
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_json(
        &r,
        &json!({"results": [accepted(0, "n3", 2), rejected(1, None, "invalid_json", "")], "tree_size": 3}),
    );

    let r = server
        .send(
            post("/api/v1/events")
                .json(&json!([action(Some("g1"), "a1")]))
                .gzip(),
        )
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_json(
        &r,
        &json!({"results": [accepted(0, "g1", 3)], "tree_size": 4}),
    );

    let store = server.finish().await;
    assert_eq!(store.size(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn bodies_that_cannot_be_read_are_refused_whole() {
    let server = Server::start(opts());
    let one = json!([action(Some("x1"), "a1")]);
    server
        .send(
            post("/api/v1/events")
                .json(&one)
                .header(header::CONTENT_ENCODING, "br"),
        )
        .await
        .expect_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    for bad in [
        action(Some("x1"), "a1").to_string(),
        "not json".to_string(),
        format!("[{}", action(Some("x1"), "a1")),
        String::new(),
    ] {
        let r = server
            .send(post("/api/v1/events").body("application/json", bad.clone()))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad:?}: {}", r.text());
        r.expect_error(StatusCode::BAD_REQUEST, "bad_request");
    }
    let mut corrupt = gzip(one.to_string().as_bytes());
    let n = corrupt.len();
    corrupt.truncate(n - 10);
    server
        .send(
            post("/api/v1/events")
                .body("application/json", corrupt)
                .header(header::CONTENT_ENCODING, "gzip"),
        )
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    assert_eq!(server.tree_size(), 0);
    let store = server.finish().await;
    assert_eq!(store.size(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn limits_refuse_the_request_or_the_one_item_over_them() {
    let limits = Limits {
        max_body_bytes: 128 << 10,
        max_decompressed_bytes: 1 << 20,
        max_events_per_request: 3,
        max_event_bytes: 1024,
        ..Limits::default()
    };
    let server = Server::start(ServeOptions { limits, ..opts() });

    // Over max_body_bytes as sent.
    let mut big = action(Some("big"), "a1");
    big["attributes"] = json!({"pad": "x".repeat(200 << 10)});
    server
        .send(post("/api/v1/events").json(&json!([big])))
        .await
        .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "too_large");

    // A gzip bomb: 50 MB of zeros in about 50 KB.
    let bomb = gzip(&vec![0u8; 50 << 20]);
    assert!(bomb.len() < limits.max_body_bytes, "{}", bomb.len());
    server
        .send(
            post("/api/v1/events")
                .body("application/json", bomb)
                .header(header::CONTENT_ENCODING, "gzip"),
        )
        .await
        .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "too_large");

    // More items than max_events_per_request: NDJSON and a JSON array alike.
    let four: Vec<Value> = (0..4)
        .map(|i| action(Some(&format!("m{i}")), "a1"))
        .collect();
    server
        .post_events(None, &Value::Array(four.clone()))
        .await
        .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "too_large");
    let nd: String = four.iter().map(|e| format!("{e}\n")).collect();
    server
        .send(post("/api/v1/events").body("application/x-ndjson", nd))
        .await
        .expect_error(StatusCode::PAYLOAD_TOO_LARGE, "too_large");
    assert_eq!(server.tree_size(), 0);

    // One event over max_event_bytes: that item alone is refused.
    let mut fat = action(Some("fat"), "a1");
    fat["attributes"] = json!({"pad": "x".repeat(2000)});
    let r = server
        .post_events(
            None,
            &json!([action(Some("ok1"), "a1"), fat, action(Some("ok2"), "a1")]),
        )
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_json(
        &r,
        &json!({
            "results": [accepted(0, "ok1", 0), rejected(1, None, "too_large", ""), accepted(2, "ok2", 1)],
            "tree_size": 2,
        }),
    );
    let text = server.metrics().await;
    assert_eq!(
        metric(&text, "agentrail_events_rejected_total{code=\"too_large\"}"),
        1.0
    );

    let store = server.finish().await;
    assert_eq!(store.size(), 2);
    assert_eq!(store.event_text("fat"), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn healthz_and_metrics_reflect_what_was_done() {
    let server = Server::start(opts());
    let h = server
        .send(get("/healthz"))
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(
        h.json(),
        json!({"status": "ok", "tree_size": 0, "queued": 0})
    );

    let mut no_ts = action(Some("h3"), "a1");
    no_ts.as_object_mut().unwrap().remove("ts");
    server
        .post_events(
            None,
            &json!([action(Some("h1"), "a1"), action(Some("h2"), "a1"), no_ts]),
        )
        .await
        .expect_status(StatusCode::OK);
    server
        .post_events(None, &json!([action(Some("h1"), "a1")]))
        .await
        .expect_status(StatusCode::OK);

    let h = server
        .send(get("/healthz"))
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(
        h.json(),
        json!({"status": "ok", "tree_size": 2, "queued": 0})
    );

    let r = server
        .send(get("/metrics"))
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(
        r.header(header::CONTENT_TYPE),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = r.text();
    for (name, value) in [
        ("agentrail_events_accepted_total", 2.0),
        ("agentrail_events_duplicate_total", 1.0),
        (
            "agentrail_events_rejected_total{code=\"missing_field\"}",
            1.0,
        ),
        ("agentrail_batches_total", 2.0),
        ("agentrail_commit_latency_seconds_bucket{le=\"+Inf\"}", 2.0),
        ("agentrail_commit_latency_seconds_count", 2.0),
        ("agentrail_write_queue_depth", 0.0),
        ("agentrail_tree_size", 2.0),
        ("agentrail_requests_refused_busy_total", 0.0),
    ] {
        assert_eq!(metric(&text, name), value, "{name} in\n{text}");
    }
    assert!(text.contains("# TYPE agentrail_commit_latency_seconds histogram\n"));
    // Buckets are cumulative.
    let buckets: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with("agentrail_commit_latency_seconds_bucket"))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(buckets.len(), 13);
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");

    let store = server.finish().await;
    assert_eq!(store.size(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn internal_errors_are_not_echoed() {
    // A key row whose role no build knows: looking it up is an internal error.
    let (text, mut row) = apikeys::mint("ingest", None, "odd", "2026-11-24T09:00:00Z").unwrap();
    row.role = "superuser".into();
    let id = row.id.clone();
    let server = Server::with_keys(opts(), vec![row]);
    let r = server
        .post_events(Some(&text), &json!([action(Some("i1"), "a1")]))
        .await
        .expect_status(StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        r.json(),
        json!({"error": {"code": "internal", "message": "internal error; see the server log"}})
    );
    assert!(!r.text().contains(&id) && !r.text().contains("superuser"));
    let store = server.finish().await;
    assert_eq!(store.size(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_on_demand_checkpoint_covers_what_was_committed() {
    let server = Server::start(opts());
    server
        .post_events(
            None,
            &json!([action(Some("c1"), "a1"), action(Some("c2"), "a1")]),
        )
        .await
        .expect_status(StatusCode::OK);
    let r = server
        .send(post("/api/v1/admin/checkpoint").bearer(LOCAL_ADMIN))
        .await
        .expect_status(StatusCode::OK);
    let note = r.text();
    let lines: Vec<&str> = note.lines().collect();
    assert_eq!(lines[..2], ["test.example/agentrail/http", "2"], "{note}");
    let store = server.finish().await;
    let stored = store
        .backend()
        .checkpoint_at(2)
        .unwrap()
        .expect("checkpoint 2");
    assert_eq!(stored.note, note);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_paths_and_methods_get_the_json_error_shape() {
    let server = Server::start(opts());
    server
        .send(get("/api/v1/nothing-here"))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    server
        .send(get("/api/v1/events"))
        .await
        .expect_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    server.finish().await;
}
