//! go-plugin's automatic mTLS, with a host certificate made the way
//! go-plugin makes its own (ECDSA P-521, a self-signed CA used as the leaf).
//! The real Mattermost host runs gRPC plugins without it (`runtime/src/host_rules.md`, "Starting and stopping"); a
//! go-plugin host with AutoMTLS on is still a host the SDK serves, when the
//! plugin is built with the SDK's cargo feature `auto-mtls` (this package's
//! feature of the same name; `.ci/run` runs these tests with it on). Built
//! without it, a plugin offered a host certificate refuses to start.

// Without the feature only the refusal test runs; the TLS helpers rest.
#![cfg_attr(not(feature = "auto-mtls"), allow(dead_code, unused_imports))]

mod common;

use std::sync::Arc;

use base64::Engine as _;
use common::{PluginProcess, plugin_env, within};
use mattermost_plugin::proto;
use mattermost_plugin_testing::plugin_hooks_client::PluginHooksClient;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tonic::transport::{Channel, Endpoint};

const HELLO: &str = env!("CARGO_BIN_EXE_hello-plugin");

/// A host certificate as go-plugin makes one.
fn host_certificate() -> (String, CertificateDer<'static>, PrivateKeyDer<'static>) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.extended_key_usages =
        vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth, rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.self_signed(&key).unwrap();
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    (cert.pem(), cert.der().clone(), der)
}

/// Trusts exactly the certificate the plugin sent in its handshake.
#[derive(Debug)]
struct Pinned(CertificateDer<'static>, WebPkiSupportedAlgorithms);

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.0.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.1)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.1)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.1.supported_schemes()
    }
}

/// A channel over TLS to `plugin`, presenting `identity` (or nothing).
async fn tls_channel(
    plugin: &PluginProcess,
    identity: Option<(CertificateDer<'static>, PrivateKeyDer<'static>)>,
) -> Result<Channel, tonic::transport::Error> {
    let server_cert = base64::engine::general_purpose::STANDARD_NO_PAD.decode(&plugin.handshake[5]).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = Pinned(CertificateDer::from(server_cert), provider.signature_verification_algorithms);
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let mut config = match identity {
        Some((cert, key)) => builder.with_client_auth_cert(vec![cert], key).unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let address = plugin.address;
    Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_| {
            let connector = connector.clone();
            async move {
                let tcp = tokio::net::TcpStream::connect(address).await?;
                let tls = connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
            }
        }))
        .await
}

#[cfg(feature = "auto-mtls")]
#[tokio::test]
async fn auto_mtls_serves_only_the_host_certificate() {
    let (pem, cert, key) = host_certificate();
    let plugin = PluginProcess::start(HELLO, plugin_env(None, &[("PLUGIN_CLIENT_CERT", &pem)])).await;
    assert_eq!(plugin.handshake.len(), 6, "the sixth field carries the plugin's certificate");
    assert!(!plugin.handshake[5].ends_with('='), "base64 without padding");

    let channel = within(tls_channel(&plugin, Some((cert, key)))).await.expect("TLS with the host's certificate");
    let answer = within(PluginHooksClient::new(channel).implemented(proto::ImplementedRequest::default())).await;
    assert!(answer.unwrap().into_inner().hooks.contains(&"OnActivate".to_owned()));

    // Without a certificate, or with another one, the plugin refuses.
    let (_, other_cert, other_key) = host_certificate();
    for identity in [None, Some((other_cert, other_key))] {
        let refused = match within(tls_channel(&plugin, identity)).await {
            Err(_) => true,
            Ok(channel) => within(PluginHooksClient::new(channel).implemented(proto::ImplementedRequest::default()))
                .await
                .is_err(),
        };
        assert!(refused, "a client without the host's certificate got an answer");
    }

    // Plain text is refused too.
    let plain = Endpoint::from_shared(format!("http://{}", plugin.address)).unwrap().connect().await;
    if let Ok(channel) = plain {
        let answer = within(PluginHooksClient::new(channel).implemented(proto::ImplementedRequest::default())).await;
        assert!(answer.is_err());
    }
}

/// Built without `auto-mtls`, a plugin the host offers a certificate does
/// not serve in plaintext: it refuses to start, naming the feature.
#[cfg(not(feature = "auto-mtls"))]
#[tokio::test]
async fn without_the_feature_a_host_certificate_refuses_the_start_naming_it() {
    let (pem, _, _) = host_certificate();
    let mut command = tokio::process::Command::new(HELLO);
    command.env_clear().envs(plugin_env(None, &[("PLUGIN_CLIENT_CERT", &pem)])).kill_on_drop(true);
    let output = within(command.output()).await.expect("the plugin runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(output.stdout.is_empty(), "no handshake");
    assert!(stderr.contains("PLUGIN_CLIENT_CERT is set") && stderr.contains("cargo feature `auto-mtls`"), "{stderr}");
    eprintln!("NOTE: built without auto-mtls; `cargo test -p hello-plugin --features auto-mtls --test mtls` serves mTLS");
}
