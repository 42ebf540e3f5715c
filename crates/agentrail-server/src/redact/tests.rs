//! Redaction tests, driven through `redact_event` wherever the rule is observable there.
//!
//! Fake secrets are assembled at run time (`fake`), so no string in this file looks like a live
//! credential to a secret scanner.

use super::*;
use proptest::prelude::*;
use serde_json::json;

const KEY: [u8; 32] = [7; 32];

/// The default policy under `KEY`, built once (building compiles every pattern).
fn redactor() -> &'static Redactor {
    static DEFAULTS: std::sync::LazyLock<Redactor> =
        std::sync::LazyLock::new(|| Redactor::new(&KEY, &PolicyConfig::default()).unwrap());
    &DEFAULTS
}

fn h(text: &str) -> String {
    redactor().hmac(text)
}

/// `prefix` followed by `len` characters cycling through `alphabet`.
fn fake(prefix: &str, alphabet: &str, len: usize) -> String {
    let mut s = prefix.to_owned();
    s.extend(alphabet.chars().cycle().take(len));
    s
}

const ALNUM: &str = "a1B2c3D4e5F6g7H8";

/// An event whose only redactable content is `attributes`.
fn event_with(attributes: Value) -> Value {
    json!({
        "session_id": "s-1", "agent_id": "a-1", "kind": "note", "ts": "2026-01-01T00:00:00Z",
        "note": {"text": "nothing secret"}, "attributes": attributes,
    })
}

/// `attributes` after redaction by `r`, with the number of replacements.
fn redact_attrs(r: &Redactor, attributes: Value) -> (Value, usize) {
    let mut event = event_with(attributes);
    let n = r.redact_event(&mut event);
    (event["attributes"].take(), n)
}

fn redacted_by_name(r: &Redactor, key: &str) -> bool {
    let (out, _) = redact_attrs(r, json!({ key: "plain value" }));
    out[key] != "plain value"
}

fn only_names(names: &[&str]) -> Redactor {
    let config = PolicyConfig {
        names: names.iter().map(|n| n.to_string()).collect(),
        disable_default_names: true,
        disable_default_patterns: true,
        ..PolicyConfig::default()
    };
    Redactor::new(&KEY, &config).unwrap()
}

fn only_pattern(name: &str) -> Redactor {
    let (name, regex) = DEFAULT_PATTERNS.iter().find(|p| p.0 == name).unwrap();
    let config = PolicyConfig {
        patterns: vec![PatternConfig {
            name: name.to_string(),
            regex: regex.to_string(),
        }],
        disable_default_names: true,
        disable_default_patterns: true,
        ..PolicyConfig::default()
    };
    Redactor::new(&KEY, &config).unwrap()
}

#[test]
fn a_redactor_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Redactor>();
}

#[test]
fn words_split_on_separators_case_and_digits() {
    let cases: &[(&str, &[&str])] = &[
        ("api_key", &["api", "key"]),
        ("apiKey", &["api", "key"]),
        ("x-api-key", &["x", "api", "key"]),
        ("OPENAI_API_KEY", &["openai", "api", "key"]),
        ("APIKey", &["api", "key"]),
        ("XApiKey", &["x", "api", "key"]),
        (
            "gen_ai.usage.input_tokens",
            &["gen", "ai", "usage", "input", "tokens"],
        ),
        ("oauth2Token", &["oauth", "2", "token"]),
        ("Set-Cookie", &["set", "cookie"]),
        ("a b\tc/d:e", &["a", "b", "c", "d", "e"]),
        ("__", &[]),
    ];
    for (key, expected) in cases {
        assert_eq!(words(key), *expected, "{key}");
    }
}

