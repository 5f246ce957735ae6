//! Diesel table definitions: the portable column types (BigInt, Text, Bool, Timestamp) that the
//! PostgreSQL and SQLite migrations both create.

diesel::table! {
    accounts (id) {
        id -> Text,
        external_account_id -> Text,
        display_name -> Nullable<Text>,
        default_currency -> Text,
        stripe_account_id -> Nullable<Text>,
        stripe_secret_key_enc -> Nullable<Text>,
        webhook_url -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        webhook_secret_enc -> Nullable<Text>,
        stripe_webhook_secret_enc -> Nullable<Text>,
        address_line1 -> Nullable<Text>,
        address_line2 -> Nullable<Text>,
        address_city -> Nullable<Text>,
        address_state -> Nullable<Text>,
        address_postal_code -> Nullable<Text>,
        address_country -> Nullable<Text>,
        time_zone -> Text,
    }
}

diesel::table! {
    customers (id) {
        id -> Text,
        account_id -> Text,
        external_customer_id -> Text,
        stripe_customer_id -> Text,
        created_at -> Timestamp,
        stripe_idempotency_key -> Nullable<Text>,
        stripe_context -> Nullable<Text>,
    }
}

diesel::table! {
    payments (id) {
        id -> Text,
        account_id -> Text,
        external_transaction_id -> Text,
        customer_id -> Nullable<Text>,
        stripe_payment_intent_id -> Nullable<Text>,
        request_fingerprint -> Text,
        amount -> BigInt,
        currency -> Text,
        capture_method -> Text,
        payment_method_types -> Text,
        description -> Nullable<Text>,
        metadata -> Nullable<Text>,
        status -> Text,
        amount_capturable -> BigInt,
        amount_captured -> BigInt,
        amount_refunded -> BigInt,
        stripe_charge_id -> Nullable<Text>,
        stripe_payment_method_id -> Nullable<Text>,
        failure_code -> Nullable<Text>,
        decline_code -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        stripe_idempotency_key -> Nullable<Text>,
        amount_tip -> BigInt,
        capture_before -> Nullable<Timestamp>,
        incremental_authorization_supported -> Nullable<Bool>,
        overcapture_supported -> Nullable<Bool>,
        request_incremental_authorization_support -> Bool,
        request_extended_authorization -> Bool,
        tax -> Nullable<BigInt>,
        receipt_email -> Nullable<Text>,
        external_cashier_id -> Nullable<Text>,
    }
}

diesel::table! {
    payment_line_items (payment_id, position) {
        payment_id -> Text,
        position -> BigInt,
        description -> Text,
        unit_amount -> BigInt,
        quantity -> BigInt,
    }
}

diesel::table! {
    payment_readers (payment_id) {
        payment_id -> Text,
        stripe_reader_id -> Text,
        stripe_location_id -> Nullable<Text>,
        processed_at -> Timestamp,
    }
}

diesel::table! {
    cards (id) {
        id -> Text,
        account_id -> Text,
        customer_id -> Text,
        stripe_payment_method_id -> Text,
        fingerprint -> Text,
        brand -> Text,
        last4 -> Text,
        exp_month -> BigInt,
        exp_year -> BigInt,
        source_payment_id -> Nullable<Text>,
        deleted -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        stripe_context -> Nullable<Text>,
    }
}

diesel::table! {
    payment_history (id) {
        id -> Text,
        payment_id -> Text,
        action -> Text,
        status -> Text,
        amount -> Nullable<BigInt>,
        actor -> Text,
        created_at -> Timestamp,
        detail -> Nullable<Text>,
    }
}

diesel::table! {
    refunds (id) {
        id -> Text,
        payment_id -> Text,
        stripe_refund_id -> Text,
        amount -> BigInt,
        reason -> Nullable<Text>,
        status -> Text,
        actor -> Text,
        created_at -> Timestamp,
        stripe_idempotency_key -> Nullable<Text>,
    }
}

