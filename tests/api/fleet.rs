//! The reader fleet through our API: readers renamed (`POST /v1/terminal/readers/{id}`) and
//! deleted, locations updated (`POST /v1/terminal/locations/{id}`) and deleted (409
//! `location_has_readers` while readers are there), each reader's status as Stripe has it (online
//! or offline, last seen, software version, serial number) in the list and the reader, lists
//! filtered by location and status; an offline reader refuses a sale (409 `reader_offline`). Bad
//! input is a 400 naming the field without a Stripe call; another account's ids are 404s.

use crate::both_backends;
use crate::support::app::TestApp;
use serde_json::{json, Value};

async fn location(app: &TestApp, token: &str, name: &str) -> String {
    let (status, location) = app
        .post(
            "/v1/terminal/locations",
            token,
            json!({"external_account_id": "acme", "display_name": name,
                   "address": {"line1": "1 Main St", "city": "Springfield", "country": "US"}}),
        )
        .await;
    assert_eq!(status, 200, "{location}");
    location["id"].as_str().unwrap().to_string()
}

async fn reader(app: &TestApp, token: &str, label: &str, location: &str) -> String {
    let (status, reader) = app
        .post(
            "/v1/terminal/readers",
            token,
            json!({"external_account_id": "acme", "registration_code": "simulated-wpe",
                   "label": label, "location": location}),
        )
        .await;
    assert_eq!(status, 200, "{reader}");
    reader["id"].as_str().unwrap().to_string()
}

async fn delete(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    app.send(reqwest::Method::DELETE, path, Some(token), None)
        .await
}

/// The readers `GET /v1/terminal/readers?external_account_id=acme&{filters}` lists: (id, status).
async fn listed(app: &TestApp, token: &str, filters: &str) -> Vec<(String, Value)> {
    let (status, list) = app
        .get(
            &format!("/v1/terminal/readers?external_account_id=acme{filters}"),
            token,
        )
        .await;
    assert_eq!(status, 200, "{list}");
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_str().unwrap().to_string(), r["status"].clone()))
        .collect()
}

async fn network(app: &TestApp, reader: &str, to: &str) {
    let (status, body) = app
        .sim_post(&format!("/_sim/terminal/readers/{reader}/{to}"), &[])
        .await;
    assert_eq!(status, 200, "{body}");
}

