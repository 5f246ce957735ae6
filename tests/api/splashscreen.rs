//! A location's splash screen (`PUT/GET/DELETE /v1/terminal/locations/{id}/splashscreen`): the
//! image is uploaded to Stripe as a `terminal_reader_splashscreen` File and set on the location's
//! Terminal configuration (shared with its tipping); bad images are 400s naming `image` without a
//! Stripe call; another account's location is a 404.

use crate::both_backends;
use crate::support::app::TestApp;
use base64::Engine;
use reqwest::Method;
use serde_json::{json, Value};

/// A PNG's signature and a few bytes: what the simulator (and we) sniff.
fn png(size: usize) -> String {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.resize(size, 0);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

async fn location(app: &TestApp) -> (String, String) {
    let token = app.merchant("acme", "usd").await;
    let (status, location) = app
        .post(
            "/v1/terminal/locations",
            &token,
            json!({"external_account_id": "acme", "display_name": "Front",
                   "address": {"line1": "1 Main St", "country": "US"}}),
        )
        .await;
    assert_eq!(status, 200, "{location}");
    (token, location["id"].as_str().unwrap().to_string())
}

async fn send(
    app: &TestApp,
    method: Method,
    token: &str,
    location: &str,
    what: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let query = if body.is_none() {
        "?external_account_id=acme"
    } else {
        ""
    };
    app.send(
        method,
        &format!("/v1/terminal/locations/{location}/{what}{query}"),
        Some(token),
        body,
    )
    .await
}

both_backends! {
    async fn the_splash_screen_is_set_on_the_locations_configuration_and_removed(app) {
        let (token, location) = location(&app).await;
        let (status, none) = send(&app, Method::GET, &token, &location, "splashscreen", None).await;
        assert_eq!((status, none["splashscreen"].clone()), (200, Value::Null), "{none}");

        // A real-sized image (1 MB, 1.3 MB as base64) goes through to Stripe's file upload.
        let (status, set) = send(&app, Method::PUT, &token, &location, "splashscreen",
            Some(json!({"external_account_id": "acme", "image": png(1_000_000)}))).await;
        assert_eq!(status, 200, "{set}");
        let file = set["splashscreen"].as_str().unwrap().to_string();
        assert!(file.starts_with("file_"), "{set}");
        let configuration = set["configuration_id"].as_str().unwrap().to_string();
        // At Stripe: the File's purpose, the configuration's splash screen, the location using it.
        let at_stripe = app.sim_get(&format!("/v1/terminal/configurations/{configuration}")).await;
        assert_eq!(at_stripe["bbpos_wisepos_e"]["splashscreen"], file.as_str(), "{at_stripe}");
        let loc = app.sim_get(&format!("/v1/terminal/locations/{location}")).await;
        assert_eq!(loc["configuration_overrides"], configuration.as_str(), "{loc}");
        let (_, read) = send(&app, Method::GET, &token, &location, "splashscreen", None).await;
        assert_eq!(read["splashscreen"], file.as_str());

        // Tipping shares the configuration; removing the splash screen keeps the tipping…
        let (status, tipping) = send(&app, Method::PUT, &token, &location, "tipping",
            Some(json!({"external_account_id": "acme", "currency": "usd", "percentages": [10, 15, 20]}))).await;
        assert_eq!(status, 200, "{tipping}");
        let (status, removed) = send(&app, Method::DELETE, &token, &location, "splashscreen", None).await;
        assert_eq!(status, 200, "{removed}");
        assert_eq!((removed["splashscreen"].clone(), removed["configuration_id"].as_str()),
            (Value::Null, Some(configuration.as_str())), "{removed}");
        let at_stripe = app.sim_get(&format!("/v1/terminal/configurations/{configuration}")).await;
        assert!(at_stripe["tipping"]["usd"].is_object(), "{at_stripe}");
        // …and removing the tipping of a configuration that still shows a splash screen keeps it.
        send(&app, Method::PUT, &token, &location, "splashscreen",
            Some(json!({"external_account_id": "acme", "image": png(64)}))).await;
        let (status, _) = send(&app, Method::DELETE, &token, &location, "tipping", None).await;
        assert_eq!(status, 200);
        let (_, still) = send(&app, Method::GET, &token, &location, "splashscreen", None).await;
        assert!(still["splashscreen"].as_str().is_some_and(|f| f.starts_with("file_")), "{still}");
        // The last setting gone: our configuration is deleted.
        let (status, gone) = send(&app, Method::DELETE, &token, &location, "splashscreen", None).await;
        assert_eq!((status, gone["configuration_id"].clone()), (200, Value::Null), "{gone}");
    }

    async fn bad_images_are_400s_naming_image_and_another_accounts_location_is_404(app) {
        let (token, location) = location(&app).await;
        let calls = app.stripe_calls().await.len();
        let pdf = base64::engine::general_purpose::STANDARD.encode(b"%PDF-1.4 not an image");
        for (image, why) in [
            (json!("not base64!"), "not base64"),
            (json!(pdf), "a PDF"),
            (json!(png(2 * 1024 * 1024)), "a PNG of 2 MB"),
        ] {
            let (status, error) = send(&app, Method::PUT, &token, &location, "splashscreen",
                Some(json!({"external_account_id": "acme", "image": image}))).await;
            assert_eq!((status, error["error"]["param"].as_str()), (400, Some("image")), "{why}: {error}");
        }
        assert_eq!(app.stripe_calls().await.len(), calls, "no Stripe call for a bad image");
        let other = app.merchant("other", "usd").await;
        let (status, error) = app.send(Method::PUT, &format!("/v1/terminal/locations/{location}/splashscreen"), Some(&other),
            Some(json!({"external_account_id": "other", "image": png(64)}))).await;
        assert_eq!(status, 404, "{error}");
    }
}
