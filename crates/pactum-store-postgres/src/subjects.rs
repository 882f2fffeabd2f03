//! Reads of subjects' rows, one subject or a page of them, from the statements both backends share.
//! A page of ids is bound as one array.

use crate::{consent_from_row, corrupt, date_col, error, get, id_from};

fn id_array(ids: &[SubjectId]) -> Vec<Vec<u8>> {
    ids.iter().map(|id| id.as_bytes().to_vec()).collect()
}

pactum_store::subjects_adapter!(
    sqlx::Postgres,
    sqlx::postgres::PgRow,
    sqlx::PgPool,
    many = "= ANY($1)",
    bind_many = id_array
);