both_backends! {
    async fn readers_show_their_status_and_are_listed_by_location_and_status(app) {
        let token = app.merchant("acme", "usd").await;
        let front = location(&app, &token, "Front").await;
        let back = location(&app, &token, "Back").await;
        let till = reader(&app, &token, "Till", &front).await;
        let bar = reader(&app, &token, "Bar", &back).await;

        let (status, got) = app
            .get(&format!("/v1/terminal/readers/{till}?external_account_id=acme"), &token)
            .await;
        assert_eq!(status, 200, "{got}");
        assert_eq!(got["status"], "online");
        assert_eq!(got["device_type"], "simulated_wisepos_e");
        assert!(got["device_sw_version"].is_string(), "{got}");
        assert!(!got["serial_number"].as_str().unwrap().is_empty(), "{got}");
        assert!(got["last_seen_at"].as_str().unwrap().ends_with('Z'), "{got}");

        assert_eq!(
            listed(&app, &token, "").await,
            [(bar.clone(), json!("online")), (till.clone(), json!("online"))]
        );
        network(&app, &bar, "offline").await;
        assert_eq!(listed(&app, &token, "&status=offline").await, [(bar.clone(), json!("offline"))]);
        assert_eq!(listed(&app, &token, "&status=online").await, [(till.clone(), json!("online"))]);
        assert_eq!(
            listed(&app, &token, &format!("&location={front}")).await,
            [(till.clone(), json!("online"))]
        );
        assert!(listed(&app, &token, &format!("&location={front}&status=offline")).await.is_empty());
        let (status, offline) = app
            .get(&format!("/v1/terminal/readers/{bar}?external_account_id=acme"), &token)
            .await;
        assert_eq!((status, &offline["status"]), (200, &json!("offline")));
        network(&app, &bar, "online").await;
        assert_eq!(listed(&app, &token, "&status=offline").await, []);

        // Bad filters: 400 naming the field, no Stripe call.
        let calls = app.stripe_calls().await.len();
        for (query, param) in [("&status=napping", "status"), ("&location=nope", "location")] {
            let (status, error) = app
                .get(&format!("/v1/terminal/readers?external_account_id=acme{query}"), &token)
                .await;
            assert_eq!((status, error["error"]["param"].as_str()), (400, Some(param)), "{error}");
        }
        assert_eq!(app.stripe_calls().await.len(), calls, "no Stripe call for bad input");
    }

    async fn an_offline_reader_refuses_a_sale_and_takes_it_back_online(app) {
        let token = app.merchant("acme", "usd").await;
        let front = location(&app, &token, "Front").await;
        let till = reader(&app, &token, "Till", &front).await;
        let (status, payment) = app
            .post(
                "/v1/payment/intent",
                &token,
                json!({"external_account_id": "acme", "amount": "9.99", "external_transaction_id": "fleet-1"}),
            )
            .await;
        assert_eq!(status, 200, "{payment}");
        let payment_id = payment["id"].as_str().unwrap().to_string();
        let process = json!({"external_account_id": "acme", "payment_id": payment_id});
        network(&app, &till, "offline").await;
        let (status, error) = app
            .post(&format!("/v1/terminal/readers/{till}/process"), &token, process.clone())
            .await;
        assert_eq!((status, error["error"]["code"].as_str()), (409, Some("reader_offline")), "{error}");
        let (status, error) = app
            .post(
                &format!("/v1/terminal/readers/{till}/cancel"),
                &token,
                json!({"external_account_id": "acme"}),
            )
            .await;
        assert_eq!((status, error["error"]["code"].as_str()), (409, Some("reader_offline")), "{error}");
        network(&app, &till, "online").await;
        let (status, taken) = app
            .post(&format!("/v1/terminal/readers/{till}/process"), &token, process)
            .await;
        assert_eq!(status, 200, "{taken}");
        assert_eq!(taken["action"]["status"], "in_progress");
    }

    async fn a_reader_is_renamed_and_deleted(app) {
        let token = app.merchant("acme", "usd").await;
        let front = location(&app, &token, "Front").await;
        let till = reader(&app, &token, "Till", &front).await;
        let path = format!("/v1/terminal/readers/{till}");

        let (status, renamed) = app
            .post(&path, &token, json!({"external_account_id": "acme", "label": "Till by the door"}))
            .await;
        assert_eq!(status, 200, "{renamed}");
        assert_eq!(renamed["label"], "Till by the door");
        assert_eq!(renamed["status"], "online");
        let at_stripe = app.sim_get(&format!("/v1/terminal/readers/{till}")).await;
        assert_eq!(at_stripe["label"], "Till by the door");
        let (_, list) = app.get("/v1/terminal/readers?external_account_id=acme", &token).await;
        assert_eq!(list["data"][0]["label"], "Till by the door");

        // A replay with the same Idempotency-Key answers the same without a second Stripe call.
        let keyed = || {
            app.client
                .post(app.url(&path))
                .bearer_auth(&token)
                .header("Idempotency-Key", "rename-1")
                .json(&json!({"external_account_id": "acme", "label": "Till 2"}))
        };
        let first = app.exchange(keyed()).await;
        assert_eq!(first.status, 200);
        let calls = app.stripe_calls().await.len();
        let again = app.exchange(keyed()).await;
        assert_eq!((again.status, again.json()), (200, first.json()));
        assert_eq!(again.header("Idempotent-Replayed"), "true");
        assert_eq!(app.stripe_calls().await.len(), calls);

        // Bad input: 400 naming the field, no Stripe call.
        let calls = app.stripe_calls().await.len();
        for (body, param) in [
            (json!({"external_account_id": "acme", "label": "Till", "location": front}), "location"),
            (json!({"external_account_id": "acme"}), "label"),
            (json!({"external_account_id": "acme", "label": " "}), "label"),
            (json!({"external_account_id": "acme", "label": "x".repeat(101)}), "label"),
        ] {
            let (status, error) = app.post(&path, &token, body).await;
            assert_eq!((status, error["error"]["param"].as_str()), (400, Some(param)), "{error}");
        }
        let (status, error) = app
            .post("/v1/terminal/readers/nope", &token, json!({"external_account_id": "acme", "label": "x"}))
            .await;
        assert_eq!((status, error["error"]["param"].as_str()), (400, Some("id")), "{error}");
        assert_eq!(app.stripe_calls().await.len(), calls, "no Stripe call for bad input");

        // The reader keeps the location it was registered at; the location cannot go yet.
        let location_path = format!("/v1/terminal/locations/{front}?external_account_id=acme");
        let (status, error) = delete(&app, &token, &location_path).await;
        assert_eq!((status, error["error"]["code"].as_str()), (409, Some("location_has_readers")), "{error}");

        let (status, deleted) = delete(&app, &token, &format!("{path}?external_account_id=acme")).await;
        assert_eq!((status, deleted), (200, json!({"id": till, "deleted": true})));
        let (status, _) = app.get(&format!("{path}?external_account_id=acme"), &token).await;
        assert_eq!(status, 404);
        let at_stripe = app.sim_get(&format!("/v1/terminal/readers/{till}")).await;
        assert_eq!(at_stripe["error"]["code"], "resource_missing");
        assert!(listed(&app, &token, "").await.is_empty());
        let (status, _) = delete(&app, &token, &format!("{path}?external_account_id=acme")).await;
        assert_eq!(status, 404);

        // Now the location goes.
        let (status, deleted) = delete(&app, &token, &location_path).await;
        assert_eq!((status, deleted), (200, json!({"id": front, "deleted": true})));
        let (_, locations) = app.get("/v1/terminal/locations?external_account_id=acme", &token).await;
        assert_eq!(locations["data"], json!([]));
        let at_stripe = app.sim_get(&format!("/v1/terminal/locations/{front}")).await;
        assert_eq!(at_stripe["error"]["code"], "resource_missing");
    }

    async fn a_location_is_renamed_and_moved_down_the_street(app) {
        let token = app.merchant("acme", "usd").await;
        let front = location(&app, &token, "Front").await;
        let path = format!("/v1/terminal/locations/{front}");
        let (status, updated) = app
            .post(&path, &token, json!({"external_account_id": "acme", "display_name": "Front (new)",
                                        "address": {"line1": "3 Main St", "postal_code": "62701"}}))
            .await;
        assert_eq!(status, 200, "{updated}");
        assert_eq!((updated["id"].as_str(), updated["display_name"].as_str()), (Some(front.as_str()), Some("Front (new)")));
        let at_stripe = app.sim_get(&path).await;
        assert_eq!(at_stripe["display_name"], "Front (new)");
        assert_eq!(at_stripe["address"]["line1"], "3 Main St");
        assert_eq!(at_stripe["address"]["postal_code"], "62701");
        assert_eq!(at_stripe["address"]["city"], "Springfield");
        assert_eq!(at_stripe["address"]["country"], "US");
        let (_, locations) = app.get("/v1/terminal/locations?external_account_id=acme", &token).await;
        assert_eq!(locations["data"][0]["display_name"], "Front (new)");

        let calls = app.stripe_calls().await.len();
        for (body, param) in [
            (json!({"external_account_id": "acme", "address": {"country": "FR"}}), "address.country"),
            (json!({"external_account_id": "acme", "display_name": ""}), "display_name"),
            (json!({"external_account_id": "acme", "address": {"line1": "\u{7}"}}), "address.line1"),
            (json!({"external_account_id": "acme"}), "display_name"),
        ] {
            let (status, error) = app.post(&path, &token, body).await;
            assert_eq!((status, error["error"]["param"].as_str()), (400, Some(param)), "{error}");
        }
        assert_eq!(app.stripe_calls().await.len(), calls, "no Stripe call for bad input");
    }

    async fn another_accounts_readers_and_locations_are_404s(app) {
        let token = app.merchant("acme", "usd").await;
        let front = location(&app, &token, "Front").await;
        let till = reader(&app, &token, "Till", &front).await;
        let other = app.merchant("other", "usd").await;
        let calls = app.stripe_calls().await.len();
        let reader_path = format!("/v1/terminal/readers/{till}");
        let location_path = format!("/v1/terminal/locations/{front}");
        let (status, _) = app
            .post(&reader_path, &other, json!({"external_account_id": "other", "label": "Mine"}))
            .await;
        assert_eq!(status, 404);
        let (status, _) = delete(&app, &other, &format!("{reader_path}?external_account_id=other")).await;
        assert_eq!(status, 404);
        let (status, _) = app
            .post(&location_path, &other, json!({"external_account_id": "other", "display_name": "Mine"}))
            .await;
        assert_eq!(status, 404);
        let (status, _) = delete(&app, &other, &format!("{location_path}?external_account_id=other")).await;
        assert_eq!(status, 404);
        let (status, list) = app
            .get(&format!("/v1/terminal/readers?external_account_id=other&location={front}"), &other)
            .await;
        assert_eq!((status, list["data"].clone()), (200, json!([])));
        assert_eq!(app.stripe_calls().await.len(), calls, "nothing reaches Stripe");
        // acme's token cannot act for `other`.
        let (status, _) = app
            .post(&reader_path, &token, json!({"external_account_id": "other", "label": "Mine"}))
            .await;
        assert_eq!(status, 403);
        let at_stripe = app.sim_get(&reader_path).await;
        assert_eq!(at_stripe["label"], "Till");
    }
}
