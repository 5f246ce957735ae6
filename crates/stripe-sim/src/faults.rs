//! Fault injection: added latency, 5xx, 429 and 400 responses, responses that hang after the request
//! was processed, and dropped webhooks, per method and path pattern, optionally for the next N
//! matching requests only.

use super::error::ApiError;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// One fault rule, as given to `POST /_sim/faults` or `SimConfig::faults`.
///
/// `path` is a prefix pattern where `*` matches any run of characters
/// (`/v1/payment_intents/*/capture`). A rule with `drop_webhooks` applies to webhook delivery
/// only: it drops events whose type matches `path` (`payment_intent.*`) or that were caused by a
/// request whose path matches it. Every other rule applies to API requests (not `/_sim`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default)]
    pub path: String,
    /// Delay before the request is processed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// Probability (0..=1) of answering with a 5xx `api_error` and `Stripe-Should-Retry: true`
    /// instead of processing the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_rate: Option<f64>,
    /// Status for `error_rate` failures: 500 (default), 502, 503 or 504; or 400, an
    /// `invalid_request_error` (`Stripe-Should-Retry: false`), as if the request were malformed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_status: Option<u16>,
    /// Probability (0..=1) of answering 429 `rate_limit` instead of processing the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_rate: Option<f64>,
    /// The request is processed (objects created, idempotent result stored), then the response
    /// is held back this long: the client times out, a retry gets the stored result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hang_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop_webhooks: Option<bool>,
    /// Apply to the next N matching requests (or events), then expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
}

impl FaultRule {
    /// Rejects impossible rules with a message for the 400 answer.
    pub(crate) fn validate(&self) -> Result<(), ApiError> {
        for (name, rate) in [
            ("error_rate", self.error_rate),
            ("rate_limit_rate", self.rate_limit_rate),
        ] {
            if rate.is_some_and(|r| !(0.0..=1.0).contains(&r)) {
                return Err(
                    ApiError::invalid(format!("{name} must be between 0 and 1")).with_param(name)
                );
            }
        }
        if self
            .error_status
            .is_some_and(|s| ![400, 500, 502, 503, 504].contains(&s))
        {
            return Err(
                ApiError::invalid("error_status must be 400, 500, 502, 503 or 504")
                    .with_param("error_status"),
            );
        }
        if self.times == Some(0) {
            return Err(ApiError::invalid("times must be at least 1").with_param("times"));
        }
        Ok(())
    }

    fn drops_webhooks(&self) -> bool {
        self.drop_webhooks == Some(true)
    }

    fn method_matches(&self, method: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
    }
}

