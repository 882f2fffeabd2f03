//! A minimal HTTP/1.1 client for calls Pactum makes itself: the payment provider's API and
//! recipients' notification webhooks. One connection per request, TLS through rustls with the ring
//! provider and the Mozilla roots (the one TLS stack Pactum uses); plain HTTP only to this machine
//! (a local test server). Errors are short descriptions without the answer's body, which could
//! name a person.

use std::sync::Arc;

/// The longest a call may take, connection included.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);
/// The largest answer read.
const MAX_ANSWER: usize = 1024 * 1024;

#[derive(Clone)]
pub struct HttpsClient {
    tls: tokio_rustls::TlsConnector,
}

impl HttpsClient {
    pub fn new() -> Result<HttpsClient, String> {
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(HttpsClient { tls: tokio_rustls::TlsConnector::from(Arc::new(config)) })
    }

    /// POSTs `body` as `content_type` and returns the status and the answer's body.
    pub async fn post(
        &self,
        url: &str,
        headers: &[(&str, String)],
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<(u16, Vec<u8>), String> {
        tokio::time::timeout(TIMEOUT, self.exchange(url, headers, content_type, body))
            .await
            .map_err(|_| "no answer in time".to_string())?
    }

    async fn exchange(
        &self,
        url: &str,
        headers: &[(&str, String)],
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<(u16, Vec<u8>), String> {
        use http_body_util::BodyExt;
        let text = |e: &dyn std::fmt::Display| e.to_string();
        let uri: hyper::Uri = url.parse().map_err(|_| "the address is not a URL".to_string())?;
        let host = uri.host().ok_or_else(|| "the address has no host".to_string())?.to_string();
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") if is_local(&host) => false,
            _ => return Err("the address must be https://".into()),
        };
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let mut request = hyper::Request::post(uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"))
            .header(hyper::header::HOST, &host)
            .header(hyper::header::CONTENT_TYPE, content_type)
            .header(hyper::header::USER_AGENT, concat!("Pactum/", env!("CARGO_PKG_VERSION")));
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let request = request.body(http_body_util::Full::new(hyper::body::Bytes::from(body))).map_err(|e| text(&e))?;
        let connect_host = host.trim_matches(['[', ']']);
        let tcp = tokio::net::TcpStream::connect((connect_host, port)).await.map_err(|e| text(&e))?;
        let response = if tls {
            let name = rustls::pki_types::ServerName::try_from(host.clone()).map_err(|e| text(&e))?;
            let stream = self.tls.connect(name, tcp).await.map_err(|e| text(&e))?;
            send(hyper_util::rt::TokioIo::new(stream), request).await?
        } else {
            send(hyper_util::rt::TokioIo::new(tcp), request).await?
        };
        let status = response.status().as_u16();
        let limited = http_body_util::Limited::new(response.into_body(), MAX_ANSWER);
        let bytes = limited.collect().await.map_err(|e| text(&e))?.to_bytes();
        Ok((status, bytes.to_vec()))
    }
}

async fn send<T>(
    io: T,
    request: hyper::Request<http_body_util::Full<hyper::body::Bytes>>,
) -> Result<hyper::Response<hyper::body::Incoming>, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await.map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    sender.send_request(request).await.map_err(|e| e.to_string())
}

fn is_local(host: &str) -> bool {
    host == "localhost" || host.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}
