//! The policy file is Pactum's single source of truth (DESIGN invariant 1).
//!
//! This crate owns its format: [`parse_policy`] reads and validates it with located errors,
//! [`model`] is the validated policy the rest of Pactum runs on, and [`retention`] turns a purpose's
//! retention rule into a `retain_until` date. It does no I/O.

mod countries;
pub mod model;
mod parse;
pub mod retention;
pub mod ropa;

pub use countries::is_eea;
pub use model::*;
pub use parse::{CONSENT_COOKIE, Diagnostic, PolicyErrors, parse_policy};
pub use retention::{Anchor, Period, RecordClass, RecordRule, RetentionRule};

/// The example policy bundled with Pactum: the seed privacy policy, encoded in full.
pub const BUNDLED_POLICY: &str = include_str!("../../../policy/metier.toml");
pub const BUNDLED_POLICY_NAME: &str = "policy/metier.toml";

/// The example catalogue shipped beside the bundled policy.
pub const EXAMPLE_CATALOGUE: &str = include_str!("../../../policy/catalogue.example.toml");