/// Every default name, keys it matches, and near misses (the name glued into a longer word, or a
/// neighbouring word) that no default matches.
#[rustfmt::skip]
const NAME_CASES: &[(&str, &[&str], &[&str])] = &[
    ("password", &["password", "db_password", "dbPassword", "DB-PASSWORD", "password2"], &["passwordless"]),
    ("passwords", &["passwords", "old_passwords"], &["passwordsafe"]),
    ("passwd", &["passwd", "MYSQL_PASSWD"], &["passwdfile"]),
    ("passphrase", &["passphrase", "keyPassphrase"], &["passphrased"]),
    ("secret", &["secret", "client_secret", "clientSecret", "webhook.secret", "SECRET_KEY_BASE"], &["secretary"]),
    ("secrets", &["secrets", "k8s.secrets"], &["secretsmanager"]),
    ("token", &["token", "access_token", "refreshToken", "session_token", "X-Auth-Token", "GITHUB_TOKEN"], &["tokenizer", "input_tokens"]),
    ("api key", &["api_key", "apiKey", "x-api-key", "OPENAI_API_KEY", "Api Key", "APIKey"], &["api_keyring", "rapid_key"]),
    ("api keys", &["api_keys", "apiKeys"], &["api_keysets"]),
    ("apikey", &["apikey", "APIKEY", "x-apikey"], &["apikeyring"]),
    ("apikeys", &["apikeys", "APIKEYS"], &["apikeysmith"]),
    ("authorization", &["authorization", "proxy-authorization", "http.request.header.authorization"], &["authorized_by", "author"]),
    ("cookie", &["cookie", "Set-Cookie", "set_cookie", "cookie.session"], &["cookiecutter"]),
    ("cookies", &["cookies", "request.cookies"], &["cookiesync"]),
    ("private key", &["private_key", "privateKey", "ssh-private-key", "private_key_id"], &["private_keyword", "private", "key"]),
    ("privatekey", &["privatekey", "PRIVATEKEY"], &["privatekeyring"]),
    ("access key", &["access_key", "aws_access_key_id", "AccessKey"], &["access_level", "accesskeyring"]),
    ("credential", &["credential", "gcp_credential"], &["credentialing"]),
    ("credentials", &["credentials", "GOOGLE_APPLICATION_CREDENTIALS"], &["credentialsless"]),
];

#[test]
fn each_default_name_matches_its_keys_and_not_its_near_misses() {
    let names: Vec<&str> = NAME_CASES.iter().map(|c| c.0).collect();
    assert_eq!(names, DEFAULT_NAMES, "every default name needs a row");
    let defaults = redactor();
    for (name, positives, negatives) in NAME_CASES {
        let alone = only_names(&[name]);
        for key in *positives {
            assert!(
                redacted_by_name(&alone, key),
                "`{name}` should match `{key}`"
            );
            assert!(
                redacted_by_name(defaults, key),
                "defaults should match `{key}`"
            );
        }
        for key in *negatives {
            assert!(
                !redacted_by_name(defaults, key),
                "no default should match `{key}`"
            );
        }
    }
}

#[test]
fn token_counts_are_not_secrets() {
    let defaults = redactor();
    for key in [
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens",
        "llm.token_count.prompt",
        "llm.token_count.completion",
        "llm.token_count.total",
        "max_tokens",
        "gen_ai.request.max_tokens",
        "promptTokenCount",
        "input_token_count",
        "token_usage",
        "token_type",
        "token_limit",
        "tokens",
    ] {
        assert!(!redacted_by_name(defaults, key), "`{key}` counts tokens");
    }
    // A carve-out covers only its own words.
    for key in [
        "token_count_secret",
        "token_count.access_token",
        "token_counts_token",
    ] {
        assert!(
            redacted_by_name(defaults, key),
            "`{key}` still names a secret"
        );
    }
    let (out, _) = redact_attrs(defaults, json!({"gen_ai.usage.input_tokens": 812}));
    assert_eq!(out, json!({"gen_ai.usage.input_tokens": 812}));
}

#[test]
fn a_secret_name_replaces_strings_and_numbers_and_keeps_booleans_nulls_and_shape() {
    let (out, n) = redact_attrs(
        redactor(),
        json!({
            "db_password": "hunter2",
            "pin_password": 1234,
            "float_secret": 1e3,
            "token": true,
            "cookie": null,
            "credentials": {"user": "bob", "password": "pw", "mfa": false, "ids": [7, "x", null]},
            "api_keys": ["k1", "k2"],
        }),
    );
    assert_eq!(
        out,
        json!({
            "db_password": h("hunter2"),
            "pin_password": h("1234"),
            "float_secret": h("1000"),
            "token": true,
            "cookie": null,
            "credentials": {"user": h("bob"), "password": h("pw"), "mfa": false, "ids": [h("7"), h("x"), null]},
            "api_keys": [h("k1"), h("k2")],
        })
    );
    assert_eq!(n, 9);
}

#[test]
fn names_apply_at_any_depth_of_free_form_data() {
    let mut event = json!({
        "session_id": "s", "agent_id": "a", "kind": "action", "ts": "2026-01-01T00:00:00Z",
        "action": {
            "type": "api_call", "system": "crm", "resource": "contacts", "status": "ok",
            "params": {"headers": [{"name": "accept", "Authorization": "Basic Ym9iOnB3"}], "query": {"apiKey": "k"}},
        },
    });
    assert_eq!(redactor().redact_event(&mut event), 2);
    assert_eq!(
        event["action"]["params"]["headers"][0]["Authorization"],
        h("Basic Ym9iOnB3")
    );
    assert_eq!(event["action"]["params"]["headers"][0]["name"], "accept");
    assert_eq!(event["action"]["params"]["query"]["apiKey"], h("k"));
}

