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
//!
//! All of it is behind the cargo feature `auto-mtls`: the Mattermost server
//! never sets `PLUGIN_CLIENT_CERT`, and the crypto is most of a plugin's
//! build. Without the feature a plugin offered a certificate refuses to
//! start ([`TlsError::NotBuiltIn`]) rather than serve in plaintext.

#[cfg(feature = "auto-mtls")]
use std::sync::Arc;

#[cfg(feature = "auto-mtls")]
use rustls::client::danger::HandshakeSignatureValid;
#[cfg(feature = "auto-mtls")]
use rustls::crypto::WebPkiSupportedAlgorithms;
#[cfg(feature = "auto-mtls")]
use rustls::pki_types::pem::PemObject as _;
#[cfg(feature = "auto-mtls")]
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
#[cfg(feature = "auto-mtls")]
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
#[cfg(feature = "auto-mtls")]
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

/// The environment variable that holds the host's certificate: an X.509
/// certificate, PEM. Unset or empty: no TLS. A value with no PEM
/// certificate, or whose certificate does not parse as X.509, refuses the
/// start ([`TlsError::ClientCert`]): no host could ever connect.
pub const CLIENT_CERT_ENV: &str = "PLUGIN_CLIENT_CERT";

/// What accepts TLS connections: rustls's acceptor, or, without the
/// feature, nothing (a type with no values).
#[cfg(feature = "auto-mtls")]
pub(crate) type Acceptor = tokio_rustls::TlsAcceptor;
/// See above.
#[cfg(not(feature = "auto-mtls"))]
#[derive(Clone)]
pub(crate) enum Acceptor {}

/// The plugin's side of automatic mTLS.
pub(crate) struct AutoTls {
    /// The acceptor for incoming connections.
    pub(crate) acceptor: Acceptor,
    /// The plugin's certificate, DER, for the handshake line.
    pub(crate) certificate: Vec<u8>,
}

/// Why automatic mTLS could not be set up.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsError {
    /// `PLUGIN_CLIENT_CERT` holds no PEM certificate, or one that is not
    /// an X.509 certificate.
    ClientCert(String),
    /// The host asks for automatic mTLS and the plugin was built without
    /// the cargo feature `auto-mtls`.
    NotBuiltIn,
    /// Making the plugin's certificate failed.
    #[cfg(feature = "auto-mtls")]
    Generate(rcgen::Error),
    /// rustls refused the configuration.
    #[cfg(feature = "auto-mtls")]
    Config(rustls::Error),
}

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ClientCert(why) => write!(f, "{CLIENT_CERT_ENV} holds no usable certificate: {why}"),
            Self::NotBuiltIn => write!(
                f,
                "{CLIENT_CERT_ENV} is set: the host asks for go-plugin's automatic mTLS, and this plugin was built \
                 without it. Turn on the SDK's cargo feature `auto-mtls` (features = [\"auto-mtls\"] on the SDK \
                 dependency), or start the plugin without {CLIENT_CERT_ENV} (the Mattermost server never sets it)"
            ),
            #[cfg(feature = "auto-mtls")]
            Self::Generate(e) => write!(f, "cannot make the plugin's certificate: {e}"),
            #[cfg(feature = "auto-mtls")]
            Self::Config(e) => write!(f, "TLS configuration: {e}"),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::ClientCert(_) | Self::NotBuiltIn => None,
            #[cfg(feature = "auto-mtls")]
            Self::Generate(e) => Some(e),
            #[cfg(feature = "auto-mtls")]
            Self::Config(e) => Some(e),
        }
    }
}

#[cfg(feature = "auto-mtls")]
impl From<rcgen::Error> for TlsError {
    fn from(e: rcgen::Error) -> Self {
        Self::Generate(e)
    }
}

#[cfg(feature = "auto-mtls")]
impl From<rustls::Error> for TlsError {
    fn from(e: rustls::Error) -> Self {
        Self::Config(e)
    }
}

impl AutoTls {
    /// Without the feature: refuses, naming it.
    #[cfg(not(feature = "auto-mtls"))]
    pub(crate) fn new(_client_pem: &str) -> Result<Self, TlsError> {
        Err(TlsError::NotBuiltIn)
    }

    /// Sets up mTLS against the host certificate `client_pem`.
    #[cfg(feature = "auto-mtls")]
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
#[cfg(feature = "auto-mtls")]
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
#[cfg(feature = "auto-mtls")]
struct PinnedClient {
    certificate: CertificateDer<'static>,
    algorithms: WebPkiSupportedAlgorithms,
}

#[cfg(feature = "auto-mtls")]
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

#[cfg(all(test, feature = "auto-mtls"))]
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

#[cfg(all(test, not(feature = "auto-mtls")))]
mod tests_without_the_feature {
    use super::*;

    #[test]
    fn a_host_certificate_is_refused_naming_the_feature() {
        let error = AutoTls::new("-----BEGIN CERTIFICATE-----").err().expect("refused");
        assert!(matches!(error, TlsError::NotBuiltIn));
        let text = error.to_string();
        assert!(text.contains("PLUGIN_CLIENT_CERT is set") && text.contains("cargo feature `auto-mtls`"), "{text}");
    }
}
