//! Wire protocol: authentication, form bodies, parameter validation, expand, headers, errors,
//! account namespaces.

use crate::{id, start, KEY};
use serde_json::json;

#[tokio::test]
async fn authentication_bearer_basic_and_401() {
    let sim = start().await;
    let url = format!("{}/v1/customers", sim.base);
    let none = sim.send(sim.http.post(&url).form(&[("name", "x")])).await;
    assert_eq!(none.status, 401);
    assert_eq!(none.body["error"]["type"], "invalid_request_error");
    let live = sim
        .send(
            sim.http
                .post(&url)
                .bearer_auth("sk_live_abc")
                .form(&[("name", "x")]),
        )
        .await;
    assert_eq!(live.status, 401);
    assert!(live.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Invalid API Key"));
    let basic = sim
        .send(
            sim.http
                .post(&url)
                .basic_auth(KEY, Some(""))
                .form(&[("name", "x")]),
        )
        .await;
    assert_eq!(basic.status, 200);
    assert_eq!(basic.body["object"], "customer");
    assert!(basic.header("Request-Id").unwrap().starts_with("req_"));
    assert!(basic.header("Stripe-Version").is_some());
}

#[tokio::test]
async fn json_bodies_are_rejected() {
    let sim = start().await;
    let a = sim
        .send(
            sim.http
                .post(format!("{}/v1/payment_intents", sim.base))
                .bearer_auth(KEY)
                .json(&json!({"amount": 1299, "currency": "usd"})),
        )
        .await;
    assert_eq!(a.status, 400);
    assert_eq!(a.body["error"]["type"], "invalid_request_error");
    assert!(a.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("form-encoded"));
}

#[tokio::test]
async fn unknown_and_invalid_parameters_name_the_param() {
    let sim = start().await;
    let a = sim
        .post(
            "/v1/payment_intents",
            &[("amount", "1299"), ("currency", "usd"), ("amout", "1")],
        )
        .await;
    assert_eq!(a.status, 400);
    assert_eq!(a.code(), "parameter_unknown");
    assert_eq!(a.body["error"]["param"], "amout");
    let a = sim
        .post(
            "/v1/customers",
            &[("metadata[a]", "1"), ("address[planet]", "mars")],
        )
        .await;
    assert_eq!(a.body["error"]["param"], "address[planet]");
    let a = sim.get("/v1/events", &[("typ", "x")]).await;
    assert_eq!((a.status, a.code()), (400, "parameter_unknown"));
    let a = sim
        .post(
            "/v1/payment_intents",
            &[("amount", "12.99"), ("currency", "usd")],
        )
        .await;
    assert_eq!((a.status, a.code()), (400, "parameter_invalid_integer"));
    assert_eq!(a.body["error"]["param"], "amount");
    let a = sim
        .post("/v1/payment_intents", &[("currency", "usd")])
        .await;
    assert_eq!((a.status, a.code()), (400, "parameter_missing"));
    assert_eq!(a.body["error"]["param"], "amount");
    let a = sim
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "100"),
                ("currency", "usd"),
                ("capture_method", "later"),
            ],
        )
        .await;
    assert_eq!(a.body["error"]["param"], "capture_method");
    // Nothing of that reached the object store.
    assert!(sim.get("/v1/payment_intents", &[]).await.ok()["data"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn both_array_syntaxes() {
    let sim = start().await;
    let a = sim
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "1299"),
                ("currency", "cad"),
                ("allowed_payment_method_types[]", "card_present"),
                ("allowed_payment_method_types[]", "interac_present"),
            ],
        )
        .await
        .ok();
    let b = sim
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "1299"),
                ("currency", "cad"),
                ("allowed_payment_method_types[0]", "card_present"),
                ("allowed_payment_method_types[1]", "interac_present"),
            ],
        )
        .await
        .ok();
    let expected = json!(["card_present", "interac_present"]);
    assert_eq!(a["payment_method_types"], expected);
    assert_eq!(b["payment_method_types"], expected);
}

