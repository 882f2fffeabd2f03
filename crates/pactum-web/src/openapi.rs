//! The OpenAPI 3.1 description of the JSON API, kept beside the handlers in `api.rs` and checked
//! against them by schemathesis in CI.

pub const DOCUMENT: &str = include_str!("../assets/openapi.json");
