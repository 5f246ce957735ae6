//! Customers and cards belong to a Stripe account (issue 13): after the merchant changes its
//! connected account or its own Stripe key, a known customer is made anew in the new account (no
//! 502, same `external_customer_id`), and cards saved in the old one are listed as not chargeable
//! and refused with 409 `card_unavailable` without a Stripe call.

use crate::both_backends;
use crate::support::app::{Backend, TestApp};
use serde_json::{json, Value};

const VISA: &str = "4242424242424242";

/// Where the merchant's Stripe calls go: a connected account of the platform, or its own key.
#[derive(Clone, Copy)]
enum Context<'a> {
    Connected(&'a str),
    OwnKey(&'a str),
}

/// A request to the simulator's Stripe API as the merchant in `ctx`.
fn as_merchant(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    ctx: Context,
) -> reqwest::RequestBuilder {
    let request = app.client.request(method, app.sim_url(path));
    match ctx {
        Context::Connected(acct) => request
            .bearer_auth(pos_backend::app::SIMULATOR_KEY)
            .header("Stripe-Account", acct),
        Context::OwnKey(key) => request.bearer_auth(key),
    }
}

async fn stripe_get(app: &TestApp, path: &str, ctx: Context<'_>) -> Value {
    as_merchant(app, reqwest::Method::GET, path, ctx)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn stripe_post(app: &TestApp, path: &str, ctx: Context<'_>, form: &[(&str, &str)]) -> Value {
    let response = as_merchant(app, reqwest::Method::POST, path, ctx)
        .form(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response.json().await.unwrap()
}

/// The Stripe customers in `ctx` made for `customer`.
async fn customers_in(app: &TestApp, ctx: Context<'_>, customer: &str) -> Vec<Value> {
    let list = stripe_get(app, "/v1/customers?limit=100", ctx).await;
    list["data"]
        .as_array()
        .unwrap_or_else(|| panic!("{list}"))
        .iter()
        .filter(|c| c["metadata"]["external_customer_id"] == customer)
        .cloned()
        .collect()
}

async fn set_context(app: &TestApp, ctx: Context<'_>) {
    let body = match ctx {
        Context::Connected(acct) => json!({"stripe_account_id": acct}),
        Context::OwnKey(key) => json!({"stripe_secret_key": key}),
    };
    let (status, account) = app.put_account("acme", body).await;
    assert_eq!(status, 200, "{account}");
    assert!(
        !account.to_string().contains("sk_test_"),
        "no key in {account}"
    );
}

/// A card-present payment for `customer` in `ctx`, tapped with `card` on a reader of that Stripe
/// account and captured; then the card is saved. Returns the saved card.
async fn saved_card(
    app: &TestApp,
    token: &str,
    ctx: Context<'_>,
    tx: &str,
    customer: &str,
) -> Value {
    let (status, intent) = app
        .post(
            "/v1/payment/intent",
            token,
            json!({"external_account_id": "acme", "amount": "10.00",
            "external_transaction_id": tx, "external_customer_id": customer}),
        )
        .await;
    assert_eq!(status, 200, "{intent}");
    let id = intent["id"].as_str().unwrap();
    let reader = stripe_post(
        app,
        "/v1/terminal/readers",
        ctx,
        &[("registration_code", "simulated-wpe"), ("label", "Till")],
    )
    .await;
    let reader = reader["id"].as_str().unwrap();
    stripe_post(
        app,
        &format!("/v1/terminal/readers/{reader}/process_payment_intent"),
        ctx,
        &[
            ("payment_intent", id),
            ("process_config[allow_redisplay]", "limited"),
        ],
    )
    .await;
    stripe_post(
        app,
        &format!("/v1/test_helpers/terminal/readers/{reader}/present_payment_method"),
        ctx,
        &[("card_present[number]", VISA), ("type", "card_present")],
    )
    .await;
    let (status, captured) = app
        .post(
            "/v1/payment/capture",
            token,
            json!({"payment_id": id, "external_account_id": "acme"}),
        )
        .await;
    assert_eq!(status, 200, "{captured}");
    let (status, card) = app
        .post("/v1/customer/card", token, json!({"payment_id": id, "external_customer_id": customer, "external_account_id": "acme"}))
        .await;
    assert_eq!(status, 200, "{card}");
    assert_eq!(card["chargeable"], true, "{card}");
    card
}

fn charge(customer: &str, card: &Value, tx: &str) -> Value {
    json!({"external_account_id": "acme", "external_customer_id": customer, "card_id": card["id"],
        "amount": "3.00", "external_transaction_id": tx})
}

async fn cards(app: &TestApp, token: &str, customer: &str) -> Vec<Value> {
    let (status, list) = app
        .get(
            &format!("/v1/customer/cards?external_account_id=acme&external_customer_id={customer}"),
            token,
        )
        .await;
    assert_eq!(status, 200, "{list}");
    list["data"].as_array().unwrap().clone()
}

/// The whole story in `first`, then in `second`: the customer is made anew, old cards are listed
/// as not chargeable and refused without a Stripe call, the same physical card can be saved again.
async fn moving_to_another_stripe_account(app: TestApp, first: Context<'_>, second: Context<'_>) {
    let token = app.merchant("acme", "usd").await;
    set_context(&app, first).await;
    let customer = "kunde-ü";
    let old_card = saved_card(&app, &token, first, "first-save", customer).await;
    let (status, paid) = app
        .post(
            "/v1/payment/charge",
            &token,
            charge(customer, &old_card, "first-charge"),
        )
        .await;
    assert_eq!(
        (status, paid["status"].as_str()),
        (200, Some("succeeded")),
        "{paid}"
    );
    let old_customer = customers_in(&app, first, customer).await;
    assert_eq!(old_customer.len(), 1);

    set_context(&app, second).await;
    // The old card: listed, not chargeable, refused without asking Stripe.
    let listed = cards(&app, &token, customer).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["chargeable"], false, "{listed:?}");
    app.clear_stripe_calls().await;
    let (status, refused) = app
        .post(
            "/v1/payment/charge",
            &token,
            charge(customer, &old_card, "second-charge"),
        )
        .await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"]["code"], "card_unavailable");
    assert_eq!(refused["error"]["param"], "card_id");
    assert!(app.stripe_calls().await.is_empty(), "no Stripe call");

    // The known customer is made anew in the new account: no 502.
    let (status, intent) = app
        .post(
            "/v1/payment/intent",
            &token,
            json!({"external_account_id": "acme", "amount": "4.00",
            "external_transaction_id": "second-intent", "external_customer_id": customer}),
        )
        .await;
    assert_eq!(status, 200, "{intent}");
    assert_eq!(intent["external_customer_id"], customer);
    let new_customer = customers_in(&app, second, customer).await;
    assert_eq!(new_customer.len(), 1, "one customer in the new account");
    assert_eq!(intent["customer_id"], new_customer[0]["id"]);
    assert_ne!(new_customer[0]["id"], old_customer[0]["id"]);

    // The same physical card saved again in the new account: chargeable; the old one still not.
    let new_card = saved_card(&app, &token, second, "second-save", customer).await;
    assert_ne!(new_card["id"], old_card["id"]);
    let listed = cards(&app, &token, customer).await;
    let chargeable: Vec<(&Value, &Value)> = listed
        .iter()
        .map(|c| (&c["id"], &c["chargeable"]))
        .collect();
    assert_eq!(chargeable.len(), 2, "{listed:?}");
    assert!(
        chargeable.contains(&(&new_card["id"], &json!(true))),
        "{listed:?}"
    );
    assert!(
        chargeable.contains(&(&old_card["id"], &json!(false))),
        "{listed:?}"
    );
    let (status, paid) = app
        .post(
            "/v1/payment/charge",
            &token,
            charge(customer, &new_card, "second-charge"),
        )
        .await;
    assert_eq!(
        (status, paid["status"].as_str()),
        (200, Some("succeeded")),
        "{paid}"
    );
    assert_eq!(
        customers_in(&app, second, customer).await.len(),
        1,
        "still one customer"
    );
}

both_backends! {

async fn a_new_connected_account_gets_its_own_customer_and_cards(app) {
    moving_to_another_stripe_account(app, Context::Connected("acct_First1"), Context::Connected("acct_Second2")).await;
}

async fn a_new_own_key_gets_its_own_customer_and_cards(app) {
    moving_to_another_stripe_account(app, Context::OwnKey("sk_test_merchantOne"), Context::OwnKey("sk_test_merchantTwo")).await;
}

async fn from_the_platform_to_an_own_key(app) {
    let token = app.merchant("acme", "usd").await;
    let (status, first) = app
        .post("/v1/payment/intent", &token, json!({"external_account_id": "acme", "amount": "4.00",
            "external_transaction_id": "on-platform", "external_customer_id": "c1"}))
        .await;
    assert_eq!(status, 200, "{first}");
    set_context(&app, Context::OwnKey("sk_test_ownKey")).await;
    let (status, second) = app
        .post("/v1/payment/intent", &token, json!({"external_account_id": "acme", "amount": "4.00",
            "external_transaction_id": "own-key", "external_customer_id": "c1"}))
        .await;
    assert_eq!(status, 200, "{second}");
    assert_ne!(second["customer_id"], first["customer_id"]);
    assert_eq!(customers_in(&app, Context::OwnKey("sk_test_ownKey"), "c1").await.len(), 1);
    // Changing something else keeps the customer.
    let (status, _) = app.put_account("acme", json!({"display_name": "Acme"})).await;
    assert_eq!(status, 200);
    let (status, third) = app
        .post("/v1/payment/intent", &token, json!({"external_account_id": "acme", "amount": "4.00",
            "external_transaction_id": "own-key-2", "external_customer_id": "c1"}))
        .await;
    assert_eq!(status, 200, "{third}");
    assert_eq!(third["customer_id"], second["customer_id"]);
    assert_eq!(customers_in(&app, Context::OwnKey("sk_test_ownKey"), "c1").await.len(), 1);
}

async fn the_same_card_again_finds_the_one_saved_before_contexts(app) {
    let token = app.merchant("acme", "usd").await;
    set_context(&app, Context::Connected("acct_Same1")).await;
    let first = saved_card(&app, &token, Context::Connected("acct_Same1"), "first-tap", "regular").await;
    // As a card saved before contexts were recorded: no unique index tells the same fingerprint
    // with no context from the same fingerprint in the current one.
    forget_contexts(&app).await;
    let again = saved_card(&app, &token, Context::Connected("acct_Same1"), "second-tap", "regular").await;
    assert_eq!(again["id"], first["id"], "{again}");
    assert_eq!(cards(&app, &token, "regular").await.len(), 1);
}

async fn rows_from_before_contexts_belong_to_the_account_they_were_made_in(app) {
    let token = app.merchant("acme", "usd").await;
    set_context(&app, Context::Connected("acct_Old1")).await;
    let card = saved_card(&app, &token, Context::Connected("acct_Old1"), "old-save", "legacy").await;
    // As rows written before contexts were recorded.
    forget_contexts(&app).await;
    assert_eq!(cards(&app, &token, "legacy").await[0]["chargeable"], true);
    set_context(&app, Context::Connected("acct_New1")).await;
    assert_eq!(cards(&app, &token, "legacy").await[0]["chargeable"], false);
    let (status, refused) = app.post("/v1/payment/charge", &token, charge("legacy", &card, "legacy-charge")).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (409, Some("card_unavailable")), "{refused}");
    let (status, intent) = app
        .post("/v1/payment/intent", &token, json!({"external_account_id": "acme", "amount": "4.00",
            "external_transaction_id": "legacy-intent", "external_customer_id": "legacy"}))
        .await;
    assert_eq!(status, 200, "{intent}");
    assert_eq!(customers_in(&app, Context::Connected("acct_New1"), "legacy").await.len(), 1);
}

}

/// Clears the recorded Stripe context of every customer and card, as on rows written before the
/// column existed.
async fn forget_contexts(app: &TestApp) {
    use diesel::{Connection, RunQueryDsl};
    let (backend, url) = (app.backend, app.database_url.clone());
    tokio::task::spawn_blocking(move || {
        let statements = [
            "UPDATE customers SET stripe_context = NULL",
            "UPDATE cards SET stripe_context = NULL",
        ];
        match backend {
            Backend::Sqlite => {
                let mut conn = diesel::SqliteConnection::establish(&url).unwrap();
                for sql in statements {
                    diesel::sql_query(sql).execute(&mut conn).unwrap();
                }
            }
            Backend::Postgres => {
                let mut conn = diesel::PgConnection::establish(&url).unwrap();
                for sql in statements {
                    diesel::sql_query(sql).execute(&mut conn).unwrap();
                }
            }
        }
    })
    .await
    .unwrap();
}
