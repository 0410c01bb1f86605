//! Which certificate authorities a run trusts, decided once for both clients.
//!
//! As curl, wget and git do: the operating system's store by default, or, where
//! `SSL_CERT_FILE` or `SSL_CERT_DIR` is set, what they name instead (as OpenSSL-based
//! tools read them, through `rustls-native-certs`); plus the PEM certificates of
//! `--cacert`. Where the system has no store at all (a bare container), the roots that
//! ship with flags-dl (webpki-roots) stand in for it. No check is ever skipped.
//!
//! The store is read only for an `https` server (or an `https://` proxy): a plain-HTTP run
//! pays nothing for it. A proxy's certificate is checked as a server's is.

use crate::proxy::{ProxyRules, ProxyScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The certificates a run trusts.
#[derive(Debug, Clone)]
pub struct Trust {
    /// The system's store (or SSL_CERT_*'s), and `--cacert`'s.
    pub roots: Arc<Vec<CertificateDer<'static>>>,
    /// The system has no store: the clients' built-in roots stand in for it.
    pub builtin: bool,
}

impl Default for Trust {
    /// The clients' built-in roots: what a plain-HTTP run would use if redirected to https.
    fn default() -> Trust {
        Trust {
            roots: Arc::default(),
            builtin: true,
        }
    }
}

impl Trust {
    /// The embedded server's CA, the only server of its run, and `--cacert`'s if given
    /// (still read, so that a wrong path is a usage error whatever the server). The
    /// system's store is not read.
    pub fn for_embedded(
        ca: CertificateDer<'static>,
        cacert: Option<&Path>,
    ) -> Result<Trust, TrustError> {
        let mut roots = vec![ca];
        if let Some(path) = cacert {
            roots.extend(read_pem(path, "--cacert")?);
        }
        Ok(Trust {
            roots: Arc::new(roots),
            builtin: false,
        })
    }
}

/// Why the trust store could not be built: a usage error (exit 2).
#[derive(Debug)]
pub struct TrustError(pub String);

impl Trust {
    /// The store for a run against `base_url` through `proxies`, with `cacert` added.
    /// `--cacert` is read whatever the server, so that a wrong path is always a usage
    /// error.
    pub fn for_server(
        base_url: &str,
        proxies: &ProxyRules,
        cacert: Option<&Path>,
    ) -> Result<Trust, TrustError> {
        let extra = match cacert {
            Some(path) => read_pem(path, "--cacert")?,
            None => Vec::new(),
        };
        let https_proxy = proxies
            .proxies()
            .iter()
            .any(|proxy| proxy.scheme == ProxyScheme::Https);
        if !base_url.starts_with("https:") && !https_proxy {
            return Ok(Trust::default());
        }
        let mut roots = system_roots()?;
        let builtin = roots.is_empty();
        roots.extend(extra);
        Ok(Trust {
            roots: Arc::new(roots),
            builtin,
        })
    }
}

/// The operating system's store, or what `SSL_CERT_FILE` / `SSL_CERT_DIR` name.
fn system_roots() -> Result<Vec<CertificateDer<'static>>, TrustError> {
    for var in ["SSL_CERT_FILE", "SSL_CERT_DIR"] {
        if let Some(value) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            let path = PathBuf::from(&value);
            if var == "SSL_CERT_FILE" && !path.is_file() {
                return Err(TrustError(format!(
                    "SSL_CERT_FILE names {}, which is not a readable file: fix or unset it",
                    path.display()
                )));
            }
        }
    }
    let loaded = rustls_native_certs::load_native_certs();
    let set = |var: &str| std::env::var_os(var).is_some_and(|v| !v.is_empty());
    if loaded.certs.is_empty() && (set("SSL_CERT_FILE") || set("SSL_CERT_DIR")) {
        let why = loaded
            .errors
            .first()
            .map_or_else(|| "no certificate in it".to_string(), |e| e.to_string());
        return Err(TrustError(format!(
            "SSL_CERT_FILE / SSL_CERT_DIR give no usable certificate ({why}): fix or unset them"
        )));
    }
    Ok(loaded.certs)
}

/// Every certificate in a PEM file; an unreadable file, or one with none, is an error.
fn read_pem(path: &Path, option: &str) -> Result<Vec<CertificateDer<'static>>, TrustError> {
    let fail = |why: String| {
        TrustError(format!(
            "{option} {}: {why}; give a PEM file of CA certificates",
            path.display()
        ))
    };
    let bytes = std::fs::read(path).map_err(|e| fail(e.to_string().to_lowercase()))?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| fail(format!("not PEM ({e})")))?;
    if certs.is_empty() {
        return Err(fail("no certificate in it".into()));
    }
    Ok(certs)
}