/// Positive and negative inputs per default pattern: `(pattern, input, secret)`; the expected
/// output replaces `secret` (once) by its HMAC, or leaves the input alone when `secret` is `None`.
fn pattern_cases() -> Vec<(&'static str, String, Option<String>)> {
    let pem_body = "MIIEow\nIBAAKCAQEA\nq1w2e3==";
    let pem = format!("-----BEGIN RSA PRIVATE KEY-----\n{pem_body}\n-----END RSA PRIVATE KEY-----");
    let pem8 = "-----BEGIN PRIVATE KEY-----\\nMIIEvQ\\n-----END PRIVATE KEY-----".to_owned();
    let truncated = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE".to_owned();
    let bearer = fake("", ALNUM, 24);
    let jwt = format!(
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.{}",
        fake("", ALNUM, 16)
    );
    let aws_secret = fake("", "wJalrXUtnFEMI/K7MDENG/bPxRfiCY", 40);
    let ghp = fake("ghp_", ALNUM, 36);
    let pat = format!("{}_{}", fake("github_pat_", ALNUM, 22), fake("", ALNUM, 59));
    let sk_ant = fake("sk-ant-api03-", ALNUM, 40);
    let sk_proj = fake("sk-proj-", ALNUM, 40);
    let p = |name, input: String, secret: &str| (name, input, Some(secret.to_owned()));
    let n = |name, input: &str| (name, input.to_owned(), None);
    #[rustfmt::skip]
    let cases = vec![
        p("pem_private_key", format!("key:\n{pem}\nend"), &pem),
        p("pem_private_key", format!("PRIVATE_KEY=\"{pem8}\""), &pem8),
        p("pem_private_key", format!("cat id_ed25519: {truncated}"), &truncated),
        n("pem_private_key", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"),
        n("pem_private_key", "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----"),
        p("url_credentials", "postgres://app:s3cr3t-Pw@db.internal:5432/prod".into(), "s3cr3t-Pw"),
        p("url_credentials", "REDIS_URL=redis://:hunter2@cache:6379".into(), "hunter2"),
        p("url_credentials", format!("git clone https://x-access-token:{ghp}@github.com/o/r"), &ghp),
        n("url_credentials", "https://example.com:8443/path?q=1"),
        n("url_credentials", "https://user@example.com/ and mailto:user@example.com"),
        n("url_credentials", "http://host:8080/a@b"),
        p("aws_secret_access_key", format!("aws_secret_access_key = {aws_secret}"), &aws_secret),
        p("aws_secret_access_key", format!("export AWS_SECRET_ACCESS_KEY={aws_secret}"), &aws_secret),
        p("aws_secret_access_key", format!("SecretAccessKey: '{aws_secret}'"), &aws_secret),
        n("aws_secret_access_key", "set aws_secret_access_key in ~/.aws/credentials"),
        p("bearer_token", format!("Authorization: Bearer {bearer}"), &bearer),
        p("bearer_token", format!("curl -H 'authorization: bearer {jwt}'"), &jwt),
        n("bearer_token", "the bearer of this letter"),
        n("bearer_token", "WWW-Authenticate: Bearer realm=\"api\""),
        p("basic_auth_header", "Authorization: Basic dXNlcjpwYXNzd29yZA==".into(), "dXNlcjpwYXNzd29yZA=="),
        n("basic_auth_header", "basic authorization is disabled"),
        p("jwt", format!("id_token={jwt}&state=1"), &jwt),
        n("jwt", "eyJhbGciOiJIUzI1NiJ9 alone is a header, not a token"),
        p("github_token", format!("token {ghp} pushed"), &ghp),
        p("github_token", fake("gho_", ALNUM, 36), &fake("gho_", ALNUM, 36)),
        p("github_token", fake("ghu_", ALNUM, 36), &fake("ghu_", ALNUM, 36)),
        p("github_token", fake("ghs_", ALNUM, 36), &fake("ghs_", ALNUM, 36)),
        p("github_token", fake("ghr_", ALNUM, 36), &fake("ghr_", ALNUM, 36)),
        p("github_token", format!("GH={pat}"), &pat),
        n("github_token", "ghp_short and ghx_a1B2c3D4e5F6g7H8a1B2c3D4e5F6g7H8a1B2"),
        p("slack_token", "SLACK=xoxb-1234567890-abcdefghij".into(), "xoxb-1234567890-abcdefghij"),
        n("slack_token", "xoxo-hugs and xoxb-short"),
        p("anthropic_api_key", format!("key {sk_ant}."), &sk_ant),
        n("anthropic_api_key", "sk-ant-short"),
        p("openai_api_key", format!("OPENAI_API_KEY={sk_proj}"), &sk_proj),
        n("openai_api_key", "task-force-alpha-bravo-charlie and sk-learn"),
        p("stripe_secret_key", fake("sk_live_", ALNUM, 24), &fake("sk_live_", ALNUM, 24)),
        p("stripe_secret_key", fake("rk_live_", ALNUM, 24), &fake("rk_live_", ALNUM, 24)),
        p("stripe_secret_key", fake("sk_test_", ALNUM, 24), &fake("sk_test_", ALNUM, 24)),
        n("stripe_secret_key", "pk_live_a1B2c3D4e5F6g7H8a1B2c3D4 is publishable; sk_live_short"),
        p("google_api_key", fake("AIza", ALNUM, 35), &fake("AIza", ALNUM, 35)),
        n("google_api_key", "AIza1234567890"),
        p("aws_access_key_id", "id=AKIAIOSFODNN7EXAMPLE,".into(), "AKIAIOSFODNN7EXAMPLE"),
        p("aws_access_key_id", "ASIAY34FZKBOKMUTVV7A".into(), "ASIAY34FZKBOKMUTVV7A"),
        n("aws_access_key_id", "AKIA1234 and XAKIAIOSFODNN7EXAMPLE and AKIAIOSFODNN7EXAMPLEX"),
    ];
    cases
}

#[test]
fn each_default_pattern_replaces_only_its_secret() {
    let cases = pattern_cases();
    for (name, _) in DEFAULT_PATTERNS {
        assert!(
            cases.iter().any(|c| c.0 == *name && c.2.is_some()),
            "`{name}` needs a positive case"
        );
        assert!(
            cases.iter().any(|c| c.0 == *name && c.2.is_none()),
            "`{name}` needs a negative case"
        );
    }
    for (name, input, secret) in cases {
        let expected = match &secret {
            Some(secret) => {
                assert!(input.contains(secret.as_str()), "bad case {input:?}");
                input.replacen(secret.as_str(), &h(secret), 1)
            }
            None => input.clone(),
        };
        for (who, r) in [(name, &only_pattern(name)), ("defaults", redactor())] {
            let (out, n) = redact_attrs(r, json!({ "text": input }));
            assert_eq!(out["text"], expected, "{who} on {input:?}");
            assert_eq!(n, usize::from(secret.is_some()), "{who} on {input:?}");
        }
    }
}

#[test]
fn several_secrets_in_one_string_are_replaced_separately() {
    let ghp = fake("ghp_", ALNUM, 36);
    let text = format!(
        "export GH={ghp}; psql postgres://app:pw1@db; curl -H 'Authorization: Bearer {ghp}' \
         -----BEGIN EC PRIVATE KEY-----\nAA\n-----END EC PRIVATE KEY----- \
         -----BEGIN EC PRIVATE KEY-----\nBB\n-----END EC PRIVATE KEY-----"
    );
    let (out, n) = redact_attrs(redactor(), json!({ "cmd": text }));
    let pem =
        |body| format!("-----BEGIN EC PRIVATE KEY-----\n{body}\n-----END EC PRIVATE KEY-----");
    let expected = format!(
        "export GH={}; psql postgres://app:{}@db; curl -H 'Authorization: Bearer {}' {} {}",
        h(&ghp),
        h("pw1"),
        h(&ghp),
        h(&pem("AA")),
        h(&pem("BB")),
    );
    assert_eq!(out["cmd"], expected);
    assert_eq!(n, 5);
}

fn full_event() -> Value {
    let ghp = fake("ghp_", ALNUM, 36);
    json!({
        "event_id": format!("ev.{ghp}"), "session_id": format!("s {ghp}"), "agent_id": "password-bot",
        "kind": "session.start", "ts": "2026-01-01T00:00:00Z", "principal": format!("svc {ghp}"),
        "trace_id": "0af7651916cd43dd8448eb211c80319c", "span_id": "b7ad6b7169203331",
        "parent_span_id": "b7ad6b7169203332", "parent_session_id": format!("p {ghp}"),
        "trigger": {"type": "user", "initiator": "alice", "request": format!("deploy with {ghp}")},
        "authorization": {"decision": "allow", "policy": "deploy-policy", "policy_hash": "ab12",
                          "permissions": ["repo:write"], "granted_by": "bob"},
        "attributes": {"authorization": "Bearer a1B2c3D4e5F6g7H8a1B2"},
    })
}

#[test]
fn structural_fields_are_never_touched() {
    let before = full_event();
    let mut after = before.clone();
    redactor().redact_event(&mut after);
    for field in STRUCTURAL {
        assert_eq!(after[field], before[field], "{field}");
    }
    assert_ne!(
        after["trigger"], before["trigger"],
        "the body is still redacted"
    );
}

#[test]
fn structural_fields_are_the_envelope_identifiers() {
    let envelope: Vec<&str> = agentrail_core::event::ENVELOPE_FIELDS
        .iter()
        .copied()
        .filter(|f| *f != "attributes")
        .collect();
    let mut structural: Vec<&str> = STRUCTURAL.to_vec();
    structural.retain(|f| *f != "parent_session_id");
    structural.sort_unstable();
    let mut envelope = envelope;
    envelope.sort_unstable();
    assert_eq!(structural, envelope);
}

#[test]
fn the_v1_authorization_object_stays_readable() {
    let mut event = full_event();
    assert_eq!(redactor().redact_event(&mut event), 2);
    assert_eq!(event["authorization"], full_event()["authorization"]);
    // The same name in free-form data is a secret.
    assert_eq!(
        event["attributes"]["authorization"],
        h("Bearer a1B2c3D4e5F6g7H8a1B2")
    );
    let ghp = fake("ghp_", ALNUM, 36);
    assert_eq!(
        event["trigger"]["request"],
        format!("deploy with {}", h(&ghp))
    );

    let mut change = json!({
        "session_id": "s", "agent_id": "a", "kind": "authz.change", "ts": "2026-01-01T00:00:00Z",
        "authorization": {"decision": "deny", "policy": "p"}, "reason": "revoked",
    });
    let before = change.clone();
    assert_eq!(redactor().redact_event(&mut change), 0);
    assert_eq!(change, before);
}

#[test]
fn names_on_v1_fields_keep_the_event_valid() {
    let r = Redactor::from_toml(
        &KEY,
        r#"[redaction]
           names = ["request", "decision", "count", "tokens", "permissions", "trigger", "action"]"#,
    )
    .unwrap();
    let mut start = full_event();
    r.redact_event(&mut start);
    assert_eq!(
        start["trigger"]["type"], "user",
        "an enumeration keeps its value"
    );
    assert_eq!(start["authorization"]["decision"], "allow");
    assert_eq!(
        start["trigger"]["request"],
        h(&format!("deploy with {}", fake("ghp_", ALNUM, 36)))
    );
    assert_eq!(
        start["authorization"]["permissions"],
        json!([h("repo:write")])
    );
    agentrail_core::event::validate_client_event(start).expect("still a valid v1 event");

    let mut action = json!({
        "session_id": "s", "agent_id": "a", "kind": "action", "ts": "2026-01-01T00:00:00Z",
        "action": {"type": "model_call", "system": "openai", "status": "ok", "count": 3,
                   "tokens": {"input": 10, "output": 2}, "params": {"count": 5}},
    });
    r.redact_event(&mut action);
    assert_eq!(action["action"]["count"], 3, "a v1 number keeps its type");
    assert_eq!(
        action["action"]["tokens"],
        json!({"input": 10, "output": 2})
    );
    assert_eq!(
        action["action"]["params"]["count"],
        h("5"),
        "free-form data is redacted"
    );
    agentrail_core::event::validate_client_event(action).expect("still a valid v1 event");
}

#[test]
fn json_text_in_a_string_is_redacted_as_structure() {
    let args = json!({"password": "hunter2", "query": "x", "n": 2}).to_string();
    let (out, n) = redact_attrs(redactor(), json!({ "gen_ai.tool.call.arguments": args }));
    let expected = json!({"n": 2, "password": h("hunter2"), "query": "x"}).to_string();
    assert_eq!(out["gen_ai.tool.call.arguments"], expected);
    assert_eq!(n, 1);

    // Patterns apply to the document's strings, and JSON inside JSON is parsed too.
    let bearer = fake("", ALNUM, 20);
    let inner = json!({"headers": {"x-api-key": "k"}}).to_string();
    let text = json!([{"cmd": format!("curl -H 'Authorization: Bearer {bearer}'")}, inner]);
    let (out, n) = redact_attrs(redactor(), json!({ "t": text.to_string() }));
    let inner = json!({"headers": {"x-api-key": h("k")}}).to_string();
    let expected =
        json!([{"cmd": format!("curl -H 'Authorization: Bearer {}'", h(&bearer))}, inner]);
    assert_eq!(out["t"], expected.to_string());
    assert_eq!(n, 2);

    // A JSON text with nothing to redact keeps its exact text; one that is not JSON is text.
    for text in [
        "{ \"query\" : \"x\" }",
        "[1, 2]",
        "{\"password\": oops",
        "\"password\"",
    ] {
        let (out, n) = redact_attrs(redactor(), json!({ "t": text }));
        assert_eq!((out["t"].as_str(), n), (Some(text), 0));
    }
}

#[test]
fn object_keys_are_not_rewritten() {
    let ghp = fake("ghp_", ALNUM, 36);
    let (out, n) = redact_attrs(redactor(), json!({ ghp.clone(): 1 }));
    assert_eq!(out, json!({ ghp: 1 }));
    assert_eq!(n, 0);
}

#[test]
fn the_policy_extends_through_toml() {
    let r = Redactor::from_toml(
        &KEY,
        r#"
        [redaction]
        names = ["ssn"]
        patterns = [{name = "acme", regex = "acme_[a-z0-9]{8}"}]
        allow_names = ["csrf token"]
        "#,
    )
    .unwrap();
    let (out, n) = redact_attrs(
        &r,
        json!({
            "customer.ssn": "123-45-6789", "note": "used acme_abcd1234 twice: acme_abcd1234",
            "x-csrf-token": "c1", "csrf_token_secret": "c2", "access_token": "t",
        }),
    );
    assert_eq!(
        out,
        json!({
            "customer.ssn": h("123-45-6789"),
            "note": format!("used {0} twice: {0}", h("acme_abcd1234")),
            "x-csrf-token": "c1", "csrf_token_secret": h("c2"), "access_token": h("t"),
        })
    );
    assert_eq!(n, 5);
}

#[test]
fn the_policy_example_in_the_docs_works() {
    let doc = include_str!("../../../../docs/redaction.md");
    let example = doc
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/redaction.md has a TOML example");
    let r = Redactor::from_toml(&KEY, example).unwrap();
    let (out, _) = redact_attrs(
        &r,
        json!({"customerSsn": "1", "PWD": "/home/a", "t": "PIN: 1234", "x-csrf-token": "c"}),
    );
    assert_eq!(
        out,
        json!({"customerSsn": h("1"), "PWD": h("/home/a"), "t": format!("PIN: {}", h("1234")), "x-csrf-token": "c"})
    );
}

#[test]
fn a_secret_group_limits_a_custom_pattern() {
    let r = Redactor::from_toml(
        &KEY,
        r#"[redaction]
           patterns = [{name = "pin", regex = 'PIN: (?P<secret>\d{4})'}]"#,
    )
    .unwrap();
    let (out, _) = redact_attrs(&r, json!({"t": "PIN: 1234"}));
    assert_eq!(out["t"], format!("PIN: {}", h("1234")));
}

#[test]
fn the_defaults_can_be_switched_off() {
    let r = Redactor::from_toml(
        &KEY,
        "[redaction]\ndisable_default_names = true\ndisable_default_patterns = true\n",
    )
    .unwrap();
    let input = json!({"password": "pw", "t": fake("ghp_", ALNUM, 36)});
    assert_eq!(redact_attrs(&r, input.clone()), (input, 0));
    assert!(
        Redactor::from_toml(&KEY, "").is_ok(),
        "an empty file is the defaults"
    );
}

fn toml_error(text: &str) -> RedactError {
    Redactor::from_toml(&KEY, text).unwrap_err()
}

#[test]
fn bad_policies_name_the_item() {
    let err = toml_error("[redaction]\npatterns = [{name = \"acme\", regex = \"acme_[\"}]\n");
    assert!(
        matches!(&err, RedactError::Pattern { name, .. } if name == "acme"),
        "{err:?}"
    );
    assert!(err
        .to_string()
        .starts_with("redaction pattern `acme`: not a valid regular expression"));

    let cases = [
        (
            "[redaction]\nnmes = [\"ssn\"]\n",
            "redaction.nmes",
            2,
            "unknown field `nmes`",
        ),
        (
            "[redaction]\npatterns = [{name = \"a\", rgex = \"x\"}]\n",
            "redaction.patterns[0].rgex",
            2,
            "unknown field `rgex`",
        ),
        (
            "[redactions]\n",
            "redactions",
            1,
            "unknown field `redactions`",
        ),
        (
            "[redaction]\nnames = \"ssn\"\n",
            "redaction.names",
            2,
            "invalid type",
        ),
        ("[redaction\n", "", 1, "unclosed table"),
    ];
    for (text, path, line, message) in cases {
        let err = toml_error(text);
        let RedactError::Toml {
            path: p,
            line: l,
            message: m,
            ..
        } = &err
        else {
            panic!("{text:?}: {err:?}");
        };
        assert_eq!((p.as_str(), *l), (path, line), "{text:?}");
        assert!(m.starts_with(message), "{text:?}: {m}");
        assert!(err.to_string().contains(path), "{err}");
    }

    let err = Redactor::new(
        &KEY,
        &PolicyConfig {
            names: vec!["__".into()],
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "redaction.names entry `__`: it has no letters or digits; write a field name such as `ssn`"
    );
    let err = Redactor::new(&[1; 31], &PolicyConfig::default()).unwrap_err();
    assert!(matches!(err, RedactError::KeyTooShort { len: 31, min: 32 }));
}

#[test]
fn hmac_is_plain_hmac_sha256_of_the_text() {
    // RFC 4231 test case 6 (a key longer than the block).
    let r = Redactor::new(&[0xaa; 131], &PolicyConfig::default()).unwrap();
    assert_eq!(
        r.hmac("Test Using Larger Than Block-Size Key - Hash Key First"),
        "hmac-sha256:60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    );
    assert!(is_replacement(&h("")));
}

#[test]
fn redaction_is_idempotent_deterministic_and_keyed() {
    let mut once = full_event();
    let n = redactor().redact_event(&mut once);
    assert!(n > 0);
    let mut twice = once.clone();
    assert_eq!(redactor().redact_event(&mut twice), 0);
    assert_eq!(twice, once);

    let mut again = full_event();
    redactor().redact_event(&mut again);
    assert_eq!(again, once, "the same key gives the same output");

    let mut other = full_event();
    Redactor::new(&[8; 32], &PolicyConfig::default())
        .unwrap()
        .redact_event(&mut other);
    assert_ne!(
        other["trigger"], once["trigger"],
        "another key gives another output"
    );
    assert_eq!(other["authorization"], once["authorization"]);
}

#[test]
fn a_replacement_inside_a_pattern_context_is_left_alone() {
    for text in [
        format!("Authorization: Bearer {}", h("x")),
        format!("postgres://u:{}@db", h("x")),
        format!("aws_secret_access_key={}", h("x")),
        h("x"),
    ] {
        let (out, n) = redact_attrs(redactor(), json!({"t": text, "password": h("y")}));
        assert_eq!((out, n), (json!({"t": text, "password": h("y")}), 0));
    }
}

#[test]
fn a_replacement_does_not_shield_the_secret_next_to_it() {
    // The JWT is replaced first; the Anthropic key glued to it is still found between the
    // replacements (a whole-string scan would see a match overlapping the replacement).
    let sk = fake("sk-ant-api03-", ALNUM, 24);
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln";
    let (out, n) = redact_attrs(redactor(), json!({"t": format!("{sk}-{jwt}")}));
    assert_eq!(out["t"], format!("{}{}", h(&format!("{sk}-")), h(jwt)));
    assert_eq!(n, 2);
}

#[test]
fn patterns_run_until_nothing_matches_between_replacements() {
    // `later` makes room for `earlier`: a replacement is a boundary, where `\b` holds.
    let r = Redactor::from_toml(
        &KEY,
        r#"[redaction]
           disable_default_patterns = true
           patterns = [{name = "earlier", regex = '\bpin\d+'}, {name = "later", regex = "xx"}]"#,
    )
    .unwrap();
    let (out, n) = redact_attrs(&r, json!({"t": "xxpin42"}));
    assert_eq!(out["t"], format!("{}{}", h("xx"), h("pin42")));
    assert_eq!(n, 2);
}

// ---------------------------------------------------------------------------------------------
// Property: whatever the event, redaction leaves the structural fields alone, leaves no default
// pattern match outside a replacement, and is a deterministic fixed point.

/// A fake secret of every default pattern's shape, between spaces so word boundaries hold.
fn secret() -> impl Strategy<Value = String> {
    prop_oneof![
        "-----BEGIN RSA PRIVATE KEY-----\n[A-Za-z0-9+/]{20}\n-----END RSA PRIVATE KEY-----",
        "-----BEGIN PRIVATE KEY-----\n[A-Za-z0-9+/]{20}",
        "postgres://u[a-z]{0,4}:P[A-Za-z0-9]{8}@db",
        "aws_secret_access_key=[A-Za-z0-9/+]{40}",
        "Bearer T0[A-Za-z0-9._~+/-]{16,30}",
        "Authorization: Basic [A-Za-z0-9+/]{12}==",
        "eyJ[A-Za-z0-9_-]{10}\\.[A-Za-z0-9_-]{10}\\.[A-Za-z0-9_-]{10}",
        "gh[pousr]_[A-Za-z0-9]{36}",
        "github_pat_[A-Za-z0-9_]{30}",
        "xox[abprs]-[0-9]{10}-[A-Za-z0-9]{10}",
        "sk-ant-api03-[A-Za-z0-9_-]{30}",
        "sk-proj-[A-Za-z0-9_-]{30}",
        "[rs]k_live_[A-Za-z0-9]{24}",
        "AIza[A-Za-z0-9_-]{35}",
        "(AKIA|ASIA)[A-Z0-9]{16}",
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop_oneof![2 => "[a-z :/@=.-]{0,12}", 1 => secret()], 0..4)
        .prop_map(|parts| parts.join(" "))
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{1,8}",
        Just("password".to_owned()),
        Just("authorization".to_owned()),
        Just("llm.token_count.prompt".to_owned()),
        Just("apiKey".to_owned()),
        Just("type".to_owned()),
        Just("count".to_owned()),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        3 => text().prop_map(Value::String),
        1 => any::<i32>().prop_map(Value::from),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => Just(Value::Null),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner.clone(), 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            // JSON text in a string, as tool-call arguments arrive.
            prop::collection::btree_map(key(), inner, 0..4)
                .prop_map(|m| Value::String(Value::Object(m.into_iter().collect()).to_string())),
        ]
    })
}

