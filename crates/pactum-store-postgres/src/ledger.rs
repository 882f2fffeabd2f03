//! The disclosure ledger (P08–P12) and the certification records (P15–P17): the partner's messages
//! to a session's exam proctor and the participation records. Each row hangs on the purpose
//! instance it was made under and goes with it.
//!
//! The statements and row mappings are written once, in `pactum_store::ledger_adapter!`.

pactum_store::ledger_adapter!(
    sqlx::PgConnection,
    sqlx::postgres::PgRow,
    sqlx::PgPool,
    begin_claim = "BEGIN",
    skip_locked = " FOR UPDATE SKIP LOCKED",
    many = "= ANY($1)",
    bind_ids = |ids: Vec<&[u8]>| ids.into_iter().map(<[u8]>::to_vec).collect::<Vec<Vec<u8>>>()
);
