//! Cookie-consent decisions from the consent widget (P26–P29, C5, L12).
//!
//! Each decision is checked against the policy's cookie categories and its current cookie-section
//! version, stored with a receipt id, a pseudonymous device token, the truncated IP address and the
//! method (a click or a Global Privacy Control signal), and linked into the audit chain. Necessary
//! cookies are always on; every other category is off unless granted.

use std::net::IpAddr;

use pactum_policy::CookieCategory;
use pactum_store::{AuditEvent, Backend, Change, CookieConsent, Op, ReceiptId};

use crate::values::{FieldError, Problem};
use crate::{Clock, CoreError, Pactum};

/// A decision as the widget sends it.
#[derive(Debug, Clone)]
pub struct CookieDecision {
    pub device_id: String,
    pub granted: Vec<String>,
    pub method: String,
    pub cookie_version: String,
    pub ip: IpAddr,
    /// The browser sent `Sec-GPC: 1` with the decision: whatever was asked, marketing is refused.
    pub gpc_signal: bool,
}

/// How a decision was made.
pub const METHODS: [&str; 2] = ["click", "gpc"];

/// The optional categories, in the order they are stored and shown.
pub const OPTIONAL: [CookieCategory; 2] = [CookieCategory::Statistics, CookieCategory::Marketing];

/// The address with its host part removed: IPv4 to its /24, IPv6 to its /48.
pub fn truncate_ip(ip: IpAddr) -> String {
    // An IPv4 visitor reaching an IPv6 socket arrives as ::ffff:a.b.c.d; it is still an IPv4 address.
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    }
}

fn valid_device_id(id: &str) -> bool {
    (22..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl<B: Backend, C: Clock> Pactum<B, C> {
    /// Validates and durably records a decision; returns the stored record with its receipt id.
    pub async fn record_cookie_decision(&self, decision: CookieDecision) -> Result<CookieConsent, CoreError> {
        let mut errors = Vec::new();
        if !valid_device_id(&decision.device_id) {
            errors.push(FieldError { field: "device_id".into(), problem: Problem::Malformed });
        }
        if !METHODS.contains(&decision.method.as_str()) {
            errors.push(FieldError { field: "method".into(), problem: Problem::UnknownChoice });
        }
        let mut granted = vec!["necessary"];
        for category in &decision.granted {
            match OPTIONAL.iter().find(|c| c.key() == category) {
                Some(c) if !granted.contains(&c.key()) => granted.push(c.key()),
                Some(_) => {}
                None if category == "necessary" => {}
                None => {
                    errors.push(FieldError { field: "granted".into(), problem: Problem::UnknownChoice });
                    break;
                }
            }
        }
        // A Global Privacy Control signal is a refusal of marketing; it can never grant it.
        if decision.method == "gpc" && granted.contains(&CookieCategory::Marketing.key()) {
            errors.push(FieldError { field: "granted".into(), problem: Problem::UnknownChoice });
        }
        if !errors.is_empty() {
            return Err(CoreError::Invalid(errors));
        }
        // The browser's Global Privacy Control header outranks what the page asked for.
        let mut method = decision.method;
        if decision.gpc_signal && granted.contains(&CookieCategory::Marketing.key()) {
            granted.retain(|k| *k != CookieCategory::Marketing.key());
            method = "gpc".to_string();
        }
        if decision.cookie_version != self.policy.cookie_version {
            return Err(CoreError::StaleCookieVersion);
        }
        // A fixed order, whatever order the widget sent.
        let ordered: Vec<&str> = std::iter::once("necessary")
            .chain(OPTIONAL.iter().map(|c| c.key()).filter(|k| granted.contains(k)))
            .collect();
        let record = CookieConsent {
            receipt: ReceiptId::new(),
            device: self.keys.blind_index.device(&decision.device_id),
            granted: ordered.join(","),
            method,
            cookie_version: self.policy.cookie_version.clone(),
            policy_version: self.policy.version.clone(),
            ip_prefix: truncate_ip(decision.ip),
            decided_at: self.clock.now_micros(),
        };
        let event = AuditEvent::new(
            "visitor",
            "cookie_consent.record",
            None,
            serde_json::json!({
                "receipt": record.receipt.to_string(),
                "granted": ordered,
                "method": record.method,
                "cookie_version": record.cookie_version,
            }),
        );
        self.store
            .commit(Change {
                at: record.decided_at,
                ops: vec![Op::RecordCookieConsent(record.clone())],
                audit: vec![event],
            })
            .await?;
        Ok(record)
    }

    pub async fn cookie_receipt(&self, receipt: ReceiptId) -> Result<Option<CookieConsent>, CoreError> {
        Ok(self.store.backend().cookie_consent(receipt).await?)
    }

    /// The same device's decision before this one, if any: what a receipt's states are relative to.
    pub async fn previous_cookie_decision(&self, decision: &CookieConsent) -> Result<Option<CookieConsent>, CoreError> {
        let history = self.store.backend().cookie_consents_of_device(&decision.device).await?;
        Ok(history.into_iter().take_while(|c| c.receipt != decision.receipt).last())
    }
}

/// The state of one category on a receipt (L12): what this decision did to it.
pub fn category_state(granted_now: bool, granted_before: Option<bool>) -> &'static str {
    match (granted_now, granted_before) {
        (true, Some(true)) => "unchanged_granted",
        (true, _) => "granted",
        (false, Some(true)) => "withdrawn",
        (false, _) => "declined",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_lose_their_host_part() {
        assert_eq!(truncate_ip("192.0.2.77".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))), "192.0.2.0/24");
        assert_eq!(
            truncate_ip("2001:db8:abcd:12:1:2:3:4".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))),
            "2001:db8:abcd::/48"
        );
        assert_eq!(truncate_ip("::ffff:192.0.2.77".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))), "192.0.2.0/24");
    }

    #[test]
    fn device_ids_must_look_generated() {
        assert!(valid_device_id("AbCdEfGhIjKlMnOpQrStUv"));
        assert!(!valid_device_id("short"));
        assert!(!valid_device_id("has spaces in it but is long enough"));
        assert!(!valid_device_id(&"x".repeat(65)));
    }
}