diesel::table! {
    terminal_locations (id) {
        id -> Text,
        account_id -> Text,
        stripe_location_id -> Text,
        display_name -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    terminal_readers (id) {
        id -> Text,
        account_id -> Text,
        stripe_reader_id -> Text,
        label -> Nullable<Text>,
        stripe_location_id -> Nullable<Text>,
        device_type -> Text,
        created_at -> Timestamp,
        action_type -> Nullable<Text>,
        action_status -> Nullable<Text>,
        action_object -> Nullable<Text>,
        action_failure_code -> Nullable<Text>,
        action_failure_message -> Nullable<Text>,
        action_card -> Nullable<Text>,
        action_updated_at -> Nullable<Timestamp>,
        action_stripe_created -> Nullable<BigInt>,
        action_version -> BigInt,
    }
}

diesel::table! {
    stripe_events (id) {
        id -> Text,
        event_type -> Text,
        stripe_account -> Nullable<Text>,
        object_id -> Nullable<Text>,
        received_at -> Timestamp,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Text,
        account_id -> Text,
        event_type -> Text,
        dedupe_key -> Nullable<Text>,
        payload -> Text,
        status -> Text,
        attempts -> BigInt,
        next_attempt_at -> Timestamp,
        last_status -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
        delivered_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::joinable!(customers -> accounts (account_id));
diesel::joinable!(webhook_deliveries -> accounts (account_id));
diesel::joinable!(refunds -> payments (payment_id));
diesel::joinable!(payments -> accounts (account_id));
diesel::joinable!(payments -> customers (customer_id));
diesel::joinable!(cards -> customers (customer_id));
diesel::joinable!(payment_history -> payments (payment_id));
diesel::joinable!(payment_line_items -> payments (payment_id));
diesel::joinable!(payment_readers -> payments (payment_id));

diesel::table! {
    api_idempotency (id) {
        id -> Text,
        scope -> Text,
        idempotency_key -> Text,
        request_fingerprint -> Text,
        status -> Text,
        response_status -> Nullable<BigInt>,
        response_content_type -> Nullable<Text>,
        response_body -> Nullable<Text>,
        created_at -> Timestamp,
        completed_at -> Nullable<Timestamp>,
        instance_id -> Nullable<Text>,
    }
}

diesel::table! {
    instances (id) {
        id -> Text,
        started_at -> Timestamp,
        heartbeat_at -> Timestamp,
    }
}

diesel::table! {
    checkout_sessions (id) {
        id -> Text,
        account_id -> Text,
        customer_id -> Nullable<Text>,
        stripe_checkout_session_id -> Nullable<Text>,
        mode -> Text,
        ui_mode -> Text,
        status -> Text,
        reference -> Nullable<Text>,
        currency -> Nullable<Text>,
        amount -> Nullable<BigInt>,
        line_items -> Nullable<Text>,
        success_url -> Nullable<Text>,
        cancel_url -> Nullable<Text>,
        card_id -> Nullable<Text>,
        payment_id -> Nullable<Text>,
        expires_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    disputes (id) {
        id -> Text,
        stripe_dispute_id -> Text,
        stripe_payment_intent_id -> Text,
        stripe_charge_id -> Text,
        payment_id -> Nullable<Text>,
        account_id -> Nullable<Text>,
        amount -> BigInt,
        currency -> Text,
        reason -> Text,
        status -> Text,
        amount_withdrawn -> BigInt,
        amount_reinstated -> BigInt,
        fee -> BigInt,
        evidence_due_by -> Nullable<Timestamp>,
        submission_count -> BigInt,
        evidence -> Text,
        opened_at -> Timestamp,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    reader_refunds (id) {
        id -> Text,
        account_id -> Text,
        payment_id -> Text,
        stripe_reader_id -> Nullable<Text>,
        amount -> BigInt,
        status -> Text,
        stripe_refund_id -> Nullable<Text>,
        failure_code -> Nullable<Text>,
        failure_message -> Nullable<Text>,
        idempotency_key -> Nullable<Text>,
        stripe_idempotency_key -> Text,
        actor -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    reader_setups (id) {
        id -> Text,
        account_id -> Text,
        customer_id -> Text,
        stripe_reader_id -> Nullable<Text>,
        stripe_setup_intent_id -> Nullable<Text>,
        stripe_idempotency_key -> Text,
        allow_redisplay -> Text,
        status -> Text,
        card_id -> Nullable<Text>,
        failure_code -> Nullable<Text>,
        decline_code -> Nullable<Text>,
        failure_message -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    payment_charge_methods (payment_id) {
        payment_id -> Text,
        stripe_charge_id -> Text,
        method_type -> Text,
    }
}

diesel::joinable!(reader_refunds -> payments (payment_id));
diesel::joinable!(payment_charge_methods -> payments (payment_id));
diesel::joinable!(reader_setups -> accounts (account_id));
diesel::joinable!(reader_setups -> customers (customer_id));
diesel::table! {
    payouts (id) {
        id -> Text,
        stripe_payout_id -> Text,
        account_id -> Text,
        amount -> BigInt,
        currency -> Text,
        status -> Text,
        arrival_date -> Timestamp,
        failure_code -> Nullable<Text>,
        failure_message -> Nullable<Text>,
        reconciled -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    payout_items (id) {
        id -> Text,
        payout_id -> Text,
        stripe_balance_transaction_id -> Text,
        transaction_type -> Text,
        stripe_source_id -> Nullable<Text>,
        payment_id -> Nullable<Text>,
        stripe_refund_id -> Nullable<Text>,
        gross -> BigInt,
        fee -> BigInt,
        net -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::joinable!(payouts -> accounts (account_id));
diesel::joinable!(payout_items -> payouts (payout_id));
diesel::joinable!(payout_items -> payments (payment_id));
diesel::joinable!(disputes -> payments (payment_id));
diesel::joinable!(disputes -> accounts (account_id));
diesel::joinable!(checkout_sessions -> accounts (account_id));
diesel::joinable!(checkout_sessions -> customers (customer_id));

diesel::allow_tables_to_appear_in_same_query!(
    accounts,
    customers,
    payments,
    payment_readers,
    cards,
    payment_history,
    refunds,
    terminal_locations,
    terminal_readers,
    stripe_events,
    webhook_deliveries,
    api_idempotency,
    checkout_sessions,
    instances,
    payment_line_items,
    disputes,
    payouts,
    payout_items,
    reader_refunds,
    payment_charge_methods,
    reader_setups,
);
