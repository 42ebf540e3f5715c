//! API keys over HTTP: open until a key exists, then 401/403 by key and role, agent binding,
//! listing without secrets, revocation, the ledger records of both, and per-key rate limits.

mod common;

use agentrail_server::serve::ServeOptions;
use axum::http::{header, StatusCode};
use common::*;
use serde_json::{json, Value};

/// A well-formed key that no server issued.
const UNKNOWN_KEY: &str =
    "ark_0123456789abcdef_00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

#[track_caller]
fn assert_unauthorized(r: Reply) {
    let r = r.expect_error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(r.header(header::WWW_AUTHENTICATE), Some("Bearer"));
}

#[tokio::test(flavor = "multi_thread")]
async fn open_until_a_key_exists_then_every_request_needs_one() {
    let server = Server::start(ServeOptions::default());

    // No keys: open.
    server
        .post_events(None, &json!([action(Some("open1"), "a2")]))
        .await
        .expect_status(StatusCode::OK);
    server
        .send(get("/metrics"))
        .await
        .expect_status(StatusCode::OK);

    // Open means open to local agents, not to admin requests, to a web page or to a request
    // addressed to another name (DNS rebinding).
    let create = json!({"role": "ingest", "agent": "a1", "name": "t"});
    assert_unauthorized(
        server
            .send(post("/api/v1/admin/api-keys").json(&create))
            .await,
    );
    server
        .send(
            post("/api/v1/events")
                .json(&json!([action(Some("x1"), "a2")]))
                .header(header::ORIGIN, "http://evil.example"),
        )
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    server
        .send(
            post("/api/v1/events")
                .json(&json!([action(Some("x2"), "a2")]))
                .header(header::HOST, "evil.example:4318"),
        )
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    server
        .send(post("/api/v1/events").body("text/plain", "[]"))
        .await
        .expect_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");

    // The first key is created while open, with the local admin token.
    let r = server
        .send(
            post("/api/v1/admin/api-keys")
                .json(&create)
                .bearer(LOCAL_ADMIN),
        )
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_json(
        &r,
        &json!({"id": ANY, "name": "t", "role": "ingest", "agent": "a1",
                "created_at": ANY, "revoked_at": null, "key": ANY}),
    );
    let ingest = r["key"].as_str().unwrap().to_string();
    let ingest_id = r["id"].as_str().unwrap().to_string();
    assert!(ingest.starts_with(&format!("ark_{ingest_id}_")), "{ingest}");

    // Now every request needs a key.
    let one = json!([action(Some("k1"), "a1")]);
    assert_unauthorized(server.post_events(None, &one).await);
    for bad in ["nonsense", UNKNOWN_KEY, &ingest[..ingest.len() - 1]] {
        assert_unauthorized(server.post_events(Some(bad), &one).await);
    }
    let mut tampered = ingest.clone();
    let last = if tampered.ends_with('0') { "1" } else { "0" };
    tampered.replace_range(tampered.len() - 1.., last);
    assert_unauthorized(server.post_events(Some(&tampered), &one).await);
    assert_unauthorized(
        server
            .send(
                post("/api/v1/events")
                    .json(&one)
                    .header(header::AUTHORIZATION, "Basic dXNlcjpwYXNz"),
            )
            .await,
    );
    assert_unauthorized(server.send(get("/metrics")).await);
    assert_unauthorized(server.send(get("/api/v1/admin/api-keys")).await);

    // Roles: a read key may not ingest; an ingest key may not read or administer.
    let (read, read_id) = server.create_key(Some(LOCAL_ADMIN), "read", None).await;
    server
        .post_events(Some(&read), &one)
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    server
        .send(get("/metrics").bearer(&ingest))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    server
        .send(get("/metrics").bearer(&read))
        .await
        .expect_status(StatusCode::OK);
    server
        .send(get("/api/v1/admin/api-keys").bearer(&ingest))
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");
    server
        .send(
            post("/api/v1/admin/api-keys")
                .json(&json!({"role": "admin"}))
                .bearer(&read),
        )
        .await
        .expect_error(StatusCode::FORBIDDEN, "forbidden");

    // The bound key writes its agent's events, and only those.
    let r = server
        .post_events(
            Some(&ingest),
            &json!([
                action(Some("k1"), "a1"),
                action(Some("k2"), "a2"),
                action(Some("k3"), "a1")
            ]),
        )
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_json(
        &r,
        &json!({
            "results": [
                accepted(0, "k1", 3),
                rejected(1, Some("k2"), "forbidden_agent", "agent_id"),
                accepted(2, "k3", 4),
            ],
            "tree_size": 5,
        }),
    );

    // Listing shows every key, never a secret.
    let r = server
        .send(get("/api/v1/admin/api-keys").bearer(LOCAL_ADMIN))
        .await
        .expect_status(StatusCode::OK);
    let secret = |k: &str| k.rsplit('_').next().unwrap().to_string();
    for key in [&ingest, &read] {
        assert!(!r.text().contains(&secret(key)), "{}", r.text());
    }
    assert_json(
        &r.json(),
        &json!({"keys": [
            {"id": ingest_id, "name": "t", "role": "ingest", "agent": "a1",
             "created_at": ANY, "revoked_at": null},
            {"id": read_id, "name": "test read", "role": "read", "agent": null,
             "created_at": ANY, "revoked_at": null},
        ]}),
    );

    // Revocation takes effect at once; revoking twice or an unknown id is refused.
    let r = server
        .send(delete(&format!("/api/v1/admin/api-keys/{ingest_id}")).bearer(LOCAL_ADMIN))
        .await
        .expect_status(StatusCode::OK)
        .json();
    assert_json(
        &r,
        &json!({"id": ingest_id, "name": "t", "role": "ingest", "agent": "a1",
                "created_at": ANY, "revoked_at": ANY}),
    );
    assert_unauthorized(server.post_events(Some(&ingest), &one).await);
    server
        .send(delete(&format!("/api/v1/admin/api-keys/{ingest_id}")).bearer(LOCAL_ADMIN))
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    server
        .send(delete("/api/v1/admin/api-keys/0123456789abcdef").bearer(LOCAL_ADMIN))
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    // The read key is still active: still enforced.
    assert_unauthorized(server.post_events(None, &one).await);

    let store = server.finish().await;
    let records: Vec<Value> = store
        .events_of_kind("agentrail.apikey")
        .into_iter()
        .map(|e| e["body"]["apikey"].clone())
        .collect();
    assert_json(
        &Value::Array(records),
        &json!([
            {"op": "create", "id": ingest_id, "name": "t", "role": "ingest", "agent": "a1",
             "by": "key:local-admin", "created_at": ANY, "revoked_at": null},
            {"op": "create", "id": read_id, "name": "test read", "role": "read", "agent": null,
             "by": "key:local-admin", "created_at": ANY, "revoked_at": null},
            {"op": "revoke", "id": ingest_id, "name": "t", "role": "ingest", "agent": "a1",
             "by": "key:local-admin", "created_at": ANY, "revoked_at": ANY},
        ]),
    );
    for leaf in store.leaves() {
        let text = store.event_text(&leaf.event_id).unwrap();
        for key in [&ingest, &read] {
            assert!(
                !text.contains(&secret(key)),
                "a secret is in the log: {text}"
            );
        }
    }
    // open1, the three key records, k1 and k3.
    assert_eq!(store.size(), 6);
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limits_are_per_key() {
    let server = Server::start(ServeOptions {
        rate_limit: Some(2),
        ..ServeOptions::default()
    });
    let (a, _) = server.create_key(None, "ingest", None).await;
    let (b, _) = server.create_key(Some(LOCAL_ADMIN), "ingest", None).await;
    let empty = json!([]);
    for _ in 0..2 {
        let r = server
            .post_events(Some(&a), &empty)
            .await
            .expect_status(StatusCode::OK);
        assert_eq!(r.json()["results"], json!([]));
    }
    let r = server
        .post_events(Some(&a), &empty)
        .await
        .expect_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert_eq!(r.header(header::RETRY_AFTER), Some("1"));
    // Another key has its own bucket.
    server
        .post_events(Some(&b), &empty)
        .await
        .expect_status(StatusCode::OK);
    let store = server.finish().await;
    assert_eq!(store.size(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_requests_are_authenticated_before_their_body_is_read() {
    let server = Server::start(ServeOptions::default());
    server.create_key(None, "read", None).await;

    // Without a key, whatever the body: 401, never a hint about the body's shape.
    for body in [
        json!({"role": "ingest", "bogus": 1}),
        json!(["not", "an", "object"]),
    ] {
        assert_unauthorized(
            server
                .send(post("/api/v1/admin/api-keys").json(&body))
                .await,
        );
    }
    assert_unauthorized(
        server
            .send(post("/api/v1/admin/api-keys").body("text/plain", "role=admin"))
            .await,
    );

    // With the admin token, a bad body is a 400 in the one error shape.
    server
        .send(
            post("/api/v1/admin/api-keys")
                .json(&json!({"role": "root"}))
                .bearer(LOCAL_ADMIN),
        )
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
    server
        .send(
            post("/api/v1/admin/api-keys")
                .json(&json!({"role": "ingest", "bogus": 1}))
                .bearer(LOCAL_ADMIN),
        )
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");

    let store = server.finish().await;
    assert_eq!(store.size(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn revoking_the_last_key_does_not_open_a_server_on_a_public_address() {
    // `serve` refuses to start open on a non-loopback address; revoking the last key at run time
    // must not get around that.
    let opts = ServeOptions {
        listen: "0.0.0.0:4318".parse().unwrap(),
        ..ServeOptions::default()
    };
    let (server, keys) = Server::with_stored_keys(opts, &["ingest"]);
    let (text, id) = keys[0].clone();
    server
        .post_events(Some(&text), &json!([action(Some("p1"), "a1")]))
        .await
        .expect_status(StatusCode::OK);
    assert_unauthorized(
        server
            .post_events(None, &json!([action(Some("p2"), "a1")]))
            .await,
    );

    // Refusing the revocation and refusing anonymous requests afterwards are both fine;
    // accepting anonymous writes (and anonymous admin) on 0.0.0.0 is not.
    let _ = server
        .send(delete(&format!("/api/v1/admin/api-keys/{id}")).bearer(LOCAL_ADMIN))
        .await;
    assert_unauthorized(
        server
            .post_events(None, &json!([action(Some("p3"), "a1")]))
            .await,
    );
    assert_unauthorized(
        server
            .send(post("/api/v1/admin/api-keys").json(&json!({"role": "admin"})))
            .await,
    );
    server.finish().await;
}
