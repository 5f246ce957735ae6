//! The client's typed enums name only values Stripe documents at the pinned API version
//! (`conformance/schemas/stripe.json`): a value Stripe dropped or renamed (`ui_mode=hosted`) fails
//! here instead of at Stripe.

use crate::spec;
use stripe_client::*;

/// Every value is one the schema lists for `definition`'s `path`.
fn all_documented(definition: &str, path: &str, values: &[&str]) {
    let documented = spec::enum_values(definition, path);
    assert!(!documented.is_empty(), "{definition} {path}: no enum");
    for value in values {
        assert!(
            documented.iter().any(|d| d == value),
            "{definition} {path}: {value} is not one of {documented:?}"
        );
    }
}

#[test]
fn typed_enums_are_stripes() {
    let check = |definition: &str, path: &str, values: Vec<String>| {
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        all_documented(definition, path, &values);
    };
    let s = |v: &dyn std::fmt::Display| v.to_string();
    let pi = "PaymentIntents:PaymentIntent";
    use PaymentIntentStatus as P;
    check(
        pi,
        "status",
        [
            P::RequiresPaymentMethod,
            P::RequiresConfirmation,
            P::RequiresAction,
            P::Processing,
            P::RequiresCapture,
            P::Canceled,
            P::Succeeded,
        ]
        .iter()
        .map(|v| s(v))
        .collect(),
    );
    check(
        pi,
        "capture_method",
        vec![
            s(&CaptureMethod::Automatic),
            s(&CaptureMethod::AutomaticAsync),
            s(&CaptureMethod::Manual),
        ],
    );
    check(
        pi,
        "setup_future_usage",
        vec![
            s(&SetupFutureUsage::OffSession),
            s(&SetupFutureUsage::OnSession),
        ],
    );
    use CancellationReason as C;
    check(
        pi,
        "cancellation_reason",
        [
            C::Abandoned,
            C::Duplicate,
            C::Fraudulent,
            C::RequestedByCustomer,
            C::Automatic,
            C::Expired,
            C::FailedInvoice,
            C::VoidInvoice,
        ]
        .iter()
        .map(|v| s(v))
        .collect(),
    );
    check(
        "Charges:Charge",
        "status",
        vec![
            s(&ChargeStatus::Succeeded),
            s(&ChargeStatus::Pending),
            s(&ChargeStatus::Failed),
        ],
    );
    let session = "Checkout.Sessions:Session";
    check(
        session,
        "mode",
        vec![
            s(&CheckoutMode::Payment),
            s(&CheckoutMode::Setup),
            s(&CheckoutMode::Subscription),
        ],
    );
    check(
        session,
        "status",
        vec![
            s(&CheckoutSessionStatus::Open),
            s(&CheckoutSessionStatus::Complete),
            s(&CheckoutSessionStatus::Expired),
        ],
    );
    check(
        session,
        "payment_status",
        vec![
            s(&CheckoutPaymentStatus::Paid),
            s(&CheckoutPaymentStatus::Unpaid),
            s(&CheckoutPaymentStatus::NoPaymentRequired),
        ],
    );
    // Our `hosted`/`embedded` travel as Stripe's names.
    check(
        session,
        "ui_mode",
        vec![
            UiMode::Hosted.wire().to_string(),
            UiMode::Embedded.wire().to_string(),
        ],
    );
    // A Refund's `status` is a plain string in the declarations: nothing to check it against.
    check(
        "Refunds:RefundCreateParams",
        "reason",
        vec![
            s(&RefundReason::Duplicate),
            s(&RefundReason::Fraudulent),
            s(&RefundReason::RequestedByCustomer),
        ],
    );
    check(
        "Refunds:Refund",
        "reason",
        vec![s(&RefundReason::ExpiredUncapturedCharge)],
    );
    use SetupIntentStatus as S;
    check(
        "SetupIntents:SetupIntent",
        "status",
        [
            S::RequiresPaymentMethod,
            S::RequiresConfirmation,
            S::RequiresAction,
            S::Processing,
            S::Canceled,
            S::Succeeded,
        ]
        .iter()
        .map(|v| s(v))
        .collect(),
    );
    check(
        "PaymentMethods:PaymentMethod",
        "type",
        vec![
            s(&PaymentMethodType::Card),
            s(&PaymentMethodType::CardPresent),
            s(&PaymentMethodType::InteracPresent),
        ],
    );
    let reader = "Terminal.Readers:Reader";
    check(
        reader,
        "action.type",
        [
            ReaderActionType::ProcessPaymentIntent,
            ReaderActionType::ProcessSetupIntent,
            ReaderActionType::RefundPayment,
            ReaderActionType::SetReaderDisplay,
        ]
        .iter()
        .map(|v| s(v))
        .collect(),
    );
    check(
        reader,
        "action.status",
        vec![
            s(&ReaderActionStatus::InProgress),
            s(&ReaderActionStatus::Succeeded),
            s(&ReaderActionStatus::Failed),
        ],
    );
    check(
        "Terminal.Readers:Terminal.ReaderProcessPaymentIntentParams",
        "process_config.allow_redisplay",
        [
            AllowRedisplay::Always,
            AllowRedisplay::Limited,
            AllowRedisplay::Unspecified,
        ]
        .iter()
        .map(|v| v.as_str().to_string())
        .collect(),
    );
}

#[test]
fn error_types_are_stripes() {
    let documented: Vec<String> = spec::spec()["error"]["properties"]["error"]["properties"]
        ["type"]["enum"]
        .as_array()
        .expect("error type enum")
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    for kind in [
        ErrorType::ApiError,
        ErrorType::CardError,
        ErrorType::IdempotencyError,
        ErrorType::InvalidRequestError,
    ] {
        assert!(documented.contains(&kind.to_string()), "{kind}");
    }
}