#[tokio::test]
async fn amount_rules() {
    let sim = start().await;
    let small = sim
        .post(
            "/v1/payment_intents",
            &[("amount", "49"), ("currency", "usd")],
        )
        .await;
    assert_eq!((small.status, small.code()), (400, "amount_too_small"));
    assert_eq!(small.body["error"]["param"], "amount");
    let large = sim
        .post(
            "/v1/payment_intents",
            &[("amount", "100000000"), ("currency", "usd")],
        )
        .await;
    assert_eq!((large.status, large.code()), (400, "amount_too_large"));
    sim.post(
        "/v1/payment_intents",
        &[("amount", "99999999"), ("currency", "usd")],
    )
    .await
    .ok();
    sim.post(
        "/v1/payment_intents",
        &[("amount", "50"), ("currency", "jpy")],
    )
    .await
    .ok();
    let jpy = sim
        .post(
            "/v1/payment_intents",
            &[("amount", "49"), ("currency", "jpy")],
        )
        .await;
    assert_eq!(jpy.code(), "amount_too_small");
    let bad = sim
        .post(
            "/v1/payment_intents",
            &[("amount", "100"), ("currency", "xyz")],
        )
        .await;
    assert_eq!(bad.body["error"]["param"], "currency");
}

#[tokio::test]
async fn unknown_paths_get_stripe_404() {
    let sim = start().await;
    let a = sim.get("/v1/nothing", &[]).await;
    assert_eq!(a.status, 404);
    assert!(a.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Unrecognized request URL"));
    let a = sim.get("/v1/customers/cus_missing", &[]).await;
    assert_eq!((a.status, a.code()), (404, "resource_missing"));
}

#[tokio::test]
async fn expand_on_get_and_post_and_lists() {
    let sim = start().await;
    let customer = sim.customer("c1").await;
    let pi = sim
        .intent(&[
            ("customer", id(&customer)),
            ("setup_future_usage", "off_session"),
        ])
        .await;
    let (_, after) = sim.pay_at_reader(id(&pi), "4242424242424242").await;
    assert_eq!(after["latest_charge"]["object"], "charge");
    let charge_id = after["latest_charge"]["id"].as_str().unwrap();
    let deep = sim
        .get(
            &format!("/v1/payment_intents/{}", id(&pi)),
            &[
                ("expand[]", "latest_charge.payment_method_details"),
                ("expand[]", "customer"),
            ],
        )
        .await
        .ok();
    assert_eq!(deep["customer"]["object"], "customer");
    assert_eq!(
        deep["latest_charge"]["payment_method_details"]["type"],
        "card_present"
    );
    let captured = sim
        .post(
            &format!("/v1/payment_intents/{}/capture", id(&pi)),
            &[("expand[]", "latest_charge")],
        )
        .await
        .ok();
    assert_eq!(captured["latest_charge"]["id"], charge_id);
    assert_eq!(captured["latest_charge"]["captured"], true);
    let listed = sim
        .get(
            "/v1/payment_intents",
            &[("expand[]", "data.customer"), ("limit", "1")],
        )
        .await
        .ok();
    assert_eq!(listed["data"][0]["customer"]["id"], id(&customer));
    let bad = sim
        .get(
            &format!("/v1/payment_intents/{}", id(&pi)),
            &[("expand[]", "status")],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["error"]["param"], "expand");
    // Only the spec's expandable fields: a field that holds an id but is not expandable (the
    // object's own `id`, a charge's `payment_intent` is, a PaymentIntent's `id` is not) is a 400.
    for (path, not) in [
        (format!("/v1/payment_intents/{}", id(&pi)), "id"),
        (format!("/v1/charges/{charge_id}"), "payment_method"),
        (format!("/v1/charges/{charge_id}"), "payment_intent.id"),
    ] {
        let refused = sim.get(&path, &[("expand[]", not)]).await;
        assert_eq!(
            refused.status, 400,
            "{path} expand[]={not}: {}",
            refused.body
        );
        assert_eq!(
            refused.body["error"]["message"],
            format!("This property cannot be expanded ({not}).")
        );
    }
    let charge = sim
        .get(
            &format!("/v1/charges/{charge_id}"),
            &[("expand[]", "payment_intent.customer")],
        )
        .await
        .ok();
    assert_eq!(charge["payment_intent"]["customer"]["id"], id(&customer));
}

#[tokio::test]
async fn stripe_account_namespaces_are_isolated() {
    let sim = start().await;
    let a = sim.as_account("acct_A");
    let b = sim.as_account("acct_B");
    let customer = a.customer("shared-id").await;
    assert_eq!(
        a.get(&format!("/v1/customers/{}", id(&customer)), &[])
            .await
            .status,
        200
    );
    let other = b
        .get(&format!("/v1/customers/{}", id(&customer)), &[])
        .await;
    assert_eq!((other.status, other.code()), (404, "resource_missing"));
    let platform = sim
        .get(&format!("/v1/customers/{}", id(&customer)), &[])
        .await;
    assert_eq!(platform.status, 404);
    let search = b
        .get(
            "/v1/customers/search",
            &[("query", "metadata['external_customer_id']:'shared-id'")],
        )
        .await
        .ok();
    assert!(search["data"].as_array().unwrap().is_empty());
    // Using another account's customer on an intent is refused too.
    let pi = b
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "1299"),
                ("currency", "usd"),
                ("customer", id(&customer)),
            ],
        )
        .await;
    assert_eq!((pi.status, pi.code()), (400, "resource_missing"));
    // Events created under Stripe-Account carry `account`.
    let events = a
        .get("/v1/events", &[("type", "customer.created")])
        .await
        .ok();
    assert_eq!(events["data"][0]["account"], "acct_A");
    let platform_events = sim.get("/v1/events", &[]).await.ok();
    assert!(platform_events["data"].as_array().unwrap().is_empty());
    let bad = sim
        .as_account("not-an-account")
        .get("/v1/events", &[])
        .await;
    assert_eq!(bad.status, 403);
}

