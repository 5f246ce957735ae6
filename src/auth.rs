//! JWT authentication: `Authorization: Bearer <JWT>` → `Caller {subject, accounts, scopes}`.
//!
//! Tokens are HS256 (shared secret) or RS256 (public key); only the configured algorithm is
//! accepted (`alg: none` never is). Claims: `sub`, `accounts` (a list, or `"*"` for platform
//! operators), `scope` (space separated), `exp`; optional `nbf` and `iat`. A token is refused
//! (401) when expired, not yet valid (`nbf` in the future) or issued in the future (`iat`), each
//! with the same 30 s leeway for clock skew, or when its `sub` is empty.
//!
//! Authorisation is [`Caller::for_account`]: the one place that checks an `external_account_id`
//! and the token's right to act for it with a scope, giving an [`AuthorizedAccount`]. Reading
//! the token from a request is HTTP, in `api::caller`.

use crate::error::Error;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use stripe_client::secret::Secret;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    PaymentsRead,
    PaymentsWrite,
    CardsRead,
    CardsWrite,
    Terminal,
    AccountsAdmin,
}

impl Scope {
    pub const ALL: [Scope; 6] = [
        Scope::PaymentsRead,
        Scope::PaymentsWrite,
        Scope::CardsRead,
        Scope::CardsWrite,
        Scope::Terminal,
        Scope::AccountsAdmin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::PaymentsRead => "payments:read",
            Scope::PaymentsWrite => "payments:write",
            Scope::CardsRead => "cards:read",
            Scope::CardsWrite => "cards:write",
            Scope::Terminal => "terminal",
            Scope::AccountsAdmin => "accounts:admin",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// The accounts a token may act for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AccountsClaim {
    /// `"*"`: every account (platform operators).
    All(String),
    List(Vec<String>),
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub accounts: AccountsClaim,
    #[serde(default)]
    pub scope: String,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Not before (checked by the validation; typed here so that a non-number is refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub subject: String,
    all_accounts: bool,
    accounts: Vec<String>,
    scopes: u8,
}

impl Caller {
    /// The token's scopes as a bit set (a stable identity of what the token may do).
    pub fn scope_bits(&self) -> u8 {
        self.scopes
    }

    pub fn has_scope(&self, scope: Scope) -> bool {
        self.scopes & scope.bit() != 0
    }

    /// 403 unless the token carries `scope`.
    fn require(&self, scope: Scope) -> Result<(), Error> {
        if self.has_scope(scope) {
            Ok(())
        } else {
            Err(Error::forbidden(
                "scope_missing",
                format!("this token lacks the '{}' scope", scope.as_str()),
            ))
        }
    }

    /// 403 unless the token may act for `external_account_id`.
    pub fn require_account(&self, external_account_id: &str) -> Result<(), Error> {
        if self.all_accounts || self.accounts.iter().any(|a| a == external_account_id) {
            Ok(())
        } else {
            Err(Error::forbidden(
                "account_forbidden",
                "this token may not act for that account",
            )
            .with_param("external_account_id"))
        }
    }

    /// The one check before acting for an account: `external_account_id` is well formed (400
    /// naming it), the token carries `scope` (403 `scope_missing`) and may act for the account
    /// (403 `account_forbidden`), in that order.
    pub fn for_account(
        &self,
        scope: Scope,
        external_account_id: &str,
    ) -> Result<AuthorizedAccount, Error> {
        external_id("external_account_id", external_account_id)?;
        self.require(scope)?;
        self.require_account(external_account_id)?;
        Ok(AuthorizedAccount {
            external_account_id: external_account_id.to_string(),
        })
    }
}

/// An `external_account_id` the caller may act for (with the scope the handler asked for): only
/// [`Caller::for_account`] makes one, after checking the id and the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizedAccount {
    external_account_id: String,
}

impl AuthorizedAccount {
    pub fn as_str(&self) -> &str {
        &self.external_account_id
    }

    pub fn into_string(self) -> String {
        self.external_account_id
    }
}

/// Checks a caller-supplied identifier (`external_*_id`): 1 to 255 characters, no control
/// characters (NUL included). Here because [`Caller::for_account`] checks the account's id with
/// it; `api` checks the other external ids with it too.
pub fn external_id(param: &str, value: &str) -> Result<(), Error> {
    // Characters, not bytes: an id in any script takes up to 255 (our Stripe keys are derived).
    if value.is_empty() || value.chars().count() > 255 {
        return Err(Error::invalid(
            param,
            format!("'{param}' must be 1 to 255 characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::invalid(
            param,
            format!("'{param}' must not contain control characters"),
        ));
    }
    Ok(())
}

/// Clock skew allowed on `exp`, `nbf` and `iat`, in seconds.
const LEEWAY_SECS: u64 = 30;

/// Verifies tokens (and, with a shared secret, issues them).
pub struct Authenticator {
    decoding: DecodingKey,
    encoding: Option<EncodingKey>,
    validation: Validation,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Authenticator({:?})", self.validation.algorithms)
    }
}

impl Authenticator {
    fn validation(alg: Algorithm) -> Validation {
        let mut validation = Validation::new(alg);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation
    }

    /// HS256 with a shared secret.
    pub fn hs256(secret: &Secret<String>) -> Authenticator {
        let bytes = secret.expose().as_bytes();
        Authenticator {
            decoding: DecodingKey::from_secret(bytes),
            encoding: Some(EncodingKey::from_secret(bytes)),
            validation: Self::validation(Algorithm::HS256),
        }
    }