fn event() -> impl Strategy<Value = Value> {
    let kinds: Vec<&str> = schema::KINDS
        .iter()
        .map(|k| k.kind)
        .chain(["x.custom"])
        .collect();
    let structural = prop::collection::vec(text(), STRUCTURAL.len());
    (
        prop::sample::select(kinds),
        structural,
        json_value(),
        prop::collection::vec(json_value(), 4),
    )
        .prop_map(|(kind, ids, attributes, bodies)| {
            let mut obj = Map::new();
            for (field, id) in STRUCTURAL.iter().zip(ids) {
                obj.insert(field.to_string(), Value::String(id));
            }
            obj.insert("kind".into(), Value::String(kind.into()));
            obj.insert("attributes".into(), attributes);
            let fields = schema::kind_spec(kind).map_or(&[][..], |s| s.fields);
            let names = fields
                .iter()
                .map(|f| f.name)
                .chain(["authorization", "extra"]);
            for (name, body) in names.zip(bodies) {
                obj.insert(name.into(), body);
            }
            Value::Object(obj)
        })
}

/// Every string of `v` the patterns see: `STRUCTURAL` fields left out at the top level, and JSON
/// texts replaced by their strings (to `MAX_EMBEDDED_JSON` levels).
fn strings(v: &Value, top: bool, embedded: usize, out: &mut Vec<String>) {
    match v {
        Value::String(s) => match embedded_json(s).filter(|_| embedded < MAX_EMBEDDED_JSON) {
            Some(doc) => strings(&doc, false, embedded + 1, out),
            None => out.push(s.clone()),
        },
        Value::Array(items) => items.iter().for_each(|i| strings(i, false, embedded, out)),
        Value::Object(map) => map
            .iter()
            .filter(|(k, _)| !(top && STRUCTURAL.contains(&k.as_str())))
            .for_each(|(_, v)| strings(v, false, embedded, out)),
        _ => {}
    }
}

