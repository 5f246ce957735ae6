//! The simulator's own currency rules, written from Stripe's "Supported currencies" page and not
//! shared with any client: which ISO codes Stripe accepts for presentment, how many minor units each
//! has (zero-decimal and three-decimal currencies), the amounts a currency may carry, and the
//! minimum charge amounts Stripe publishes. A client that converts amounts wrongly is refused here
//! the way Stripe would refuse it, because nothing here is derived from the client's table.

/// Stripe's maximum amount for one charge, in minor units: eight digits.
pub const MAX_AMOUNT: i64 = 99_999_999;

/// Zero-decimal currencies: the amount is in major units (`¥1299` is `1299`). UGX and ISK are
/// zero-decimal in practice but, for backwards compatibility, Stripe still takes them with two
/// decimals that must be `00` (5 UGX is `500`): they are two-decimal here, with a step of 100.
const ZERO_DECIMAL: &[&str] = &[
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "vnd", "vuv", "xaf",
    "xof", "xpf",
];

/// Three-decimal currencies: the amount has three minor digits, and Stripe requires the last to
/// be zero (amounts rounded to the nearest ten).
const THREE_DECIMAL: &[&str] = &["bhd", "jod", "kwd", "omr", "tnd"];

/// The two-decimal presentment currencies Stripe lists for card payments.
const TWO_DECIMAL: &[&str] = &[
    "usd", "aed", "afn", "all", "amd", "ang", "aoa", "ars", "aud", "awg", "azn", "bam", "bbd",
    "bdt", "bgn", "bmd", "bnd", "bob", "brl", "bsd", "bwp", "byn", "bzd", "cad", "cdf", "chf",
    "cny", "cop", "crc", "cve", "czk", "dkk", "dop", "dzd", "egp", "etb", "eur", "fjd", "fkp",
    "gbp", "gel", "gip", "gmd", "gtq", "gyd", "hkd", "hnl", "htg", "huf", "idr", "ils", "inr",
    "isk", "jmd", "kes", "kgs", "khr", "kyd", "kzt", "lak", "lbp", "lkr", "lrd", "lsl", "mad",
    "mdl", "mkd", "mmk", "mnt", "mop", "mur", "mvr", "mwk", "mxn", "myr", "mzn", "nad", "ngn",
    "nio", "nok", "npr", "nzd", "pab", "pen", "pgk", "php", "pkr", "pln", "qar", "ron", "rsd",
    "rub", "sar", "sbd", "scr", "sek", "sgd", "shp", "sle", "sos", "srd", "std", "szl", "thb",
    "tjs", "top", "try", "ttd", "twd", "tzs", "uah", "ugx", "uyu", "uzs", "wst", "xcd", "xcg",
    "yer", "zar", "zmw",
];

/// Stripe's published minimum charge amounts, in minor units, for the currencies that table
/// names. Any other currency is converted to the account's settlement currency by Stripe before the
/// check; the simulator converts nothing and only requires a positive amount there.
const MINIMUMS: &[(&str, i64)] = &[
    ("usd", 50),
    ("aed", 200),
    ("aud", 50),
    ("bgn", 100),
    ("brl", 50),
    ("cad", 50),
    ("chf", 50),
    ("czk", 1500),
    ("dkk", 250),
    ("eur", 50),
    ("gbp", 30),
    ("hkd", 400),
    ("huf", 17500),
    ("inr", 50),
    ("jpy", 50),
    ("mxn", 1000),
    ("myr", 200),
    ("nok", 300),
    ("nzd", 50),
    ("pln", 200),
    ("ron", 200),
    ("sek", 300),
    ("sgd", 50),
    ("thb", 1000),
];

/// A currency Stripe accepts, by its lower-case ISO code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Currency {
    code: &'static str,
    exponent: u32,
}

impl Currency {
    /// Stripe wants lower-case codes; an unknown or mis-cased code is `None`.
    pub fn lookup(code: &str) -> Option<Currency> {
        let find = |list: &[&'static str]| list.iter().copied().find(|c| *c == code);
        find(ZERO_DECIMAL)
            .map(|code| Currency { code, exponent: 0 })
            .or_else(|| find(THREE_DECIMAL).map(|code| Currency { code, exponent: 3 }))
            .or_else(|| find(TWO_DECIMAL).map(|code| Currency { code, exponent: 2 }))
    }

    pub fn code(self) -> &'static str {
        self.code
    }

    /// Minor digits per major unit.
    pub fn exponent(self) -> u32 {
        self.exponent
    }

    /// The smallest amount Stripe charges in this currency, in minor units.
    pub fn minimum(self) -> i64 {
        MINIMUMS
            .iter()
            .find(|(c, _)| *c == self.code)
            .map_or(1, |(_, m)| *m)
    }

    /// The step an amount must be a multiple of: ten for three-decimal currencies (the last digit
    /// is zero), a hundred for ISK and UGX (whole units, still sent with two decimals), else one.
    pub fn step(self) -> i64 {
        match (self.exponent, self.code) {
            (3, _) => 10,
            (_, "isk" | "ugx") => 100,
            _ => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponents_follow_stripes_lists() {
        assert_eq!(Currency::lookup("usd").unwrap().exponent(), 2);
        assert_eq!(Currency::lookup("jpy").unwrap().exponent(), 0);
        assert_eq!(Currency::lookup("kwd").unwrap().exponent(), 3);
        assert_eq!(Currency::lookup("USD"), None);
        assert_eq!(Currency::lookup("xyz"), None);
    }

    #[test]
    fn no_code_is_listed_twice() {
        let mut all: Vec<&str> = ZERO_DECIMAL
            .iter()
            .chain(THREE_DECIMAL)
            .chain(TWO_DECIMAL)
            .copied()
            .collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
        assert!(MINIMUMS.iter().all(|(c, _)| Currency::lookup(c).is_some()));
    }

    #[test]
    fn minimums_and_steps() {
        assert_eq!(Currency::lookup("gbp").unwrap().minimum(), 30);
        assert_eq!(Currency::lookup("vnd").unwrap().minimum(), 1);
        assert_eq!(Currency::lookup("bhd").unwrap().step(), 10);
        assert_eq!(Currency::lookup("isk").unwrap().step(), 100);
        assert_eq!(Currency::lookup("ugx").unwrap().exponent(), 2);
        assert_eq!(Currency::lookup("ugx").unwrap().step(), 100);
        assert_eq!(Currency::lookup("eur").unwrap().step(), 1);
    }
}
