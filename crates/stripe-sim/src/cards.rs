//! Test cards: what each test number looks like (brand, funding, wallet) and how it behaves at a
//! reader and later, saved, in card-not-present payments.

use super::error::ApiError;
use sha2::{Digest, Sha256};

/// Why a card is declined: Stripe's `code`, `decline_code` and customer-facing message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decline {
    pub code: &'static str,
    pub decline_code: &'static str,
    pub message: &'static str,
}

const GENERIC: Decline = Decline {
    code: "card_declined",
    decline_code: "generic_decline",
    message: "Your card was declined.",
};
const INSUFFICIENT_FUNDS: Decline = Decline {
    code: "card_declined",
    decline_code: "insufficient_funds",
    message: "Your card has insufficient funds.",
};
const EXPIRED: Decline = Decline {
    code: "expired_card",
    decline_code: "expired_card",
    message: "Your card has expired.",
};
const PROCESSING: Decline = Decline {
    code: "processing_error",
    decline_code: "processing_error",
    message: "An error occurred while processing your card. Try again in a little bit.",
};
const LOST: Decline = Decline {
    code: "card_declined",
    decline_code: "lost_card",
    message: "Your card was declined.",
};
const STOLEN: Decline = Decline {
    code: "card_declined",
    decline_code: "stolen_card",
    message: "Your card was declined.",
};

/// One test card number and its behaviour.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TestCard {
    pub number: &'static str,
    pub brand: &'static str,
    pub funding: &'static str,
    pub country: &'static str,
    /// Outcome when presented at a reader (card present).
    pub present: Option<Decline>,
    /// Outcome of card-not-present payments with the card (saved, or entered on Checkout).
    pub online: Option<Decline>,
    /// Online payments need 3-D Secure: on-session → `requires_action`, off-session → declined
    /// with `authentication_required`.
    pub needs_authentication: bool,
    /// A wallet tap (`apple_pay`): no `generated_card`.
    pub wallet: Option<&'static str>,
    /// Interac debit (`interac_present`).
    pub interac: bool,
    /// The name the chip gives (ISO 7813 `SURNAME/GIVEN`); wallets and most contactless reads
    /// give none.
    pub cardholder_name: Option<&'static str>,
    /// How the cardholder was verified at the reader (the receipt's
    /// `cardholder_verification_method`).
    pub cvm: &'static str,
    /// Increments of an authorization made with the card are declined (`generic_decline`).
    pub declines_increments: bool,
    /// Stripe's dispute test cards: a captured payment with the card is then disputed.
    pub dispute: Option<DisputeKind>,
}

/// How a dispute test card's payments are disputed (Stripe's "Disputes" test cards).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DisputeKind {
    /// The dispute's `reason`.
    pub reason: &'static str,
    /// An inquiry (retrieval request): `warning_needs_response`, no funds withdrawn.
    pub inquiry: bool,
}

const fn card(number: &'static str, brand: &'static str, funding: &'static str) -> TestCard {
    TestCard {
        number,
        brand,
        funding,
        country: "US",
        present: None,
        online: None,
        needs_authentication: false,
        wallet: None,
        interac: false,
        cardholder_name: None,
        cvm: "none",
        declines_increments: false,
        dispute: None,
    }
}

const fn disputed(number: &'static str, reason: &'static str, inquiry: bool) -> TestCard {
    let mut c = card(number, "visa", "credit");
    c.dispute = Some(DisputeKind { reason, inquiry });
    c
}

const fn declining(number: &'static str, decline: Decline) -> TestCard {
    let mut c = card(number, "visa", "credit");
    c.present = Some(decline);
    c.online = Some(decline);
    c
}

/// Every card the simulator knows. The default card is the first.
pub(crate) static CARDS: &[TestCard] = &[
    card("4242424242424242", "visa", "credit"),
    TestCard {
        cardholder_name: Some("MASTERCARD/TEST"),
        cvm: "signature",
        ..card("5555555555554444", "mastercard", "credit")
    },
    TestCard {
        cvm: "online_pin",
        ..card("4000056655665556", "visa", "debit")
    },
    TestCard {
        cardholder_name: Some("AMEX/TEST"),
        ..card("378282246310005", "amex", "credit")
    },
    card("6011111111111117", "discover", "credit"),
    TestCard {
        cvm: "online_pin",
        ..card("5200828282828210", "mastercard", "debit")
    },
    card("5105105105105100", "mastercard", "prepaid"),
    TestCard {
        country: "JP",
        cardholder_name: Some("JCB/TEST"),
        ..card("3566002020360505", "jcb", "credit")
    },
    TestCard {
        cardholder_name: Some("CUSTOMER/VALUED"),
        cvm: "offline_pin",
        ..card("4001007020000002", "visa", "credit")
    },
    TestCard {
        cvm: "online_pin",
        ..card("4001000360000005", "visa", "credit")
    },
    declining("4000000000000002", GENERIC),
    declining("4000000000009995", INSUFFICIENT_FUNDS),
    declining("4000000000000069", EXPIRED),
    declining("4000000000000119", PROCESSING),
    declining("4000000000009987", LOST),
    declining("4000000000009979", STOLEN),
    TestCard {
        wallet: Some("apple_pay"),
        ..card("4111111111111111", "visa", "credit")
    },
    TestCard {
        online: Some(GENERIC),
        declines_increments: true,
        ..card("4000000000000341", "visa", "credit")
    },
    TestCard {
        needs_authentication: true,
        ..card("4000002760003184", "visa", "credit")
    },
    disputed("4000000000000259", "fraudulent", false),
    disputed("4000000000002685", "product_not_received", false),
    disputed("4000000000001976", "general", true),
    TestCard {
        interac: true,
        country: "CA",
        cardholder_name: Some("INTERAC/TEST"),
        cvm: "online_pin",
        ..card("4506445006931933", "interac", "debit")
    },
];

