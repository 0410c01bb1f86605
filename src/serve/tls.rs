//! `flags-dl serve --tls`: HTTPS, with HTTP/2 and HTTP/1.1 offered by ALPN, and no set-up.
//!
//! At start the server makes a certificate authority of its own and a certificate for
//! `localhost` and `127.0.0.1` signed by it (rcgen), and writes the CA as PEM to a file
//! that its banner names, so that `flags-dl -s https://localhost:PORT/flags --cacert FILE`
//! works as printed, and a client without it fails the way it would against any private
//! CA. Nothing is installed anywhere; the file is the run's own.

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, KeyUsagePurpose};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

/// What the accept loop needs to speak TLS.
#[derive(Clone)]
pub struct Tls {
    pub acceptor: TlsAcceptor,
    /// The PEM file of the CA that signed the server's certificate (`flags-dl serve`).
    pub ca_file: PathBuf,
    /// The CA itself (the embedded server's run trusts it without a file).
    pub ca_der: rustls::pki_types::CertificateDer<'static>,
}

/// The server's config: these certificates and key, HTTP/2 and HTTP/1.1 by ALPN.
fn acceptor(
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
) -> anyhow::Result<TlsAcceptor> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

impl Tls {
    /// `--cert` and `--key`: a certificate chain and its key, both PEM, served as given.
    /// A file that cannot be read or parsed is a usage error naming it; only a regular file
    /// of at most 4 MiB is read ([`crate::files`]), so a FIFO or `/dev/zero` cannot hang
    /// the server's start or fill its memory.
    pub fn from_files(cert: &Path, key: &Path) -> anyhow::Result<Tls> {
        use crate::files::{read_regular_bounded, CERT_FILE_LIMIT};
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let usage = |what: &str, path: &Path, e: &dyn std::fmt::Display| {
            crate::error::Error::Usage(format!("{what} {}: {e}; give a PEM file", path.display()))
        };
        let cert_pem = read_regular_bounded(cert, CERT_FILE_LIMIT, "a certificate file")
            .map_err(|e| usage("--cert", cert, &e))?;
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<_, _>>()
            .map_err(|e| usage("--cert", cert, &e))?;
        if chain.is_empty() {
            return Err(usage("--cert", cert, &"no certificate in it").into());
        }
        let key_pem = read_regular_bounded(key, CERT_FILE_LIMIT, "a key file")
            .map_err(|e| usage("--key", key, &e))?;
        let private =
            PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| usage("--key", key, &e))?;
        let ca_der = chain.last().cloned().expect("not empty");
        Ok(Tls {
            acceptor: acceptor(chain, private)?,
            ca_file: PathBuf::new(),
            ca_der,
        })
    }

    /// A fresh CA and server certificate; the CA's PEM is written into `dir`, if given.
    pub fn generate(dir: Option<&Path>) -> anyhow::Result<Tls> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "flags-dl serve test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = ca_params.self_signed(&ca_key)?;

        let key = KeyPair::generate()?;
        let params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])?;
        let cert = params.signed_by(&key, &ca, &ca_key)?;

        let mut ca_file = PathBuf::new();
        if let Some(dir) = dir {
            // A name no one can take first (created with O_EXCL, random): a predictable
            // one in a shared /tmp could be made by another user beforehand, stopping the
            // server from starting or handing its clients a CA of theirs.
            let cannot = |e: std::io::Error| {
                anyhow::anyhow!("cannot write the CA into {}: {e}", dir.display())
            };
            let mut file = tempfile::Builder::new()
                .prefix("flags-dl-serve-ca-")
                .suffix(".pem")
                .tempfile_in(dir)
                .map_err(cannot)?;
            std::io::Write::write_all(&mut file, ca.pem().as_bytes()).map_err(cannot)?;
            ca_file = file.keep().map_err(|e| cannot(e.error))?.1;
        }

        let chain = vec![cert.der().clone(), ca.der().clone()];
        let private = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Tls {
            acceptor: acceptor(chain, private)?,
            ca_file,
            ca_der: ca.der().clone(),
        })
    }
}
