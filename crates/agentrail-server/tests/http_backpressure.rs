//! Backpressure: a full write queue and a full in-flight limit answer 503 with `Retry-After` at
//! once, store nothing of the refused request, and let the waiting request complete. The writer
//! is held busy by a job on its own thread, so which request is refused is deterministic.

mod common;

use agentrail_server::serve::ServeOptions;
use axum::http::{header, StatusCode};
use common::*;
use serde_json::json;

#[track_caller]
fn assert_busy(r: Reply) {
    let r = r.expect_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert_eq!(r.header(header::RETRY_AFTER), Some("1"));
}

/// OTLP/HTTP answers failures with a google.rpc.Status (here in JSON): UNAVAILABLE is 14.
fn assert_otlp_busy(r: Reply) {
    let r = r.expect_status(StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.header(header::RETRY_AFTER), Some("1"));
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["code"], 14, "{v}");
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_write_queue_is_503_and_stores_nothing_of_the_refused_request() {
    let server = Server::start(ServeOptions {
        queue: 1,
        ..ServeOptions::default()
    });
    let block = WriterBlock::new(&server.state);

    // The first batch takes the one queue slot; its handler waits for the commit.
    let first = tokio::spawn(send_to(
        server.state.clone(),
        post("/api/v1/events").json(&json!([action(Some("q1"), "a1")])),
    ));
    until("the first batch is queued", || {
        server.state.writer.queued() == 1
    })
    .await;

    assert_busy(
        server
            .post_events(
                None,
                &json!([action(Some("q2"), "a1"), action(Some("q3"), "a1")]),
            )
            .await,
    );
    assert_busy(
        server
            .send(post("/api/v1/events").body(
                "application/x-ndjson",
                format!("{}\n", action(Some("q4"), "a1")),
            ))
            .await,
    );
    let h = server
        .send(get("/healthz"))
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(
        h.json(),
        json!({"status": "ok", "tree_size": 0, "queued": 1})
    );
    let text = server.metrics().await;
    assert_eq!(metric(&text, "agentrail_requests_refused_busy_total"), 2.0);
    assert_eq!(metric(&text, "agentrail_write_queue_depth"), 1.0);

    block.release().await;
    let r = first
        .await
        .expect("the first request's task")
        .expect_status(StatusCode::OK);
    assert_json(
        &r.json(),
        &json!({"results": [accepted(0, "q1", 0)], "tree_size": 1}),
    );

    // Once the queue drains, the refused request goes through on retry.
    server
        .post_events(None, &json!([action(Some("q2"), "a1")]))
        .await
        .expect_status(StatusCode::OK);

    let store = server.finish().await;
    assert_eq!(store.size(), 2);
    assert!(store.event_text("q1").is_some());
    assert!(store.event_text("q2").is_some());
    assert_eq!(store.event_text("q3"), None);
    assert_eq!(store.event_text("q4"), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_in_flight_limit_refuses_a_second_concurrent_request() {
    let server = Server::start(ServeOptions {
        max_inflight: 1,
        ..ServeOptions::default()
    });
    let block = WriterBlock::new(&server.state);

    let first = tokio::spawn(send_to(
        server.state.clone(),
        post("/api/v1/events").json(&json!([action(Some("f1"), "a1")])),
    ));
    until(
        "the first request holds the only place and is queued",
        || server.state.inflight.available_permits() == 0 && server.state.writer.queued() == 1,
    )
    .await;

    assert_busy(
        server
            .post_events(None, &json!([action(Some("f2"), "a1")]))
            .await,
    );
    assert_otlp_busy(
        server
            .send(post("/v1/traces").json(&json!({"resourceSpans": []})))
            .await,
    );
    // Reads do not take a place.
    server
        .send(get("/healthz"))
        .await
        .expect_status(StatusCode::OK);

    block.release().await;
    let r = first
        .await
        .expect("the first request's task")
        .expect_status(StatusCode::OK);
    assert_json(
        &r.json(),
        &json!({"results": [accepted(0, "f1", 0)], "tree_size": 1}),
    );
    assert_eq!(server.state.inflight.available_permits(), 1);
    server
        .post_events(None, &json!([action(Some("f2"), "a1")]))
        .await
        .expect_status(StatusCode::OK);

    let store = server.finish().await;
    assert_eq!(store.size(), 2);
}
