//! A backend's `ca_file`: https to a cluster whose certificate a private CA
//! signed works when drover is given that CA, and fails without it.

mod common;

use std::sync::Arc;

use drover_plugin_host::bundled::MISBEHAVE;
use drover_dag::Application;
use drover_plugin_host::{Limits, PluginHost, Submitted};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A TLS server on 127.0.0.1 whose certificate a fresh CA signed; returns
/// its port and the CA certificate (PEM).
async fn tls_server() -> (u16, String, tokio::task::JoinHandle<()>) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server_cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&server_key, &ca)
        .unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![server_cert.der().clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(sock).await else { return };
                let mut buf = vec![0u8; 16 * 1024];
                let _ = tls.read(&mut buf).await;
                let _ = tls
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}")
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, ca.pem(), task)
}

/// The misbehaving plugin's "forbidden" GETs its `url` setting and answers
/// `reached` when the request succeeds.
fn app() -> Application {
    common::app("tls", Some("forbidden"))
}

#[tokio::test]
async fn https_to_a_cluster_signed_by_a_private_ca_needs_its_ca_file() {
    let (port, ca_pem, server) = tls_server().await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();

    let host = PluginHost::new(Limits::default(), None).unwrap();
    let plugin = host.load("misbehave", MISBEHAVE).await.unwrap();
    let url = format!("https://127.0.0.1:{port}/api");
    let settings = vec![("url".to_string(), url)];
    let allowed = ["127.0.0.1"];

    let trusting = host.backend_with_ca("k8s", plugin.clone(), settings.clone(), &allowed, &ca_file).unwrap();
    match trusting.submit("k", &app()).await {
        Ok(Submitted::Cluster(id)) => assert_eq!(id, "reached"),
        other => panic!("with the CA the request must succeed: {other:?}"),
    }

    let untrusting = host.backend("k8s", plugin, settings, &allowed).unwrap();
    let err = untrusting.submit("k", &app()).await.expect_err("an unknown CA must not be trusted");
    assert!(err.is_retryable() || err.to_string().contains("unavailable"), "{err}");
    assert!(err.to_string().contains("TLS error with 127.0.0.1") && err.to_string().contains("certificate"), "{err}");
    server.abort();
}

#[test]
fn a_ca_file_without_certificates_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("ca.pem");
    std::fs::write(&bad, "not a certificate").unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let host = PluginHost::new(Limits::default(), None).unwrap();
    let plugin = rt.block_on(host.load("misbehave", MISBEHAVE)).unwrap();
    let err = host.backend_with_ca("k8s", plugin, vec![], &[], &bad).map(|_| ()).unwrap_err();
    assert!(err.contains("ca.pem") && err.contains("no certificate"), "{err}");
}