/// Whether `pattern` (with `*` wildcards) matches the whole of `text`.
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            backtrack = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((bp, bt)) = backtrack {
            pi = bp + 1;
            ti = bt + 1;
            backtrack = Some((bp, bt + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Whether `pattern` matches `text` or a prefix of it.
pub(crate) fn prefix_match(pattern: &str, text: &str) -> bool {
    glob_match(&format!("{pattern}*"), text)
}

/// What the active rules do to one request.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Effects {
    pub latency_ms: u64,
    pub error_status: Option<u16>,
    pub rate_limited: bool,
    pub hang_ms: u64,
}

impl Effects {
    /// The failure to answer instead of processing, if any.
    pub fn failure(&self) -> Option<ApiError> {
        if self.error_status == Some(400) {
            let mut error =
                ApiError::invalid("Invalid request (injected by the simulator's fault rules).")
                    .with_code("parameter_invalid_empty");
            error.should_retry = Some(false);
            return Some(error);
        }
        if let Some(status) = self.error_status {
            return Some(ApiError::server_error(
                status,
                "An unknown error occurred (injected by the simulator's fault rules).",
            ));
        }
        if self.rate_limited {
            let mut error = ApiError::invalid(
                "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
            )
            .with_code("rate_limit")
            .with_status(429);
            error.should_retry = Some(true);
            return Some(error);
        }
        None
    }
}

#[derive(Debug, Clone)]
struct Active {
    rule: FaultRule,
    remaining: Option<u32>,
}

/// The active fault rules.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    rules: Vec<Active>,
}

impl Faults {
    pub fn add(&mut self, rule: FaultRule) {
        self.rules.push(Active {
            remaining: rule.times,
            rule,
        });
    }

    pub fn clear(&mut self) {
        self.rules.clear();
    }

    /// The rules still active, with `times` showing what is left.
    pub fn list(&self) -> Vec<FaultRule> {
        self.rules
            .iter()
            .map(|a| FaultRule {
                times: a.remaining,
                ..a.rule.clone()
            })
            .collect()
    }

    /// Consumes one use of every request rule matching this request and combines their effects.
    pub fn on_request(&mut self, method: &str, path: &str) -> Effects {
        let mut effects = Effects::default();
        let mut rng = rand::thread_rng();
        for active in &mut self.rules {
            let rule = &active.rule;
            if rule.drops_webhooks()
                || !rule.method_matches(method)
                || !prefix_match(&rule.path, path)
            {
                continue;
            }
            if let Some(n) = active.remaining.as_mut() {
                *n -= 1;
            }
            effects.latency_ms += rule.latency_ms.unwrap_or(0);
            effects.hang_ms += rule.hang_ms.unwrap_or(0);
            if effects.error_status.is_none()
                && rule.error_rate.is_some_and(|r| rng.gen::<f64>() < r)
            {
                effects.error_status = Some(rule.error_status.unwrap_or(500));
            }
            if rule.rate_limit_rate.is_some_and(|r| rng.gen::<f64>() < r) {
                effects.rate_limited = true;
            }
        }
        self.rules.retain(|a| a.remaining != Some(0));
        effects
    }

    /// Whether an event is to be dropped (consumes one use of the matching rule).
    pub fn drop_event(&mut self, event_type: &str, source_method: &str, source_path: &str) -> bool {
        let hit = self.rules.iter_mut().find(|a| {
            let rule = &a.rule;
            rule.drops_webhooks()
                && (glob_match(&rule.path, event_type)
                    || (rule.method_matches(source_method)
                        && prefix_match(&rule.path, source_path)))
        });
        let Some(active) = hit else {
            return false;
        };
        if let Some(n) = active.remaining.as_mut() {
            *n -= 1;
        }
        self.rules.retain(|a| a.remaining != Some(0));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(prefix_match(
            "/v1/payment_intents",
            "/v1/payment_intents/pi_1/capture"
        ));
        assert!(prefix_match(
            "/v1/payment_intents/*/capture",
            "/v1/payment_intents/pi_1/capture"
        ));
        assert!(!prefix_match(
            "/v1/payment_intents/*/capture",
            "/v1/payment_intents/pi_1/cancel"
        ));
        assert!(prefix_match("", "/v1/customers"));
        assert!(glob_match("payment_intent.*", "payment_intent.succeeded"));
        assert!(!glob_match("payment_intent.*", "charge.succeeded"));
    }

    #[test]
    fn times_expire_rules() {
        let mut faults = Faults::default();
        faults.add(FaultRule {
            method: Some("post".into()),
            path: "/v1/customers".into(),
            error_rate: Some(1.0),
            times: Some(2),
            ..Default::default()
        });
        assert_eq!(faults.on_request("GET", "/v1/customers").error_status, None);
        assert_eq!(
            faults.on_request("POST", "/v1/customers").error_status,
            Some(500)
        );
        assert_eq!(
            faults.on_request("POST", "/v1/customers").error_status,
            Some(500)
        );
        assert_eq!(
            faults.on_request("POST", "/v1/customers").error_status,
            None
        );
        assert!(faults.list().is_empty());
    }

    #[test]
    fn dropped_webhooks_by_type_or_source() {
        let mut faults = Faults::default();
        faults.add(FaultRule {
            path: "charge.*".into(),
            drop_webhooks: Some(true),
            times: Some(1),
            ..Default::default()
        });
        assert!(!faults.drop_event("payment_intent.created", "POST", "/v1/payment_intents"));
        assert_eq!(faults.on_request("POST", "/v1/charges").error_status, None);
        assert!(faults.drop_event("charge.succeeded", "POST", "/v1/x"));
        assert!(!faults.drop_event("charge.succeeded", "POST", "/v1/x"));
    }
}
