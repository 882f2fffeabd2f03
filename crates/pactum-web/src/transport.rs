//! How requests reach Pactum (P23): TLS built in (rustls with the ring provider, TLS 1.2 and 1.3
//! only), a plain-HTTP listener that does nothing but redirect to HTTPS, `Strict-Transport-Security`
//! on every HTTPS response, and the reverse proxies whose `X-Forwarded-For` and `X-Forwarded-Proto`
//! Pactum believes. A header from any other peer is ignored: the client address used for rate limits
//! and the consent log's truncated IP is then the TCP peer itself.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::serve::Listener;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use pactum_core::Clock;
use pactum_store::Backend;

use crate::AppState;

/// One year; sent on every response that reached Pactum over HTTPS.
pub const HSTS: &str = "max-age=31536000";

/// How long a client may take over its TLS handshake before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; past this, new connections wait in the kernel's backlog.
const MAX_HANDSHAKES: usize = 1024;

/// Why the certificate or key could not be used. Messages name the file and say what to do.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("cannot read the TLS {what} file {path}: {source}")]
    Read { what: &'static str, path: String, source: io::Error },
    #[error("the TLS certificate file {0} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    NoCertificate(String),
    #[error("the TLS key file {0} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)")]
    NoKey(String),
    #[error("the TLS certificate and key cannot be used together: {0}; check that the key belongs to the certificate")]
    Mismatch(String),
}

/// The server configuration for `serve --tls-cert FILE --tls-key FILE`: the certificate chain in
/// PEM (leaf first), its private key, TLS 1.2 and 1.3 only, HTTP/1.1 over ALPN.
pub fn tls_config(cert_file: &Path, key_file: &Path) -> Result<Arc<rustls::ServerConfig>, TlsSetupError> {
    let cert_pem = read("certificate", cert_file)?;
    let key_pem = read("key", key_file)?;
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(&cert_pem).filter_map(Result::ok).collect();
    if chain.is_empty() {
        return Err(TlsSetupError::NoCertificate(cert_file.display().to_string()));
    }
    let key =
        PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| TlsSetupError::NoKey(key_file.display().to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsSetupError::Mismatch(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsSetupError::Mismatch(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsSetupError> {
    std::fs::read(path).map_err(|source| TlsSetupError::Read { what, path: path.display().to_string(), source })
}

/// A TCP listener whose connections are TLS. Handshakes run concurrently, each with a time limit, so
/// a slow or silent client holds up nobody; a failed handshake is dropped without an answer.
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    handshakes: JoinSet<Option<(TlsStream<TcpStream>, SocketAddr)>>,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, config: Arc<rustls::ServerConfig>) -> TlsListener {
        TlsListener { tcp, acceptor: TlsAcceptor::from(config), handshakes: JoinSet::new() }
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let room = self.handshakes.len() < MAX_HANDSHAKES;
            tokio::select! {
                accepted = self.tcp.accept(), if room => match accepted {
                    Ok((stream, peer)) => {
                        let _ = stream.set_nodelay(true);
                        let acceptor = self.acceptor.clone();
                        self.handshakes.spawn(async move {
                            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                                Ok(Ok(tls)) => Some((tls, peer)),
                                _ => None,
                            }
                        });
                    }
                    // Out of file descriptors and the like: wait a moment, as axum's own listener does.
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                },
                Some(done) = self.handshakes.join_next(), if !self.handshakes.is_empty() => {
                    if let Ok(Some(connection)) = done {
                        return connection;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// The reverse proxies allowed to tell Pactum the client's address and scheme, as addresses or
/// CIDR networks (`10.0.0.1`, `10.0.0.0/8`, `fd00::/8`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl TrustedProxies {
    /// Parses each entry; the error names the entry and shows the accepted forms.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<TrustedProxies, String> {
        let mut networks = Vec::new();
        for entry in entries.iter().map(|e| e.as_ref().trim()).filter(|e| !e.is_empty()) {
            let bad = || {
                format!(
                    "`{entry}` is not a proxy address; give an IP address or network such as 10.0.0.1 or 10.0.0.0/8"
                )
            };
            let (address, bits) = match entry.split_once('/') {
                Some((a, b)) => (a, Some(b)),
                None => (entry, None),
            };
            let ip: IpAddr = address.parse().map_err(|_| bad())?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                None => max,
                Some(b) => b.parse::<u8>().ok().filter(|b| *b <= max).ok_or_else(bad)?,
            };
            // An IPv4-mapped network (`::ffff:10.0.0.0/104`) is the IPv4 network it maps.
            let network = match (ip, canonical(ip)) {
                (IpAddr::V6(_), v4 @ IpAddr::V4(_)) if bits >= 96 => (v4, bits - 96),
                (IpAddr::V6(_), IpAddr::V4(_)) => (ip, bits),
                (_, same) => (same, bits),
            };
            networks.push(network);
        }
        Ok(TrustedProxies(networks))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|(network, bits)| in_network(ip, *network, *bits))
    }

    /// The client behind `peer`: the peer itself unless it is a trusted proxy; then the right-most
    /// address of `X-Forwarded-For` that is not itself a trusted proxy (the left part of that header
    /// is whatever the client wrote, so it is never believed).
    pub fn client_of(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.contains(peer) {
            return canonical(peer);
        }
        let mut client = canonical(peer);
        let hops = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>();
        for hop in hops.iter().rev().flat_map(|v| v.rsplit(',')) {
            match hop.trim().parse::<IpAddr>() {
                Ok(ip) if self.contains(ip) => client = canonical(ip),
                Ok(ip) => return canonical(ip),
                Err(_) => return client,
            }
        }
        client
    }

    /// Whether the request came over HTTPS: served over TLS here, or forwarded by a trusted proxy
    /// that says `X-Forwarded-Proto: https`.
    pub fn is_https(&self, tls: bool, peer: IpAddr, headers: &HeaderMap) -> bool {
        tls || (self.contains(peer)
            && headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next_back())
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("https")))
    }
}

