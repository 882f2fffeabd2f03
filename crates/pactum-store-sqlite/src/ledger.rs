//! The disclosure ledger (P08–P12) and the certification records (P15–P17): the partner's messages
//! to a session's exam proctor and the participation records. Each row hangs on the purpose
//! instance it was made under and goes with it.
//!
//! The statements and row mappings are written once, in `pactum_store::ledger_adapter!`.

pactum_store::ledger_adapter!(
    sqlx::SqliteConnection,
    sqlx::sqlite::SqliteRow,
    sqlx::SqlitePool,
    begin_claim = "BEGIN IMMEDIATE",
    skip_locked = "",
    many = "IN (SELECT unhex(value) FROM json_each($1))",
    bind_ids = crate::json_hex_array
);