#[tokio::test]
async fn customers_update_and_search() {
    let sim = start().await;
    let c1 = sim.customer("ext-1").await;
    sim.customer("ext-2").await;
    let updated = sim
        .post(
            &format!("/v1/customers/{}", id(&c1)),
            &[("email", "a@example.com"), ("metadata[tier]", "gold")],
        )
        .await
        .ok();
    assert_eq!(updated["email"], "a@example.com");
    assert_eq!(
        updated["metadata"],
        json!({"external_customer_id": "ext-1", "tier": "gold"})
    );
    let found = sim
        .get(
            "/v1/customers/search",
            &[(
                "query",
                "metadata['external_customer_id']:'ext-1' AND metadata['tier']:'gold'",
            )],
        )
        .await
        .ok();
    assert_eq!(found["object"], "search_result");
    assert_eq!(found["data"].as_array().unwrap().len(), 1);
    assert_eq!(found["data"][0]["id"], id(&c1));
    let none = sim
        .get(
            "/v1/customers/search",
            &[(
                "query",
                "metadata['external_customer_id']:'ext-2' AND metadata['tier']:'gold'",
            )],
        )
        .await
        .ok();
    assert!(none["data"].as_array().unwrap().is_empty());
    let bad = sim
        .get("/v1/customers/search", &[("query", "metadata[x")])
        .await;
    assert_eq!(
        (bad.status, bad.body["error"]["param"].as_str()),
        (400, Some("query"))
    );
    let removed = sim
        .post(
            &format!("/v1/customers/{}", id(&c1)),
            &[("metadata[tier]", "")],
        )
        .await
        .ok();
    assert_eq!(
        removed["metadata"],
        json!({"external_customer_id": "ext-1"})
    );
}
