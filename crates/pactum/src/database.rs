//! Choosing the backend from the database URL's scheme; an unknown scheme is refused.

use pactum_store_postgres::PgBackend;
use pactum_store_sqlite::SqliteBackend;

pub enum AnyBackend {
    Sqlite(SqliteBackend),
    Postgres(PgBackend),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Sqlite,
    Postgres,
}

/// The backend a URL names. The error names the scheme only, never the URL (it may hold a password).
pub fn scheme(url: &str) -> anyhow::Result<Scheme> {
    let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or("");
    match scheme {
        "sqlite" => Ok(Scheme::Sqlite),
        "postgres" | "postgresql" => Ok(Scheme::Postgres),
        "" => anyhow::bail!("the database URL has no scheme: use sqlite://PATH or postgres://USER@HOST/DATABASE"),
        other => anyhow::bail!(
            "unknown database URL scheme `{other}`: Pactum supports sqlite://PATH and postgres://USER@HOST/DATABASE"
        ),
    }
}

pub async fn connect(url: &str) -> anyhow::Result<AnyBackend> {
    match scheme(url)? {
        Scheme::Sqlite => Ok(AnyBackend::Sqlite(
            SqliteBackend::connect(url).await.map_err(|e| anyhow::anyhow!("cannot open the SQLite database: {e}"))?,
        )),
        Scheme::Postgres => Ok(AnyBackend::Postgres(
            PgBackend::connect(url).await.map_err(|e| anyhow::anyhow!("cannot open the PostgreSQL database: {e}"))?,
        )),
    }
}

/// Runs a generic async function with whichever backend `$backend` holds.
#[macro_export]
macro_rules! with_backend {
    ($backend:expr, |$b:ident| $body:expr) => {
        match $backend {
            $crate::database::AnyBackend::Sqlite($b) => $body,
            $crate::database::AnyBackend::Postgres($b) => $body,
        }
    };
}
