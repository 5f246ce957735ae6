//! Accounts admin API: round trip, partial updates, validation, and the sealed Stripe key.

use crate::both_backends;
use diesel::{Connection, RunQueryDsl};
use pos_backend::db::DbConnection;
use reqwest::Method;
use serde_json::json;

#[derive(diesel::QueryableByName)]
struct SealedKey {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    stripe_secret_key_enc: Option<String>,
}

both_backends! {
    async fn put_get_round_trip(app) {
        let (status, created) = app
            .put_account("acme", json!({
                "display_name": "Acme Coffee",
                "default_currency": "EUR",
                "stripe_account_id": "acct_1Abc",
                "stripe_secret_key": "sk_test_51Secretvalue",
                "webhook_url": "https://merchant.example/hooks"
            }))
            .await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(created["external_account_id"], "acme");
        assert_eq!(created["default_currency"], "eur");
        assert_eq!(created["has_stripe_secret_key"], true);
        assert!(!created.to_string().contains("sk_test_51Secretvalue"));
        // The webhook-signing secret is shown once, in the answer that set the URL.
        let mut created = created;
        let secret = created.as_object_mut().unwrap().remove("webhook_secret").unwrap();
        assert!(secret.as_str().unwrap().starts_with("whsec_"));

        let token = app.token(&["acme"], "accounts:admin");
        let (status, got) = app.send(Method::GET, "/v1/accounts/acme", Some(&token), None).await;
        assert_eq!(status, 200);
        assert_eq!(got, created);

        // Partial update: only the display name changes; null clears the webhook URL.
        let (status, updated) = app.put_account("acme", json!({"display_name": "Acme Two", "webhook_url": null})).await;
        assert_eq!(status, 200);
        assert_eq!(updated["display_name"], "Acme Two");
        assert_eq!(updated["default_currency"], "eur");
        assert_eq!(updated["stripe_account_id"], "acct_1Abc");
        assert_eq!(updated["has_stripe_secret_key"], true);
        assert_eq!(updated["webhook_url"], serde_json::Value::Null);
        assert_eq!(updated["created_at"], created["created_at"]);

        let (_, cleared) = app.put_account("acme", json!({"stripe_secret_key": null})).await;
        assert_eq!(cleared["has_stripe_secret_key"], false);
    }

    async fn secret_key_is_sealed_in_the_database(app) {
        let (status, _) = app.put_account("sealed", json!({"stripe_secret_key": "sk_test_PlainTextMustNotAppear"})).await;
        assert_eq!(status, 201);
        let url = app.database_url.clone();
        let stored = tokio::task::spawn_blocking(move || {
            let mut conn = DbConnection::establish(&url).unwrap();
            diesel::sql_query("SELECT stripe_secret_key_enc FROM accounts WHERE external_account_id = 'sealed'")
                .get_result::<SealedKey>(&mut conn)
                .unwrap()
                .stripe_secret_key_enc
        })
        .await
        .unwrap()
        .expect("a sealed key is stored");
        assert!(!stored.contains("PlainText"), "the key is not readable in the row");
        assert!(stored.len() > 40);
    }

    async fn each_field_is_validated_by_name(app) {
        let cases = [
            (json!({"display_name": ""}), "display_name"),
            (json!({"display_name": "x".repeat(201)}), "display_name"),
            (json!({"default_currency": "xyz"}), "default_currency"),
            (json!({"default_currency": null}), "default_currency"),
            (json!({"default_currency": 5}), "default_currency"),
            (json!({"stripe_account_id": "acc_123"}), "stripe_account_id"),
            (json!({"stripe_account_id": "acct_"}), "stripe_account_id"),
            (json!({"stripe_secret_key": "pk_test_123"}), "stripe_secret_key"),
            (json!({"stripe_secret_key": "sk_live_abc"}), "stripe_secret_key"),
            (json!({"webhook_url": "http://merchant.example/hook"}), "webhook_url"),
            (json!({"webhook_url": "not a url"}), "webhook_url"),
            (json!({"webhook_url": "https://user:pw@merchant.example/"}), "webhook_url"),
            (json!({"webhook_url": "https://merchant.example/\u{0}"}), "webhook_url"),
            (json!({"webhook_url": "https://merchant.example/\nhook"}), "webhook_url"),
            (json!({"webhook_url": "https://merchant.example/ho\tok"}), "webhook_url"),
            (json!({"color": "blue"}), "color"),
        ];
        for (body, param) in cases {
            let (status, error) = app.put_account("valid", body.clone()).await;
            assert_eq!(status, 400, "{body} → {error}");
            assert_eq!(error["error"]["param"], param, "{body} → {error}");
            assert_eq!(error["error"]["type"], "invalid_request_error");
        }
        // Loopback http is allowed for local development.
        let (status, ok) = app.put_account("valid", json!({"webhook_url": "http://127.0.0.1:9000/hook"})).await;
        assert_eq!(status, 201, "{ok}");
        // Nothing was written by the rejected requests before it.
        assert_eq!(ok["display_name"], serde_json::Value::Null);
    }

    async fn unknown_account_is_404(app) {
        let token = app.token(&["ghost"], "accounts:admin");
        let (status, error) = app.send(Method::GET, "/v1/accounts/ghost", Some(&token), None).await;
        assert_eq!(status, 404);
        assert_eq!(error["error"]["code"], "resource_missing");
    }

    async fn one_stripe_account_links_to_one_merchant(app) {
        let token = app.token(&["*"], "accounts:admin");
        let body = json!({"stripe_account_id": "acct_Shared1"});
        let (s1, _) = app.send(Method::PUT, "/v1/accounts/m1", Some(&token), Some(body.clone())).await;
        let (s2, error) = app.send(Method::PUT, "/v1/accounts/m2", Some(&token), Some(body)).await;
        assert_eq!((s1, s2), (201, 409), "{error}");
        assert_eq!(error["error"]["param"], "stripe_account_id");
    }
}
