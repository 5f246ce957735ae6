//! The simulated Stripe API operations: (method, path template) → handler. The template is also
//! the key of the operation's declared parameters (`params.json`).

use super::error::ApiError;
use super::state::{Ctx, State};
use super::{
    balance, charges, checkout, customers, disputes, events, files, payment_intents,
    payment_methods, payouts, reader_refunds, setup_intents, terminal, terminal_configurations,
    webhook_endpoints,
};
use serde_json::Value;

pub(crate) type Handler = fn(&mut State, &Ctx) -> Result<Value, ApiError>;

pub(crate) struct Route {
    pub method: &'static str,
    pub template: &'static str,
    pub handler: Handler,
}

const fn route(method: &'static str, template: &'static str, handler: Handler) -> Route {
    Route {
        method,
        template,
        handler,
    }
}

/// Literal segments come before `{param}` ones so `/v1/customers/search` is not a customer id.
pub(crate) static ROUTES: &[Route] = &[
    route("POST", "/v1/customers", customers::create),
    route("GET", "/v1/customers", customers::list_all),
    route("GET", "/v1/customers/search", customers::search),
    route("GET", "/v1/customers/{customer}", customers::retrieve),
    route("POST", "/v1/customers/{customer}", customers::update),
    route(
        "GET",
        "/v1/customers/{customer}/payment_methods",
        customers::list_payment_methods,
    ),
    route("POST", "/v1/payment_intents", payment_intents::create),
    route("GET", "/v1/payment_intents", payment_intents::list_all),
    route("GET", "/v1/payment_intents/search", payment_intents::search),
    route(
        "GET",
        "/v1/payment_intents/{intent}",
        payment_intents::retrieve,
    ),
    route(
        "POST",
        "/v1/payment_intents/{intent}",
        payment_intents::update,
    ),
    route(
        "POST",
        "/v1/payment_intents/{intent}/confirm",
        payment_intents::confirm,
    ),
    route(
        "POST",
        "/v1/payment_intents/{intent}/capture",
        payment_intents::capture,
    ),
    route(
        "POST",
        "/v1/payment_intents/{intent}/cancel",
        payment_intents::cancel,
    ),
    route(
        "POST",
        "/v1/payment_intents/{intent}/increment_authorization",
        payment_intents::increment_authorization,
    ),
    route("GET", "/v1/charges/{charge}", charges::retrieve),
    route("POST", "/v1/refunds", charges::create_refund),
    route("GET", "/v1/refunds", charges::list_refunds),
    route("GET", "/v1/refunds/{refund}", charges::retrieve_refund),
    route("GET", "/v1/disputes", disputes::list_all),
    route("GET", "/v1/disputes/{dispute}", disputes::retrieve),
    route("POST", "/v1/disputes/{dispute}", disputes::update),
    route("POST", "/v1/disputes/{dispute}/close", disputes::close),
    route("POST", "/v1/files", files::create),
    route("GET", "/v1/balance_transactions", balance::list_all),
    route("GET", "/v1/balance_transactions/{id}", balance::retrieve),
    route("GET", "/v1/payouts", payouts::list_all),
    route("GET", "/v1/payouts/{payout}", payouts::retrieve),
    route("GET", "/v1/payment_methods", payment_methods::list_all),
    route(
        "GET",
        "/v1/payment_methods/{payment_method}",
        payment_methods::retrieve,
    ),
    route(
        "POST",
        "/v1/payment_methods/{payment_method}/attach",
        payment_methods::attach,
    ),
    route(
        "POST",
        "/v1/payment_methods/{payment_method}/detach",
        payment_methods::detach,
    ),
    route(
        "POST",
        "/v1/terminal/connection_tokens",
        terminal::create_connection_token,
    ),
    route("POST", "/v1/terminal/locations", terminal::create_location),
    route("GET", "/v1/terminal/locations", terminal::list_locations),
    route(
        "GET",
        "/v1/terminal/locations/{location}",
        terminal::retrieve_location,
    ),
    route(
        "POST",
        "/v1/terminal/locations/{location}",
        terminal::update_location,
    ),
    route(
        "DELETE",
        "/v1/terminal/locations/{location}",
        terminal::delete_location,
    ),
    route(
        "POST",
        "/v1/terminal/configurations",
        terminal_configurations::create,
    ),
    route(
        "GET",
        "/v1/terminal/configurations",
        terminal_configurations::list_all,
    ),
    route(
        "GET",
        "/v1/terminal/configurations/{configuration}",
        terminal_configurations::retrieve,
    ),
    route(
        "POST",
        "/v1/terminal/configurations/{configuration}",
        terminal_configurations::update,
    ),
    route(
        "DELETE",
        "/v1/terminal/configurations/{configuration}",
        terminal_configurations::delete,
    ),
    route("POST", "/v1/terminal/readers", terminal::register_reader),
    route("GET", "/v1/terminal/readers", terminal::list_readers),
    route(
        "GET",
        "/v1/terminal/readers/{reader}",
        terminal::retrieve_reader,
    ),
    route(
        "POST",
        "/v1/terminal/readers/{reader}",
        terminal::update_reader,
    ),
    route(
        "DELETE",
        "/v1/terminal/readers/{reader}",
        terminal::delete_reader,
    ),
    route(
        "POST",
        "/v1/terminal/readers/{reader}/process_payment_intent",
        terminal::process_payment_intent,
    ),
    route(
        "POST",
        "/v1/terminal/readers/{reader}/collect_payment_method",
        terminal::collect_payment_method,
    ),
    route(
        "POST",
        "/v1/terminal/readers/{reader}/confirm_payment_intent",
        terminal::confirm_payment_intent,
    ),
    route(
        "POST",
        "/v1/terminal/readers/{reader}/process_setup_intent",
        terminal::process_setup_intent,
    ),
    route(
        "POST",
        "/v1/terminal/readers/{reader}/cancel_action",
        terminal::cancel_action,
    ),
    route(
        "POST",
        "/v1/terminal/readers/{reader}/refund_payment",
        reader_refunds::refund_payment,
    ),
    route(
        "POST",
        "/v1/terminal/readers/{reader}/set_reader_display",
        terminal::set_reader_display,
    ),
    route(
        "POST",
        "/v1/test_helpers/terminal/readers/{reader}/present_payment_method",
        terminal::present_payment_method,
    ),
    route("POST", "/v1/setup_intents", setup_intents::create),
    route("GET", "/v1/setup_intents/{intent}", setup_intents::retrieve),
    route(
        "POST",
        "/v1/setup_intents/{intent}/confirm",
        setup_intents::confirm,
    ),
    route(
        "POST",
        "/v1/setup_intents/{intent}/cancel",
        setup_intents::cancel,
    ),
    route("POST", "/v1/checkout/sessions", checkout::create),
    route("GET", "/v1/checkout/sessions", checkout::list_all),
    route("GET", "/v1/checkout/sessions/{session}", checkout::retrieve),
    route(
        "POST",
        "/v1/checkout/sessions/{session}/expire",
        checkout::expire,
    ),
    route("GET", "/v1/events", events::list_all),
    route("GET", "/v1/events/{id}", events::retrieve),
    route("POST", "/v1/webhook_endpoints", webhook_endpoints::create),
    route("GET", "/v1/webhook_endpoints", webhook_endpoints::list_all),
    route(
        "GET",
        "/v1/webhook_endpoints/{webhook_endpoint}",
        webhook_endpoints::retrieve,
    ),
    route(
        "POST",
        "/v1/webhook_endpoints/{webhook_endpoint}",
        webhook_endpoints::update,
    ),
    route(
        "DELETE",
        "/v1/webhook_endpoints/{webhook_endpoint}",
        webhook_endpoints::delete,
    ),
];

