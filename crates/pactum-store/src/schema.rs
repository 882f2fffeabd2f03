//! The privacy classification of every column of every table (issue: classification test).
//!
//! A column is either personal (a policy data category, or ciphertext whose category is in the
//! row), pseudonymous (a reference or keyed token that identifies nobody without Pactum's keys),
//! or not personal. Each adapter's tests compare this list with the real schema, so a migration
//! that adds a column nobody classified fails the build.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Classification {
    /// Holds values of this policy data category.
    Category(&'static str),
    /// Ciphertext of a personal value; its category is stored in the same row.
    CiphertextOfRowCategory,
    /// Ciphertext under the subject's key holding values of this category (and messages about it).
    Ciphertext(&'static str),
    /// Pseudonymous: an id, a keyed index or a digest. Identifies nobody without Pactum's keys.
    Pseudonymous,
    /// Not about a person at all.
    NonPersonal,
    /// Key material, wrapped under the master key.
    WrappedKey,
    /// About the provider's own staff (a username, a role), not about the people the policy covers.
    Staff,
    /// A credential kept only as a one-way hash or sealed under a vault key: worthless if copied.
    Credential,
}

use Classification::*;

pub const COLUMNS: &[(&str, &str, Classification)] = &[
    ("vault_keys", "name", NonPersonal),
    ("vault_keys", "master_key_id", NonPersonal),
    ("vault_keys", "wrapped", WrappedKey),
    ("subjects", "id", Pseudonymous),
    ("subjects", "email_index", Category("email")),
    ("subjects", "created_at", NonPersonal),
    ("subject_keys", "subject_id", Pseudonymous),
    ("subject_keys", "master_key_id", NonPersonal),
    ("subject_keys", "wrapped", WrappedKey),
    ("items", "id", Pseudonymous),
    ("items", "subject_id", Pseudonymous),
    ("items", "category", NonPersonal),
    ("items", "source", NonPersonal),
    ("items", "collected_at", NonPersonal),
    ("items", "value", CiphertextOfRowCategory),
    ("purpose_instances", "id", Pseudonymous),
    ("purpose_instances", "subject_id", Pseudonymous),
    ("purpose_instances", "purpose", NonPersonal),
    ("purpose_instances", "basis", NonPersonal),
    ("purpose_instances", "anchor", NonPersonal),
    ("purpose_instances", "anchor_date", NonPersonal),
    ("purpose_instances", "retain_until", NonPersonal),
    ("purpose_instances", "started_at", NonPersonal),
    ("purpose_instances", "ended_at", NonPersonal),
    ("purpose_instances", "end_reason", NonPersonal),
    ("purpose_instances", "notice_version", NonPersonal),
    ("purpose_holds", "instance_id", Pseudonymous),
    ("purpose_holds", "subject_id", Pseudonymous),
    ("purpose_holds", "category", NonPersonal),
    ("deletion_proofs", "id", Pseudonymous),
    ("deletion_proofs", "at", NonPersonal),
    ("deletion_proofs", "record_class", NonPersonal),
    ("deletion_proofs", "subject_ref", Pseudonymous),
    ("deletion_proofs", "rule", NonPersonal),
    ("deletion_proofs", "content_hash", Pseudonymous),
    ("audit_log", "chain", NonPersonal),
    ("audit_log", "seq", NonPersonal),
    ("audit_log", "at", NonPersonal),
    ("audit_log", "actor", Pseudonymous),
    ("audit_log", "action", NonPersonal),
    ("audit_log", "subject_ref", Pseudonymous),
    ("audit_log", "details", Pseudonymous),
    ("audit_log", "prev_hash", NonPersonal),
    ("audit_log", "hash", NonPersonal),
    ("audit_heads", "chain", NonPersonal),
    ("audit_heads", "seq", NonPersonal),
    ("audit_heads", "hash", NonPersonal),
    ("audit_heads", "mac", NonPersonal),
    ("cookie_consents", "receipt", Pseudonymous),
    ("cookie_consents", "device", Pseudonymous),
    ("cookie_consents", "granted", Category("consent_record")),
    ("cookie_consents", "method", Category("consent_record")),
    ("cookie_consents", "cookie_version", NonPersonal),
    ("cookie_consents", "policy_version", NonPersonal),
    ("cookie_consents", "ip_prefix", Category("online_identifier")),
    ("cookie_consents", "decided_at", Category("consent_record")),
    ("outbox", "id", Pseudonymous),
    ("outbox", "subject_id", Pseudonymous),
    ("outbox", "kind", NonPersonal),
    ("outbox", "sealed", Ciphertext("email")),
    ("outbox", "status", NonPersonal),
    ("outbox", "attempts", NonPersonal),
    ("outbox", "created_at", NonPersonal),
    ("outbox", "next_attempt_at", NonPersonal),
    ("outbox", "lease_until", NonPersonal),
    ("outbox", "sent_at", NonPersonal),
    ("consents", "id", Pseudonymous),
    ("consents", "subject_id", Pseudonymous),
    ("consents", "purpose", Category("consent_record")),
    ("consents", "instance_id", Pseudonymous),
    ("consents", "state", Category("consent_record")),
    ("consents", "lang", Category("consent_record")),
    ("consents", "policy_version", NonPersonal),
    ("consents", "text", NonPersonal),
    ("consents", "text_hash", NonPersonal),
    ("consents", "method", Category("consent_record")),
    ("consents", "requested_at", Category("consent_record")),
    ("consents", "confirmed_at", Category("consent_record")),
    ("consents", "withdrawn_at", Category("consent_record")),
    ("consents", "withdraw_method", Category("consent_record")),
    ("link_tokens", "hash", Pseudonymous),
    ("link_tokens", "subject_id", Pseudonymous),
    ("link_tokens", "consent_id", Pseudonymous),
    ("link_tokens", "kind", NonPersonal),
    ("link_tokens", "expires_at", NonPersonal),
    ("link_tokens", "used_at", NonPersonal),
    ("courses", "id", NonPersonal),
    ("courses", "slug", NonPersonal),
    ("courses", "title_da", NonPersonal),
    ("courses", "title_en", NonPersonal),
    ("courses", "summary_da", NonPersonal),
    ("courses", "summary_en", NonPersonal),
    ("courses", "delivered_by", NonPersonal),
    ("courses", "certification", NonPersonal),
    ("course_sessions", "id", NonPersonal),
    ("course_sessions", "course_id", NonPersonal),
    ("course_sessions", "starts_on", NonPersonal),
    ("course_sessions", "ends_on", NonPersonal),
    ("course_sessions", "location", NonPersonal),
    ("course_sessions", "online", NonPersonal),
    ("course_sessions", "language", NonPersonal),
    ("course_sessions", "price_ore", NonPersonal),
    ("course_sessions", "seats", NonPersonal),
    ("course_sessions", "instructor", Staff),
    ("staff_accounts", "id", Pseudonymous),
    ("staff_accounts", "username", Staff),
    ("staff_accounts", "role", Staff),
    ("staff_accounts", "password_hash", Credential),
    ("staff_accounts", "totp_secret", Credential),
    ("staff_accounts", "failed_logins", NonPersonal),
    ("staff_accounts", "locked_until", NonPersonal),
    ("staff_accounts", "setup_hash", Credential),
    ("staff_accounts", "setup_expires_at", NonPersonal),
    ("staff_accounts", "created_at", NonPersonal),
    ("staff_accounts", "disabled_at", NonPersonal),
    ("staff_sessions", "token_hash", Credential),
    ("staff_sessions", "staff_id", Pseudonymous),
    ("staff_sessions", "created_at", NonPersonal),
    ("staff_sessions", "expires_at", NonPersonal),
    // A keyed blind index kept after erasure so that a withdrawn address is not added again (P20).
    ("suppressions", "email_index", Pseudonymous),
    ("suppressions", "purpose", NonPersonal),
    ("suppressions", "since", NonPersonal),
    ("job_leases", "job", NonPersonal),
    ("job_leases", "holder", NonPersonal),
    ("job_leases", "until", NonPersonal),
    ("api_tokens", "id", NonPersonal),
    ("api_tokens", "token_hash", Credential),
    ("api_tokens", "name", NonPersonal),
    ("api_tokens", "scopes", NonPersonal),
    ("api_tokens", "created_at", NonPersonal),
    ("api_tokens", "revoked_at", NonPersonal),
    ("events", "id", NonPersonal),
    ("events", "slug", NonPersonal),
    ("events", "title_da", NonPersonal),
    ("events", "title_en", NonPersonal),
    ("events", "summary_da", NonPersonal),
    ("events", "summary_en", NonPersonal),
    ("events", "starts_on", NonPersonal),
    ("events", "ends_on", NonPersonal),
    ("events", "location", NonPersonal),
    ("events", "co_organiser", NonPersonal),
    ("events", "sponsor", NonPersonal),
    ("events", "seats", NonPersonal),
    ("enrolments", "id", Pseudonymous),
    ("enrolments", "activity_id", NonPersonal),
    ("enrolments", "kind", NonPersonal),
    ("enrolments", "subject_id", Pseudonymous),
    ("enrolments", "instance_id", Pseudonymous),
    ("enrolments", "certification_instance_id", Pseudonymous),
    ("enrolments", "sponsor_consent_id", Pseudonymous),
    ("enrolments", "created_at", Category("participation")),
    ("enrolments", "cancelled_at", Category("participation")),
    ("seat_counts", "activity_id", NonPersonal),
    ("seat_counts", "taken", NonPersonal),
    ("policy_activations", "id", NonPersonal),
    ("policy_activations", "version", NonPersonal),
    ("policy_activations", "source_digest", NonPersonal),
    ("policy_activations", "cookie_version", NonPersonal),
    ("policy_activations", "activated_at", NonPersonal),
];

/// Tables that belong to the migration tool, not to Pactum's data.
pub const TOOL_TABLES: &[&str] = &["_sqlx_migrations"];

/// Columns in the schema that nobody classified, and classified columns the schema lacks.
pub fn unclassified(actual: &[(String, String)]) -> (Vec<String>, Vec<String>) {
    let unknown = actual
        .iter()
        .filter(|(t, _)| !TOOL_TABLES.contains(&t.as_str()))
        .filter(|(t, c)| !COLUMNS.iter().any(|(ct, cc, _)| ct == t && cc == c))
        .map(|(t, c)| format!("{t}.{c}"))
        .collect();
    let missing = COLUMNS
        .iter()
        .filter(|(ct, cc, _)| !actual.iter().any(|(t, c)| t == ct && c == cc))
        .map(|(t, c, _)| format!("{t}.{c}"))
        .collect();
    (unknown, missing)
}
