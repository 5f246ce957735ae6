//! A standalone Stripe simulator on an ephemeral port (`start`, `start_with`), driven with raw
//! form-encoded HTTP requests exactly as a Stripe client would send them; every answer is checked
//! against Stripe's API at the pinned version (`conforms`).

use reqwest::header::HeaderMap;
use serde_json::Value;
use std::net::TcpListener;
use stripe_sim::{serve, FaultRule, SimConfig, Simulator};

pub const KEY: &str = "sk_test_simulator";

/// A running simulator and a client for it.
pub struct Sim {
    pub base: String,
    pub http: reqwest::Client,
    /// `Stripe-Account` sent with every request, when set.
    pub account: Option<String>,
}

/// One answer: status, JSON body, headers.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub headers: HeaderMap,
}

impl Answer {
    /// `error.code` of an error answer.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body, asserting a 200.
    pub fn ok(self) -> Value {
        assert_eq!(
            self.status, 200,
            "expected 200, got {}: {:#}",
            self.status, self.body
        );
        self.body
    }
}

pub async fn start() -> Sim {
    start_with(SimConfig {
        webhook_url: None,
        webhook_secret: "whsec_test_secret".into(),
        faults: Vec::<FaultRule>::new(),
        ..Default::default()
    })
    .await
}

pub async fn start_with(config: SimConfig) -> Sim {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(serve(listener, Simulator::new(config)));
    Sim {
        base: format!("http://127.0.0.1:{port}"),
        http: reqwest::Client::new(),
        account: None,
    }
}

impl Sim {
    /// The same simulator, acting for connected account `acct`.
    pub fn as_account(&self, acct: &str) -> Sim {
        Sim {
            base: self.base.clone(),
            http: self.http.clone(),
            account: Some(acct.to_string()),
        }
    }

    pub fn builder(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut b = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(KEY);
        if let Some(acct) = &self.account {
            b = b.header("Stripe-Account", acct);
        }
        b
    }

    pub async fn send(&self, builder: reqwest::RequestBuilder) -> Answer {
        let response = builder.send().await.expect("simulator answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer {
            status,
            body,
            headers,
        }
    }

