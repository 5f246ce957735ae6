//! Authentication (401) and authorisation (403) on the API.

use crate::both_backends;
use crate::support::app::JWT_SECRET;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use jsonwebtoken::{encode, EncodingKey, Header};
use reqwest::Method;
use serde_json::json;

fn signed(claims: serde_json::Value, secret: &str) -> String {
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn claims(exp_offset: i64) -> serde_json::Value {
    json!({"sub": "t", "accounts": ["a1"], "scope": "accounts:admin", "exp": chrono::Utc::now().timestamp() + exp_offset})
}

both_backends! {
    async fn rejects_missing_and_bad_tokens_with_401(app) {
        let url = app.url("/v1/accounts/a1");
        let none = app.exchange(app.client.get(&url)).await;
        assert_eq!(none.status, 401);
        assert_eq!(none.headers["www-authenticate"], "Bearer");
        let body = none.json();
        assert_eq!(body["error"]["code"], "token_missing");
        assert_eq!(body["error"]["type"], "authentication_error");

        let alg_none = format!(
            "{}.{}.",
            B64.encode(br#"{"alg":"none","typ":"JWT"}"#),
            B64.encode(claims(3600).to_string())
        );
        let hs384 = encode(
            &Header::new(jsonwebtoken::Algorithm::HS384),
            &claims(3600),
            &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
        )
        .unwrap();
        let cases = [
            ("Bearer not-a-jwt".to_string(), "token_invalid"),
            ("Basic dXNlcjpwYXNz".to_string(), "token_invalid"),
            ("Bearer ".to_string(), "token_invalid"),
            (format!("Bearer {}", signed(claims(-3600), JWT_SECRET)), "token_expired"),
            (format!("Bearer {}", signed(claims(3600), "some-other-secret-some-other-secret")), "token_invalid"),
            (format!("Bearer {alg_none}"), "token_invalid"),
            (format!("Bearer {hs384}"), "token_invalid"),
            (format!("Bearer {}", signed(json!({"sub": "t", "accounts": ["a1"], "scope": "accounts:admin"}), JWT_SECRET)), "token_invalid"),
        ];
        for (header, code) in cases {
            let response = app.exchange(app.client.get(&url).header("Authorization", &header)).await;
            assert_eq!(response.status, 401, "{header}");
            let body = response.json();
            assert_eq!(body["error"]["code"], code, "{header}");
        }
    }

    async fn rejects_missing_scope_and_foreign_account_with_403(app) {
        let wrong_scope = app.token(&["a1"], "payments:read payments:write");
        let (status, body) = app.send(Method::GET, "/v1/accounts/a1", Some(&wrong_scope), None).await;
        assert_eq!(status, 403);
        assert_eq!(body["error"]["code"], "scope_missing");
        assert_eq!(body["error"]["type"], "permission_error");

        let other_account = app.token(&["a2"], "accounts:admin");
        let (status, body) = app
            .send(Method::PUT, "/v1/accounts/a1", Some(&other_account), Some(json!({})))
            .await;
        assert_eq!(status, 403);
        assert_eq!(body["error"]["code"], "account_forbidden");

        let operator = app.token(&["*"], "accounts:admin");
        let (status, _) = app.send(Method::PUT, "/v1/accounts/a1", Some(&operator), Some(json!({}))).await;
        assert_eq!(status, 201);
        let (status, _) = app.send(Method::GET, "/v1/accounts/a1", Some(&operator), None).await;
        assert_eq!(status, 200);
    }
}

/// RS256 (`POS_JWT_PUBLIC_KEY_FILE`): tokens signed with the private key of the configured public
/// key are accepted; everything else, including the public key used as an HMAC secret (the classic
/// algorithm confusion), is 401.
async fn rs256_tokens(backend: crate::support::app::Backend) {
    let fixture = |name: &str| {
        std::fs::read(format!(
            "{}/tests/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    };
    let public = fixture("jwt-rs256-public.pem");
    let app = crate::support::app::TestApp::spawn_configured(backend, |c| {
        c.jwt = pos_backend::config::JwtKey::Rs256PublicPem(public.clone())
    })
    .await;
    let rs256 = |pem: &[u8]| {
        encode(
            &Header::new(jsonwebtoken::Algorithm::RS256),
            &claims(3600),
            &EncodingKey::from_rsa_pem(pem).unwrap(),
        )
        .unwrap()
    };
    let get = |token: String| async {
        let response = app
            .exchange(
                app.client
                    .get(app.url("/v1/accounts/a1"))
                    .bearer_auth(token),
            )
            .await;
        (response.status, response.json())
    };
    // Signed by the trusted key: authenticated and authorised (creates the account, then reads it).
    let trusted = rs256(&fixture("jwt-rs256-private.pem"));
    let created = app
        .exchange(
            app.client
                .put(app.url("/v1/accounts/a1"))
                .bearer_auth(&trusted)
                .json(&json!({})),
        )
        .await;
    assert_eq!(created.status, 201);
    let (status, body) = get(trusted).await;
    assert_eq!(
        (status, &body["external_account_id"]),
        (200, &json!("a1")),
        "{body}"
    );
    let confused = encode(
        &Header::new(jsonwebtoken::Algorithm::HS256),
        &claims(3600),
        &EncodingKey::from_secret(&public),
    )
    .unwrap();
    let alg_none = format!(
        "{}.{}.",
        B64.encode(br#"{"alg":"none","typ":"JWT"}"#),
        B64.encode(claims(3600).to_string())
    );
    let expired = encode(
        &Header::new(jsonwebtoken::Algorithm::RS256),
        &claims(-3600),
        &EncodingKey::from_rsa_pem(&fixture("jwt-rs256-private.pem")).unwrap(),
    )
    .unwrap();
    for (what, token, code) in [
        (
            "another RSA key",
            rs256(&fixture("jwt-rs256-other-private.pem")),
            "token_invalid",
        ),
        ("HS256 keyed with the public key", confused, "token_invalid"),
        (
            "HS256 with the test suite's secret",
            signed(claims(3600), JWT_SECRET),
            "token_invalid",
        ),
        ("alg none", alg_none, "token_invalid"),
        ("expired", expired, "token_expired"),
    ] {
        let (status, body) = get(token).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (401, Some(code)),
            "{what}: {body}"
        );
    }
}

#[actix_web::test]
async fn rs256_tokens_sqlite() {
    rs256_tokens(crate::support::app::Backend::Sqlite).await
}

#[actix_web::test]
async fn rs256_tokens_postgres() {
    rs256_tokens(crate::support::app::Backend::Postgres).await
}