    /// RS256 with a PEM public key: verification only.
    pub fn rs256(public_key_pem: &[u8]) -> Result<Authenticator, String> {
        Ok(Authenticator {
            decoding: DecodingKey::from_rsa_pem(public_key_pem).map_err(|e| e.to_string())?,
            encoding: None,
            validation: Self::validation(Algorithm::RS256),
        })
    }

    pub fn verify(&self, token: &str) -> Result<Caller, Error> {
        use jsonwebtoken::errors::ErrorKind;
        let data =
            decode::<Claims>(token, &self.decoding, &self.validation).map_err(|e| {
                match e.kind() {
                    ErrorKind::ExpiredSignature => {
                        Error::unauthorized("token_expired", "the token has expired")
                    }
                    ErrorKind::ImmatureSignature => Error::unauthorized(
                        "token_not_yet_valid",
                        "the token is not valid yet (nbf)",
                    ),
                    ErrorKind::InvalidSignature
                    | ErrorKind::InvalidAlgorithm
                    | ErrorKind::InvalidAlgorithmName => Error::unauthorized(
                        "token_invalid",
                        "the token's signature or algorithm is not accepted",
                    ),
                    _ => Error::unauthorized(
                        "token_invalid",
                        "the token is malformed or its claims are invalid",
                    ),
                }
            })?;
        let claims = data.claims;
        let leeway = LEEWAY_SECS as i64;
        if claims
            .iat
            .is_some_and(|iat| iat > jsonwebtoken::get_current_timestamp() as i64 + leeway)
        {
            return Err(Error::unauthorized(
                "token_not_yet_valid",
                "the token is issued in the future (iat)",
            ));
        }
        if claims.sub.trim().is_empty() {
            return Err(Error::unauthorized(
                "token_invalid",
                "the token's subject (sub) is empty",
            ));
        }
        let (all_accounts, accounts) = match claims.accounts {
            AccountsClaim::All(star) if star == "*" => (true, Vec::new()),
            AccountsClaim::All(one) => (false, vec![one]),
            AccountsClaim::List(list) => (false, list),
        };
        let scopes = claims
            .scope
            .split_whitespace()
            .filter_map(Scope::parse)
            .fold(0u8, |bits, s| bits | s.bit());
        Ok(Caller {
            subject: claims.sub,
            all_accounts,
            accounts,
            scopes,
        })
    }

    /// Issues a token (HS256 only).
    pub fn issue(
        &self,
        subject: &str,
        accounts: AccountsClaim,
        scopes: &[Scope],
        ttl_secs: i64,
    ) -> Result<String, String> {
        let key = self
            .encoding
            .as_ref()
            .ok_or("tokens can only be issued with an HS256 secret (POS_JWT_SECRET)")?;
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: subject.to_string(),
            accounts,
            scope: scopes
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            exp: now + ttl_secs,
            iat: Some(now),
            nbf: None,
        };
        encode(&Header::new(Algorithm::HS256), &claims, key).map_err(|e| e.to_string())
    }
}

/// Parses a duration like `8h`, `30m`, `7d`, `3600s` or `3600` into seconds.
pub fn parse_ttl(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c),
        _ => (text, 's'),
    };
    let n: i64 = number
        .parse()
        .map_err(|_| format!("invalid duration '{text}'"))?;
    let factor = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86400,
        _ => {
            return Err(format!(
                "invalid duration unit in '{text}' (use s, m, h or d)"
            ))
        }
    };
    if n <= 0 {
        return Err("duration must be positive".into());
    }
    n.checked_mul(factor)
        .ok_or_else(|| "duration too long".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_parsing() {
        assert_eq!(parse_ttl("8h"), Ok(8 * 3600));
        assert_eq!(parse_ttl("30m"), Ok(1800));
        assert_eq!(parse_ttl("7d"), Ok(7 * 86400));
        assert_eq!(parse_ttl("90"), Ok(90));
        assert!(parse_ttl("0h").is_err());
        assert!(parse_ttl("8y").is_err());
        assert!(parse_ttl("h").is_err());
    }

    #[test]
    fn issued_tokens_verify_with_scopes_and_accounts() {
        let auth = Authenticator::hs256(&Secret::new("s3cret-for-tests-only".into()));
        let token = auth
            .issue(
                "till-1",
                AccountsClaim::List(vec!["a".into()]),
                &[Scope::PaymentsRead],
                60,
            )
            .unwrap();
        let caller = auth.verify(&token).unwrap();
        assert_eq!(caller.subject, "till-1");
        assert!(caller.has_scope(Scope::PaymentsRead));
        assert!(!caller.has_scope(Scope::PaymentsWrite));
        assert!(caller.require_account("a").is_ok());
        assert!(caller.require_account("b").is_err());
        let account = caller.for_account(Scope::PaymentsRead, "a").unwrap();
        assert_eq!(account.as_str(), "a");
        let code = |r: Result<AuthorizedAccount, Error>| r.unwrap_err().code.clone();
        assert_eq!(
            code(caller.for_account(Scope::PaymentsWrite, "a")),
            "scope_missing"
        );
        assert_eq!(
            code(caller.for_account(Scope::PaymentsRead, "b")),
            "account_forbidden"
        );
        // The id is checked first: a malformed id is a 400 naming it, whatever the token.
        let e = caller.for_account(Scope::PaymentsWrite, "").unwrap_err();
        assert_eq!(
            (e.code.as_str(), e.param.as_deref()),
            ("parameter_invalid", Some("external_account_id"))
        );
        let other = Authenticator::hs256(&Secret::new("another".into()));
        assert_eq!(other.verify(&token).unwrap_err().code, "token_invalid");
    }
}