/// IPv4 visitors on an IPv6 socket arrive as `::ffff:a.b.c.d`; they are IPv4 clients.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

fn in_network(ip: IpAddr, network: IpAddr, bits: u8) -> bool {
    fn prefix_equal(a: &[u8], b: &[u8], bits: u8) -> bool {
        let bits = bits.min(u8::try_from(a.len() * 8).unwrap_or(u8::MAX));
        let whole = usize::from(bits / 8);
        let rest = bits % 8;
        a[..whole] == b[..whole] && (rest == 0 || (a[whole] ^ b[whole]) >> (8 - rest) == 0)
    }
    match (ip, network) {
        (IpAddr::V4(a), IpAddr::V4(b)) => prefix_equal(&a.octets(), &b.octets(), bits),
        (IpAddr::V6(a), IpAddr::V6(b)) => prefix_equal(&a.octets(), &b.octets(), bits),
        _ => false,
    }
}

/// The client's address, as [`TrustedProxies::client_of`] finds it. Handlers key rate limits and the
/// consent log's truncated IP on this, never on the raw header.
pub struct ClientIp(pub IpAddr);

impl<B: Backend, C: Clock> FromRequestParts<Arc<AppState<B, C>>> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState<B, C>>) -> Result<Self, Self::Rejection> {
        let peer = peer_of(parts.extensions.get::<ConnectInfo<SocketAddr>>());
        Ok(ClientIp(state.trusted_proxies.client_of(peer, &parts.headers)))
    }
}

