//! The storage conformance suite on SQLite, each case on a fresh database file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use pactum_store_sqlite::SqliteBackend;

async fn fresh() -> Option<SqliteBackend> {
    let path =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("conformance-{}.db", uuid::Uuid::now_v7()));
    Some(SqliteBackend::connect(&format!("sqlite://{}", path.display())).await.expect("SQLite opens a fresh file"))
}

pactum_store::conformance_tests!(fresh);