/// Stripe's magic test PaymentMethod ids (`pm_card_visa`, …) and the number each stands for.
static MAGIC_PAYMENT_METHODS: &[(&str, &str)] = &[
    ("pm_card_visa", "4242424242424242"),
    ("pm_card_mastercard", "5555555555554444"),
    ("pm_card_visa_debit", "4000056655665556"),
    ("pm_card_amex", "378282246310005"),
    ("pm_card_discover", "6011111111111117"),
    ("pm_card_chargeDeclined", "4000000000000002"),
    (
        "pm_card_chargeDeclinedInsufficientFunds",
        "4000000000009995",
    ),
    ("pm_card_chargeDeclinedExpiredCard", "4000000000000069"),
    ("pm_card_chargeDeclinedProcessingError", "4000000000000119"),
    ("pm_card_chargeDeclinedLostCard", "4000000000009987"),
    ("pm_card_chargeDeclinedStolenCard", "4000000000009979"),
    ("pm_card_chargeCustomerFail", "4000000000000341"),
    ("pm_card_authenticationRequired", "4000002760003184"),
    ("pm_card_createDispute", "4000000000000259"),
    (
        "pm_card_createDisputeProductNotReceived",
        "4000000000002685",
    ),
    ("pm_card_createDisputeInquiry", "4000000000001976"),
];

pub(crate) const DEFAULT_NUMBER: &str = "4242424242424242";
pub(crate) const EXP_MONTH: i64 = 12;
pub(crate) const EXP_YEAR: i64 = 2030;

/// Looks a test card up by number (spaces allowed); unknown numbers are a 400 naming `param`.
pub(crate) fn lookup(number: &str, param: &str) -> Result<&'static TestCard, ApiError> {
    let digits: String = number.chars().filter(|c| !c.is_whitespace()).collect();
    CARDS.iter().find(|c| c.number == digits).ok_or_else(|| {
        ApiError::invalid(format!(
            "The card number {number} is not one of the simulator's test cards."
        ))
        .with_code("incorrect_number")
        .with_param(param)
    })
}

/// The card a magic PaymentMethod id (`pm_card_visa`) stands for.
pub(crate) fn magic_payment_method(id: &str) -> Option<&'static TestCard> {
    MAGIC_PAYMENT_METHODS
        .iter()
        .find(|(magic, _)| *magic == id)
        .and_then(|(_, number)| CARDS.iter().find(|c| c.number == *number))
}

impl TestCard {
    pub fn last4(&self) -> &'static str {
        &self.number[self.number.len() - 4..]
    }

    /// Stable per card number, like Stripe's fingerprint (16 alphanumerics).
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(format!("sim-fingerprint:{}", self.number).as_bytes());
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        digest
            .iter()
            .take(16)
            .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
            .collect()
    }

    /// The card network (`visa`, `mastercard`, …).
    pub fn network(&self) -> &'static str {
        self.brand
    }

    /// How the reader reads the card: wallets are tapped, other cards inserted.
    pub fn read_method(&self) -> &'static str {
        if self.wallet.is_some() {
            "contactless_emv"
        } else {
            "contact_emv"
        }
    }

    /// The card's EMV application: its identifier (AID, the receipt's `dedicated_file_name`)
    /// and preferred name.
    pub fn application(&self) -> (&'static str, &'static str) {
        match (self.brand, self.funding) {
            ("visa", "debit") => ("A0000000032010", "VISA DEBIT"),
            ("visa", _) => ("A0000000031010", "VISA CREDIT"),
            ("mastercard", "debit") => ("A0000000043060", "DEBIT MASTERCARD"),
            ("mastercard", _) => ("A0000000041010", "MASTERCARD"),
            ("amex", _) => ("A000000025010801", "AMERICAN EXPRESS"),
            ("discover", _) => ("A0000001523010", "DISCOVER"),
            ("jcb", _) => ("A0000000651010", "JCB"),
            ("interac", _) => ("A0000002771010", "Interac"),
            _ => ("A0000000000000", "CARD"),
        }
    }

    /// The receipt's `account_type`.
    pub fn account_type(&self) -> &'static str {
        match self.funding {
            "debit" => "checking",
            "prepaid" => "prepaid",
            "credit" => "credit",
            _ => "unknown",
        }
    }

    /// Stripe Terminal's incremental authorizations: Visa, Mastercard and Discover only.
    pub fn supports_increments(&self) -> bool {
        matches!(self.brand, "visa" | "mastercard" | "discover")
    }

    /// On-receipt tips by overcapture: US cards of Visa, Mastercard, American Express and
    /// Discover.
    pub fn supports_overcapture(&self) -> bool {
        matches!(self.brand, "visa" | "mastercard" | "amex" | "discover") && self.country == "US"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_stable_and_distinct() {
        let visa = lookup("4242 4242 4242 4242", "n").unwrap();
        assert_eq!(visa.fingerprint(), visa.fingerprint());
        assert_eq!(visa.fingerprint().len(), 16);
        let mc = lookup("5555555555554444", "n").unwrap();
        assert_ne!(visa.fingerprint(), mc.fingerprint());
        assert_eq!(mc.last4(), "4444");
        assert!(lookup("1234", "n").is_err());
        assert_eq!(
            magic_payment_method("pm_card_chargeDeclined")
                .unwrap()
                .present,
            Some(GENERIC)
        );
    }
}