impl Route {
    /// The key of this operation's declared parameters.
    pub fn operation(&self) -> String {
        format!("{} {}", self.method, self.template)
    }
}

/// Matches `path` against a template; returns the `{…}` values.
fn match_template(template: &str, path: &str) -> Option<Vec<String>> {
    let t: Vec<&str> = template.trim_matches('/').split('/').collect();
    let p: Vec<&str> = path
        .trim_end_matches('/')
        .trim_start_matches('/')
        .split('/')
        .collect();
    if t.len() != p.len() {
        return None;
    }
    let mut values = Vec::new();
    for (ts, ps) in t.iter().zip(&p) {
        if ts.starts_with('{') {
            if ps.is_empty() {
                return None;
            }
            values.push(ps.to_string());
        } else if ts != ps {
            return None;
        }
    }
    Some(values)
}

/// The route for a request, or Stripe's "Unrecognized request URL" 404.
pub(crate) fn find(method: &str, path: &str) -> Result<(&'static Route, Vec<String>), ApiError> {
    ROUTES
        .iter()
        .filter(|r| r.method == method)
        .find_map(|r| match_template(r.template, path).map(|v| (r, v)))
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/."
            ))
            .with_status(404)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_has_declared_parameters() {
        for r in ROUTES {
            super::super::params::operation(&r.operation());
        }
    }

    #[test]
    fn literal_segments_win() {
        let (r, v) = find("GET", "/v1/customers/search").unwrap();
        assert_eq!(r.template, "/v1/customers/search");
        assert!(v.is_empty());
        let (r, v) = find("POST", "/v1/payment_intents/pi_1/capture").unwrap();
        assert_eq!(r.template, "/v1/payment_intents/{intent}/capture");
        assert_eq!(v, ["pi_1"]);
        let (r, v) = find("DELETE", "/v1/webhook_endpoints/we_1").unwrap();
        assert_eq!(r.template, "/v1/webhook_endpoints/{webhook_endpoint}");
        assert_eq!(v, ["we_1"]);
        assert_eq!(
            find("DELETE", "/v1/customers/cus_1")
                .err()
                .map(|e| e.status),
            Some(404)
        );
    }
}