proptest! {
    #[test]
    fn redaction_keeps_structure_and_leaves_no_default_match(input in event()) {
        let r = redactor();
        let mut out = input.clone();
        r.redact_event(&mut out);
        for field in STRUCTURAL {
            prop_assert_eq!(&out[field], &input[field]);
        }
        let patterns = &redactor().patterns;
        let mut texts = Vec::new();
        strings(&out, true, 0, &mut texts);
        for s in &texts {
            let mut between = Vec::new();
            let mut pos = 0;
            for token in replacement_spans(s) {
                between.push(&s[pos..token.start]);
                pos = token.end;
            }
            between.push(&s[pos..]);
            for text in between {
                for p in patterns {
                    for caps in p.regex.captures_iter(text) {
                        let m = caps.get(p.secret_group.unwrap_or(0));
                        prop_assert!(
                            m.is_none_or(|m| m.is_empty()),
                            "`{}` matches {:?} in {:?}", p.name, m.map(|m| m.as_str()), s
                        );
                    }
                }
            }
        }
        let mut again = out.clone();
        prop_assert_eq!(r.redact_event(&mut again), 0);
        prop_assert_eq!(&again, &out);
        let mut other = input.clone();
        redactor().redact_event(&mut other);
        prop_assert_eq!(&other, &out);
    }
}