fn peer_of(info: Option<&ConnectInfo<SocketAddr>>) -> IpAddr {
    // Without connection info (a router driven in-process) the caller is this machine.
    info.map(|ConnectInfo(addr)| addr.ip()).unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

/// Adds `Strict-Transport-Security` to every response of a request that came over HTTPS.
pub async fn strict_transport_security<B: Backend, C: Clock>(
    State(state): State<Arc<AppState<B, C>>>,
    request: Request,
    next: Next,
) -> Response {
    let peer = peer_of(request.extensions().get::<ConnectInfo<SocketAddr>>());
    let https = state.trusted_proxies.is_https(state.serves_tls, peer, request.headers());
    let mut response = next.run(request).await;
    if https {
        response.headers_mut().insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    }
    response
}

/// The plain-HTTP listener beside a TLS one: every request is answered with a permanent redirect
/// to the same path and query under `https_base` (the public `https://` address, never the request's
/// Host header, so it cannot be turned into an open redirect). 308 keeps the method and body.
pub fn https_redirect_router(https_base: &str) -> axum::Router {
    let base: Arc<str> = https_base.trim_end_matches('/').into();
    axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let base = base.clone();
        async move {
            let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
            let location = format!("{base}{path}");
            match HeaderValue::from_str(&location) {
                Ok(value) => (
                    StatusCode::PERMANENT_REDIRECT,
                    [(header::LOCATION, value), (header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
                    format!("This site is served over HTTPS: {location}\n"),
                )
                    .into_response(),
                Err(_) => (StatusCode::BAD_REQUEST, "The address is not valid. Use the site's https:// address.\n")
                    .into_response(),
            }
        }
    })
}

/// Serves [`https_redirect_router`] on `listener` until `shutdown` completes.
pub async fn serve_https_redirect(
    listener: TcpListener,
    https_base: &str,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    axum::serve(listener, https_redirect_router(https_base)).with_graceful_shutdown(shutdown).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn proxies_parse_as_addresses_and_networks() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8", "192.0.2.7", "fd00::/8"]).unwrap();
        assert!(proxies.contains(ip("10.200.3.4")));
        assert!(proxies.contains(ip("192.0.2.7")));
        assert!(!proxies.contains(ip("192.0.2.8")));
        assert!(proxies.contains(ip("fd12::1")));
        assert!(!proxies.contains(ip("fe80::1")));
        assert!(proxies.contains(ip("::ffff:10.1.1.1")), "an IPv4 proxy seen on an IPv6 socket");
        let mapped = TrustedProxies::parse(&["::ffff:10.0.0.0/104"]).unwrap();
        assert!(mapped.contains(ip("10.9.9.9")) && !mapped.contains(ip("11.0.0.1")), "a mapped network is IPv4");
        for bad in ["10.0.0.0/33", "proxy.example", "10.0.0.1/x", "::1/129"] {
            let error = TrustedProxies::parse(&[bad]).unwrap_err();
            assert!(error.contains(bad) && error.contains("10.0.0.0/8"), "{error}");
        }
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let proxies = TrustedProxies::parse(&["10.0.0.1"]).unwrap();
        let claims = headers(&[("x-forwarded-for", "198.51.100.9"), ("x-forwarded-proto", "https")]);
        assert_eq!(proxies.client_of(ip("203.0.113.5"), &claims), ip("203.0.113.5"));
        assert!(!proxies.is_https(false, ip("203.0.113.5"), &claims));
    }

    #[test]
    fn a_trusted_proxy_names_the_client_and_the_scheme() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8"]).unwrap();
        // The client wrote the first entry itself; the proxy appended the real address.
        let forwarded = headers(&[("x-forwarded-for", "1.2.3.4, 198.51.100.9"), ("x-forwarded-proto", "https")]);
        assert_eq!(proxies.client_of(ip("10.0.0.1"), &forwarded), ip("198.51.100.9"));
        assert!(proxies.is_https(false, ip("10.0.0.1"), &forwarded));
        // Two proxies in a row: the inner one is skipped.
        let chained = headers(&[("x-forwarded-for", "198.51.100.9, 10.0.0.2")]);
        assert_eq!(proxies.client_of(ip("10.0.0.1"), &chained), ip("198.51.100.9"));
        // No header or garbage: the nearest trusted hop, never a guess.
        assert_eq!(proxies.client_of(ip("10.0.0.1"), &HeaderMap::new()), ip("10.0.0.1"));
        let garbage = headers(&[("x-forwarded-for", "not-an-address")]);
        assert_eq!(proxies.client_of(ip("10.0.0.1"), &garbage), ip("10.0.0.1"));
        let plain = headers(&[("x-forwarded-proto", "http")]);
        assert!(!proxies.is_https(false, ip("10.0.0.1"), &plain));
    }

    #[test]
    fn unreadable_or_mismatched_tls_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let error = tls_config(&missing, &missing).unwrap_err().to_string();
        assert!(error.contains("missing.pem") && error.contains("certificate"), "{error}");
        let not_pem = dir.path().join("cert.pem");
        std::fs::write(&not_pem, "hello").unwrap();
        let error = tls_config(&not_pem, &not_pem).unwrap_err().to_string();
        assert!(error.contains("no PEM certificate"), "{error}");
    }
}