    /// A form-encoded POST.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Answer {
        let answer = self
            .send(self.builder(reqwest::Method::POST, path).form(form))
            .await;
        conforms("POST", path, answer)
    }

    /// A form-encoded POST with an Idempotency-Key.
    pub async fn post_idem(&self, path: &str, key: &str, form: &[(&str, &str)]) -> Answer {
        let answer = self
            .send(
                self.builder(reqwest::Method::POST, path)
                    .header("Idempotency-Key", key)
                    .form(form),
            )
            .await;
        conforms("POST", path, answer)
    }

    pub async fn delete(&self, path: &str) -> Answer {
        let answer = self.send(self.builder(reqwest::Method::DELETE, path)).await;
        conforms("DELETE", path, answer)
    }

    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> Answer {
        let answer = self
            .send(self.builder(reqwest::Method::GET, path).query(query))
            .await;
        conforms("GET", path, answer)
    }

    /// A JSON request to a `/_sim` endpoint.
    pub async fn sim(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Answer {
        let mut b = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            b = b.json(&body);
        }
        self.send(b).await
    }

    pub async fn fault(&self, rule: Value) {
        let a = self
            .sim(reqwest::Method::POST, "/_sim/faults", Some(rule))
            .await;
        assert_eq!(a.status, 200, "{:#}", a.body);
    }

    /// The request log.
    pub async fn requests(&self) -> Vec<Value> {
        self.sim(reqwest::Method::GET, "/_sim/requests", None)
            .await
            .ok()["data"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// A card-present PaymentIntent (manual capture by default).
    pub async fn intent(&self, extra: &[(&str, &str)]) -> Value {
        let mut form = vec![
            ("amount", "1299"),
            ("currency", "usd"),
            ("allowed_payment_method_types[]", "card_present"),
            ("capture_method", "manual"),
        ];
        form.extend_from_slice(extra);
        self.post("/v1/payment_intents", &form).await.ok()
    }

    pub async fn customer(&self, external_id: &str) -> Value {
        self.post(
            "/v1/customers",
            &[("metadata[external_customer_id]", external_id)],
        )
        .await
        .ok()
    }

    pub async fn reader(&self) -> Value {
        self.post(
            "/v1/terminal/readers",
            &[("registration_code", "simulated-wpe"), ("label", "Till 1")],
        )
        .await
        .ok()
    }

    /// Hands `pi` to a new reader and presents `card`; returns the reader and the intent after.
    /// An intent that saves the card (`setup_future_usage`) goes with the consent Stripe requires,
    /// `process_config[allow_redisplay]=limited`.
    pub async fn pay_at_reader(&self, pi: &str, card: &str) -> (Value, Value) {
        let reader = self.reader().await;
        let rid = reader["id"].as_str().unwrap();
        let saves_card = !self
            .get(&format!("/v1/payment_intents/{pi}"), &[])
            .await
            .ok()["setup_future_usage"]
            .is_null();
        let mut params = vec![("payment_intent", pi)];
        if saves_card {
            params.push(("process_config[allow_redisplay]", "limited"));
        }
        self.post(
            &format!("/v1/terminal/readers/{rid}/process_payment_intent"),
            &params,
        )
        .await
        .ok();
        let reader = self
            .post(
                &format!("/v1/test_helpers/terminal/readers/{rid}/present_payment_method"),
                &[("card_present[number]", card)],
            )
            .await
            .ok();
        let intent = self
            .get(
                &format!("/v1/payment_intents/{pi}"),
                &[("expand[]", "latest_charge")],
            )
            .await
            .ok();
        (reader, intent)
    }
}

/// For tests of our Stripe client against the simulator.
impl Sim {
    /// Our Stripe client against this simulator.
    pub fn client(
        &self,
        timeout: std::time::Duration,
        max_retries: u32,
        backoff: std::time::Duration,
    ) -> stripe_client::StripeClient {
        stripe_client::StripeClient::new(stripe_client::StripeConfig {
            api_base: self.base.clone(),
            timeout,
            max_retries,
            initial_backoff: backoff,
            max_backoff: backoff * 4,
        })
        .unwrap()
    }

    /// Log entries for one method and path.
    pub async fn calls(&self, method: &str, path: &str) -> Vec<Value> {
        self.requests()
            .await
            .into_iter()
            .filter(|r| r["method"] == method && r["path"] == path)
            .collect()
    }

    /// Pays an open Checkout Session on the simulated hosted page.
    pub async fn complete_checkout(&self, session: &str) {
        let answer = self
            .sim(
                reqwest::Method::POST,
                &format!("/_sim/checkout/{session}/complete"),
                Some(serde_json::json!({"card_number": "4242424242424242"})),
            )
            .await;
        assert_eq!(answer.status, 200, "{:#}", answer.body);
    }
}

/// Every answer of every test conforms to Stripe's API at the pinned version: a 200 to its
/// operation's response schema, an error to the error envelope (`conformance/schemas/stripe.json`).
pub fn conforms(method: &str, path: &str, answer: Answer) -> Answer {
    let path = path.split('?').next().unwrap_or(path);
    let checked = if answer.status == 200 {
        super::spec::match_path(method, path)
            .map(|template| super::spec::validate_response(method, &template, &answer.body))
    } else if answer.status >= 400 && answer.body.get("error").is_some() {
        Some(super::spec::validate_component("error", &answer.body))
    } else {
        None
    };
    if let Some(Err(errors)) = checked {
        panic!(
            "{method} {path} ({}) does not conform:\n  {}\n{:#}",
            answer.status,
            errors.join("\n  "),
            answer.body
        );
    }
    answer
}

/// `id` of an object.
pub fn id(v: &Value) -> &str {
    v["id"].as_str().expect("object has an id")
}
