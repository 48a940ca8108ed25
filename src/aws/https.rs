//! The Lambda's HTTP client: hyper with rustls (aws-lc-rs, the same TLS stack as the SDK's own
//! client) trusting the Mozilla root store compiled into the binary (`webpki-roots`).
//!
//! The SDK's default client loads the operating system's root store when it builds its first
//! connector: reading and parsing ~150 PEM certificates took about 5 ms of every cold start's
//! first event, longer than all of the function's own work. Compiled-in trust anchors need no
//! parsing. The CLI keeps the SDK's default client (an operator's machine may trust a corporate
//! root that the Mozilla store lacks).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use hyper_util::client::legacy::connect::HttpConnector as TcpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

type Https = hyper_rustls::HttpsConnector<TcpConnector>;

/// An [`HttpClient`] for the SDK; one connection pool for every client built from it.
#[derive(Debug, Default)]
pub struct WebpkiClient {
    connector: OnceLock<SharedHttpConnector>,
}

/// The client, shared by the SDK configuration.
pub fn client() -> SharedHttpClient {
    SharedHttpClient::new(WebpkiClient::default())
}

impl HttpClient for WebpkiClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        // Every client of the function asks with the same settings (one SDK configuration).
        self.connector
            .get_or_init(|| SharedHttpConnector::new(Connector::new(settings.connect_timeout())))
            .clone()
    }
}

#[derive(Clone, Debug)]
struct Connector {
    client: Client<Https, SdkBody>,
}

impl Connector {
    fn new(connect_timeout: Option<Duration>) -> Connector {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        // Cannot fail: the aws-lc-rs default provider has cipher suites for both default
        // versions (TLS 1.2 and 1.3); the builder errs only for a provider that lacks them.
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("aws-lc-rs supports the default TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut tcp = TcpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(connect_timeout);
        // https for AWS; http only for an endpoint configured so (a local test endpoint).
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        Connector {
            client: Client::builder(TokioExecutor::new()).build(https),
        }
    }
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let request: http::Request<SdkBody> = match request.try_into() {
            Ok(request) => request,
            Err(e) => return HttpConnectorFuture::ready(Err(ConnectorError::user(Box::new(e)))),
        };
        let client = self.client.clone();
        HttpConnectorFuture::new(async move {
            let response = client.request(request).await.map_err(classify)?;
            let (parts, body) = response.into_parts();
            let response = http::Response::from_parts(parts, SdkBody::from_body_1_x(body));
            HttpResponse::try_from(response).map_err(|e| ConnectorError::other(Box::new(e), None))
        })
    }
}

/// Connection failures, resets and closed connections are I/O errors, which the SDK retries;
/// anything else is reported as it is.
fn classify(err: hyper_util::client::legacy::Error) -> ConnectorError {
    let io = err.is_connect()
        || std::error::Error::source(&err).is_some_and(|source| {
            let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(source);
            while let Some(e) = cur {
                if e.is::<std::io::Error>()
                    || e.downcast_ref::<hyper::Error>().is_some_and(|h| {
                        h.is_closed() || h.is_canceled() || h.is_incomplete_message()
                    })
                {
                    return true;
                }
                cur = e.source();
            }
            false
        });
    if io {
        ConnectorError::io(Box::new(err))
    } else {
        ConnectorError::other(Box::new(err), None)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_compiled_in_roots_include_amazons() {
        // AWS endpoints chain to Amazon Trust Services' roots.
        let amazon = webpki_roots::TLS_SERVER_ROOTS
            .iter()
            .filter(|a| String::from_utf8_lossy(a.subject.as_ref()).contains("Amazon Root CA"))
            .count();
        assert!(amazon >= 4, "{amazon} Amazon roots");
    }
}
