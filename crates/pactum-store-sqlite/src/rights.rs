//! The rights-request register (P34, L1), from the statements both backends share.

use sqlx::SqliteConnection;

use crate::{ApplyError, corrupt, date_col, error, get, id_from};

pactum_store::rights_requests_adapter!(SqliteConnection, sqlx::sqlite::SqliteRow, sqlx::SqlitePool);
