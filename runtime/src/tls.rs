//! go-plugin's automatic mutual TLS. When the host sets `PLUGIN_CLIENT_CERT`
//! (its own certificate, PEM), the plugin makes a fresh certificate for
//! `localhost`, accepts only connections that present exactly the host's
//! certificate, and sends its own certificate (base64 DER, no padding) as
//! the handshake's sixth field.
//!
//! go-plugin's certificates are self-signed CAs used as end entities, which
//! path-building verifiers refuse; pinning the exact certificate is both what
//! go-plugin means and stricter than a CA check. The host's key is ECDSA
//! P-521, so the crypto provider is aws-lc-rs (ring cannot verify P-521).

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

/// The environment variable that holds the host's certificate: an X.509
/// certificate, PEM. Unset or empty: no TLS. A value with no PEM
/// certificate, or whose certificate does not parse as X.509, refuses the
/// start ([`TlsError::ClientCert`]): no host could ever connect.
pub const CLIENT_CERT_ENV: &str = "PLUGIN_CLIENT_CERT";

/// The plugin's side of automatic mTLS.
pub(crate) struct AutoTls {
    /// The acceptor for incoming connections.
    pub(crate) acceptor: tokio_rustls::TlsAcceptor,
    /// The plugin's certificate, DER, for the handshake line.
    pub(crate) certificate: Vec<u8>,
}

/// Why automatic mTLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// `PLUGIN_CLIENT_CERT` holds no PEM certificate, or one that is not
    /// an X.509 certificate.
    #[error("{CLIENT_CERT_ENV} holds no usable certificate: {0}")]
    ClientCert(String),
    /// Making the plugin's certificate failed.
    #[error("cannot make the plugin's certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

impl AutoTls {
    /// Sets up mTLS against the host certificate `client_pem`.
    pub(crate) fn new(client_pem: &str) -> Result<Self, TlsError> {
        let client = CertificateDer::from_pem_slice(client_pem.as_bytes())
            .map_err(|e| TlsError::ClientCert(format!("no PEM certificate ({e})")))?
            .into_owned();
        // PEM only wraps base64: parse what it wraps (webpki, as a trust
        // anchor), or garbage would be pinned and no host ever let in.
        rustls::RootCertStore::empty()
            .add(client.clone())
            .map_err(|e| TlsError::ClientCert(format!("its PEM block is not an X.509 certificate ({e})")))?;
        let (certificate, key) = self_signed()?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier = PinnedClient { certificate: client, algorithms: provider.signature_verification_algorithms };
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(Arc::new(verifier))
            .with_single_cert(vec![CertificateDer::from(certificate.clone())], key)?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Self { acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)), certificate })
    }
}

/// A certificate for `localhost`, valid for server and client use, as
/// go-plugin makes its own.
fn self_signed() -> Result<(Vec<u8>, PrivateKeyDer<'static>), TlsError> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::new(vec!["localhost".to_owned()])?;
    params.distinguished_name.push(DnType::CommonName, "localhost");
    params.distinguished_name.push(DnType::OrganizationName, "Mattermost plugin");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages =
        vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment, KeyUsagePurpose::KeyCertSign];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    let now = std::time::SystemTime::now();
    params.not_before = (now - std::time::Duration::from_secs(30)).into();
    params.not_after = (now + std::time::Duration::from_secs(30 * 24 * 3600)).into();
    let certificate = params.self_signed(&key)?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    Ok((certificate.der().to_vec(), key))
}

/// Accepts exactly one client certificate.
#[derive(Debug)]
struct PinnedClient {
    certificate: CertificateDer<'static>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for PinnedClient {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.certificate.as_ref() {
            Ok(ClientCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::ApplicationVerificationFailure))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pem(der: &[u8]) -> String {
        use base64::Engine as _;
        let body = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = body.as_bytes().chunks(64).map(|l| std::str::from_utf8(l).unwrap()).collect();
        format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", lines.join("\n"))
    }

    #[test]
    fn a_real_host_certificate_is_accepted() {
        let (host, _key) = self_signed().unwrap();
        let tls = AutoTls::new(&pem(&host)).expect("a real certificate");
        assert!(!tls.certificate.is_empty());
    }

    #[test]
    fn a_pem_block_of_garbage_or_no_pem_at_all_is_refused_naming_the_variable() {
        let (host, _key) = self_signed().unwrap();
        for (what, value) in [
            ("garbage DER", pem(b"not a certificate at all")),
            ("a truncated certificate", pem(&host[..host.len() / 2])),
            ("no PEM", "MIIB...".to_owned()),
        ] {
            match AutoTls::new(&value) {
                Err(e @ TlsError::ClientCert(_)) => {
                    assert!(e.to_string().starts_with("PLUGIN_CLIENT_CERT holds no usable certificate"), "{what}: {e}")
                }
                Err(e) => panic!("{what}: {e}"),
                Ok(_) => panic!("{what} accepted"),
            }
        }
    }
}
