//! TLS for an `https://` site URL: rustls with ring, trusting what the
//! machine trusts (its CA store, or `SSL_CERT_FILE` / `SSL_CERT_DIR` when
//! set, as rustls-native-certs reads them).

use std::io;
use std::net::TcpStream;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// The client configuration, built once: loading the trust store reads
/// files.
fn config() -> io::Result<Arc<ClientConfig>> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            let mut roots = RootCertStore::empty();
            let (added, _unparsable) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                let why: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
                return Err(format!(
                    "no trusted certificate authorities found on this machine{}; \
                     SSL_CERT_FILE may name a PEM file of them",
                    if why.is_empty() { String::new() } else { format!(" ({})", why.join("; ")) }
                ));
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Ok(Arc::new(config))
        })
        .clone()
        .map_err(io::Error::other)
}

/// TLS over `tcp` to `host`, handshake included, so a certificate the
/// machine does not trust fails here, saying so.
pub(super) fn connect(host: &str, tcp: TcpStream) -> io::Result<StreamOwned<ClientConnection, TcpStream>> {
    let name = ServerName::try_from(host.to_owned())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("{host:?} is not a name TLS can check")))?;
    let conn = ClientConnection::new(config()?, name).map_err(io::Error::other)?;
    let mut stream = StreamOwned::new(conn, tcp);
    stream.sock.set_read_timeout(Some(super::http::IO_TIMEOUT))?;
    stream.sock.set_write_timeout(Some(super::http::IO_TIMEOUT))?;
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock).map_err(|e| {
            let text = e.to_string();
            if text.contains("certificate") {
                io::Error::new(
                    e.kind(),
                    format!(
                        "TLS with {host}: {text} (this machine does not trust the server's certificate; \
                         SSL_CERT_FILE may name a PEM file of the CA that signed it)"
                    ),
                )
            } else {
                io::Error::new(e.kind(), format!("TLS with {host}: {text}"))
            }
        })?;
    }
    Ok(stream)
}
