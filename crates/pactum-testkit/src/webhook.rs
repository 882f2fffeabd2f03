//! A recipient's notification endpoint: accepts `POST /` and keeps each request's signature header
//! and body, and checks the `Pactum-Signature` (HMAC-SHA256 over `timestamp.body`) with its own
//! implementation, so that a mistake in Pactum's signing is not mirrored here. Answers 200 for a
//! good signature and 401 otherwise.

use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// One request the endpoint received.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub signature: Option<String>,
    pub body: Vec<u8>,
    pub signature_valid: bool,
}

#[derive(Clone)]
struct Shared {
    secret: String,
    received: Arc<Mutex<Vec<Delivery>>>,
}

pub struct WebhookServer {
    pub url: String,
    received: Arc<Mutex<Vec<Delivery>>>,
}

fn valid(secret: &str, header: &str, body: &[u8]) -> bool {
    let mut timestamp = None;
    let mut signature = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", t)) => timestamp = Some(t.to_string()),
            Some(("v1", v)) => signature = hex::decode(v).ok(),
            _ => {}
        }
    }
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else { return false };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else { return false };
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    mac.verify_slice(&signature).is_ok()
}

async fn receive(State(shared): State<Shared>, headers: HeaderMap, body: axum::body::Bytes) -> StatusCode {
    let signature = headers.get("pactum-signature").and_then(|v| v.to_str().ok()).map(str::to_string);
    let signature_valid = signature.as_deref().is_some_and(|s| valid(&shared.secret, s, &body));
    shared.received.lock().unwrap_or_else(PoisonError::into_inner).push(Delivery {
        signature,
        body: body.to_vec(),
        signature_valid,
    });
    if signature_valid { StatusCode::OK } else { StatusCode::UNAUTHORIZED }
}

impl WebhookServer {
    /// Listens on a free port of 127.0.0.1, checking signatures with `secret`.
    pub async fn start(secret: &str) -> std::io::Result<WebhookServer> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/", listener.local_addr()?);
        let received = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared { secret: secret.to_string(), received: received.clone() };
        let app = Router::new().route("/", post(receive)).with_state(shared);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(WebhookServer { url, received })
    }

    pub fn received(&self) -> Vec<Delivery> {
        self.received.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Waits until `count` requests arrived, or `timeout` passed; returns what arrived.
    pub async fn wait_for(&self, count: usize, timeout: std::time::Duration) -> Vec<Delivery> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let received = self.received();
            if received.len() >= count || tokio::time::Instant::now() >= deadline {
                return received;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}
