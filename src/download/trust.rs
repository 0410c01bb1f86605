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
//!
//! Every file a user names here (`--cacert`, `SSL_CERT_FILE`, each file of `SSL_CERT_DIR`)
//! is read by flags-dl itself, through [`crate::files`]: a regular file of at most 4 MiB,
//! never a FIFO or a device, so no path can hang a run or fill its memory. `--cacert` and
//! `SSL_CERT_FILE` that cannot be used stop the run with one line (a usage error). In
//! `SSL_CERT_DIR`, as in OpenSSL's and rustls-native-certs' reading of it, what is not a
//! regular file (a subfolder, a FIFO, a device, a dangling link) is passed over without a
//! word, and a file that cannot be used (unreadable, over 4 MiB, a section that is not
//! PEM) is passed over with a warning, the folder's other certificates still trusted;
//! only when nothing usable is left does the run stop. The system's own store (root's
//! files) is still found and read by rustls-native-certs.

use crate::files::{read_regular_bounded, ReadError, CERT_FILE_LIMIT};
use crate::proxy::{ProxyRules, ProxyScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How [`crate::files`] names a file of certificates in its errors.
const CERT_FILE: &str = "a certificate file";

/// The certificates a run trusts.
#[derive(Debug, Clone)]
pub struct Trust {
    /// The system's store (or SSL_CERT_*'s), and `--cacert`'s.
    pub roots: Arc<Vec<CertificateDer<'static>>>,
    /// The system has no store: the clients' built-in roots stand in for it.
    pub builtin: bool,
    /// What of `SSL_CERT_FILE` and `SSL_CERT_DIR` was passed over, one warning each, for
    /// the command to print once (a bench's runs, which read the store again, do not).
    pub skipped: Vec<String>,
}

impl Default for Trust {
    /// The clients' built-in roots: what a plain-HTTP run would use if redirected to https.
    fn default() -> Trust {
        Trust {
            roots: Arc::default(),
            builtin: true,
            skipped: Vec::new(),
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
            skipped: Vec::new(),
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
        let Loaded {
            certs: mut roots,
            skipped,
        } = system_roots()?;
        let builtin = roots.is_empty();
        roots.extend(extra);
        Ok(Trust {
            roots: Arc::new(roots),
            builtin,
            skipped,
        })
    }
}

/// The operating system's store, or what `SSL_CERT_FILE` / `SSL_CERT_DIR` name: either
/// variable set (to something) replaces the system's store, as for OpenSSL.
fn system_roots() -> Result<Loaded, TrustError> {
    let file = std::env::var_os("SSL_CERT_FILE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    // A list, as OpenSSL reads it: `:`-separated, empty entries ignored.
    let dirs: Vec<PathBuf> = std::env::var_os("SSL_CERT_DIR")
        .map(|v| {
            std::env::split_paths(&v)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default();
    if file.is_none() && dirs.is_empty() {
        // Root's files, where the system keeps them; errors there are not the user's to fix.
        return Ok(Loaded {
            certs: rustls_native_certs::load_native_certs().certs,
            skipped: Vec::new(),
        });
    }
    let mut loaded = Loaded::default();
    if let Some(path) = &file {
        let bytes = read_regular_bounded(path, CERT_FILE_LIMIT, CERT_FILE).map_err(|e| {
            TrustError(format!(
                "SSL_CERT_FILE {}: {e}; fix or unset SSL_CERT_FILE",
                path.display()
            ))
        })?;
        loaded.add_pem(&bytes, "SSL_CERT_FILE's", path);
    }
    for dir in &dirs {
        loaded.add_dir(dir);
    }
    // A certificate both in the file and in the folder, or under two names (the links of
    // `openssl rehash`), is trusted once.
    loaded
        .certs
        .sort_unstable_by(|a, b| a.as_ref().cmp(b.as_ref()));
    loaded.certs.dedup();
    if loaded.certs.is_empty() {
        let why = loaded
            .skipped
            .first()
            .map_or("no certificate in them", String::as_str);
        return Err(TrustError(format!(
            "SSL_CERT_FILE / SSL_CERT_DIR give no usable certificate ({why}): fix or unset them"
        )));
    }
    Ok(loaded)
}

/// Certificates read from `SSL_CERT_FILE` and `SSL_CERT_DIR`, and what was passed over.
#[derive(Debug, Default)]
struct Loaded {
    certs: Vec<CertificateDer<'static>>,
    skipped: Vec<String>,
}

impl Loaded {
    /// Every certificate of a PEM file; a section that is not PEM is passed over, as
    /// rustls-native-certs passes it over, and said once per file.
    fn add_pem(&mut self, bytes: &[u8], whose: &str, path: &Path) {
        let mut bad = None;
        for cert in CertificateDer::pem_slice_iter(bytes) {
            match cert {
                Ok(cert) => self.certs.push(cert),
                Err(e) => bad = bad.or(Some(e)),
            }
        }
        if let Some(e) = bad {
            self.skipped.push(format!(
                "passed over what is not PEM in {whose} {} ({e})",
                path.display()
            ));
        }
    }

    /// The certificates of each regular file of `dir`, not looking into subfolders.
    fn add_dir(&mut self, dir: &Path) {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) => {
                let why = e.to_string().to_lowercase();
                self.skipped.push(format!(
                    "passed over SSL_CERT_DIR's {}: {why}",
                    dir.display()
                ));
                return;
            }
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
        // The same order, so the same warnings, on every run.
        paths.sort();
        for path in paths {
            // Links followed, as `openssl rehash` makes them. A dangling one, a subfolder,
            // a FIFO or a device is no certificate file: passed over without a word.
            match std::fs::metadata(&path) {
                Ok(metadata) if !metadata.is_file() => continue,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                // A file, or one that cannot be looked at: the read says why.
                _ => {}
            }
            match read_regular_bounded(&path, CERT_FILE_LIMIT, CERT_FILE) {
                Ok(bytes) => self.add_pem(&bytes, "SSL_CERT_DIR's", &path),
                // Swapped for one of those since the look above.
                Err(ReadError::NotRegular(_)) => {}
                Err(e) => self.skipped.push(format!(
                    "passed over SSL_CERT_DIR's {}: {e}",
                    path.display()
                )),
            }
        }
    }
}

/// Every certificate in a PEM file; an unreadable file, or one with none, is an error.
fn read_pem(path: &Path, option: &str) -> Result<Vec<CertificateDer<'static>>, TrustError> {
    let fail = |why: String| {
        TrustError(format!(
            "{option} {}: {why}; give a PEM file of CA certificates",
            path.display()
        ))
    };
    let bytes =
        read_regular_bounded(path, CERT_FILE_LIMIT, CERT_FILE).map_err(|e| fail(e.to_string()))?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| fail(format!("not PEM ({e})")))?;
    if certs.is_empty() {
        return Err(fail("no certificate in it".into()));
    }
    Ok(certs)
}
