//! Reads of subjects' rows, one subject or a page of them, from the statements both backends share.
//! A page of ids is bound as one JSON array of hex strings.

use crate::{consent_from_row, corrupt, date_col, error, get, id_from};

fn json_ids(ids: &[SubjectId]) -> String {
    crate::json_hex_array(ids.iter().map(|id| id.as_bytes().as_slice()))
}

pactum_store::subjects_adapter!(
    sqlx::Sqlite,
    sqlx::sqlite::SqliteRow,
    sqlx::SqlitePool,
    many = "IN (SELECT unhex(value) FROM json_each($1))",
    bind_many = json_ids
);
