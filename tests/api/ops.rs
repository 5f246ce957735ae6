//! Health and readiness, and restarts on an existing database.

use crate::both_backends;
use reqwest::Method;
use serde_json::json;

both_backends! {
    async fn healthz_and_readyz(app) {
        let (status, body) = app.send(Method::GET, "/healthz", None, None).await;
        assert_eq!((status, body), (200, json!({"status": "ok"})));
        let (status, body) = app.send(Method::GET, "/readyz", None, None).await;
        assert_eq!(status, 200);
        let expected = match app.backend {
            crate::helpers::Backend::Sqlite => "sqlite",
            crate::helpers::Backend::Postgres => "postgres",
        };
        assert_eq!(body["database"], expected);
    }

    async fn migrations_are_idempotent_across_restarts(app) {
        let (status, _) = app.put_account("persisted", json!({"display_name": "Before restart"})).await;
        assert_eq!(status, 201);
        let second = app.restart_on_same_database().await;
        let token = app.token(&["persisted"], "accounts:admin");
        let response = app
            .client
            .get(format!("{second}/v1/accounts/persisted"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["display_name"], "Before restart");
        let url = app.database_url.clone();
        let pending = tokio::task::spawn_blocking(move || pos_backend::db::Db::connect(&url, 1).unwrap().migrate().unwrap())
            .await
            .unwrap();
        assert_eq!(pending, 0);
    }
}
