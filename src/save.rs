//! Saving flags so that no file under its final name is ever incomplete, and naming them
//! safely when the name comes from the server.
//!
//! Each file is written to a hidden temporary name in the output folder and renamed into
//! place when complete. A rename within one folder is atomic, so a run that is killed
//! leaves either the old file, the new one, or no file, never half of one; what it can
//! leave is a temporary, which [`remove_stale_temporaries`] clears on the next run. Nothing
//! is ever written outside the output folder: file names are checked to be one plain
//! component ([`safe_flag_name`]).

use std::collections::HashSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::RwLock;

/// The marker in every temporary's name: `.<name>.<pid>.flags-dl-part`.
const TEMP_SUFFIX: &str = ".flags-dl-part";

/// The longest file name `--names` produces, in bytes.
pub const MAX_NAME_BYTES: usize = 100;

/// Writes flags into one folder, atomically, until [`Saver::stop`] is called.
#[derive(Debug)]
pub struct Saver {
    dir: PathBuf,
    /// `true` once stopped. Saves hold the read lock from creating their temporary to
    /// renaming it, so `stop` (the write lock) waits for those in progress and no save
    /// starts after it: the cleanup that follows cannot miss a temporary.
    stopped: RwLock<bool>,
}

impl Saver {
    pub fn new(dir: PathBuf) -> Saver {
        Saver {
            dir,
            stopped: RwLock::new(false),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `bytes` to `<dir>/<file_name>` atomically and returns the final path.
    ///
    /// `file_name` must be a single plain component; anything else is refused, so that a
    /// name can never lead outside the folder.
    pub fn save(&self, file_name: &str, bytes: &[u8]) -> io::Result<PathBuf> {
        if !is_plain_component(file_name) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("refusing unsafe file name {file_name:?}"),
            ));
        }
        let stopped = self.stopped.read().unwrap_or_else(|e| e.into_inner());
        if *stopped {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "cancelled"));
        }
        let final_path = self.dir.join(file_name);
        // The pid keeps two runs into one folder from writing the same temporary.
        let temp_path = self
            .dir
            .join(format!(".{file_name}.{}{TEMP_SUFFIX}", std::process::id()));
        let written = fs::File::create(&temp_path)
            .and_then(|mut file| file.write_all(bytes))
            .and_then(|()| fs::rename(&temp_path, &final_path));
        if let Err(e) = written {
            let _ = fs::remove_file(&temp_path);
            return Err(e);
        }
        Ok(final_path)
    }

    /// Stops all saving: waits for saves in progress, refuses new ones, and removes every
    /// temporary left in the folder.
    pub fn stop(&self) {
        *self.stopped.write().unwrap_or_else(|e| e.into_inner()) = true;
        remove_stale_temporaries(&self.dir);
    }

    /// The names of the files already in the folder (for `--skip-existing`).
    pub fn existing_files(&self) -> HashSet<String> {
        fs::read_dir(&self.dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter(|name| !name.ends_with(TEMP_SUFFIX))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// True for a name that is one ordinary path component: not empty, not `.` or `..`, no
/// separator, no NUL.
fn is_plain_component(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
        && Path::new(name).file_name().is_some_and(|n| n == name)
}

/// Removes temporaries that an earlier, killed run left in `dir`. Returns how many.
pub fn remove_stale_temporaries(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            name.starts_with('.') && name.ends_with(TEMP_SUFFIX)
        })
        .filter(|entry| fs::remove_file(entry.path()).is_ok())
        .count()
}

/// Creates the output folder (and its parents) if missing, and clears old temporaries.
pub fn prepare_output_dir(dir: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(dir).map_err(|e| {
        anyhow::anyhow!(
            "cannot create the output folder {}: {}; choose another with -o",
            dir.display(),
            e.to_string().to_lowercase()
        )
    })?;
    remove_stale_temporaries(dir);
    Ok(())
}

/// Names that Windows reserves for devices, with or without an extension.
const WINDOWS_RESERVED: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// The file name for a flag under `--names` (the book's flags3): `<Country_Name>-<cc>.gif`.
///
/// The country name comes from the server and is not trusted. Path separators, `..`,
/// leading dots, control characters, NUL and the characters Windows forbids are removed;
/// trailing dots and spaces too; spaces become underscores; a Windows device name gets a
/// leading underscore; the result is cut to [`MAX_NAME_BYTES`] on a character boundary.
/// Letters of any script are kept (`Côte_d'Ivoire-ci.gif`). When nothing safe is left,
/// the name is the code alone (`<cc>.gif`). The `-<cc>` suffix keeps two codes apart.
pub fn safe_flag_name(country: &str, cc: &str) -> String {
    let cc = cc.to_ascii_lowercase();
    let plain: String = country
        .chars()
        .filter(|c| {
            !c.is_control() && !matches!(c, '/' | '\\' | '<' | '>' | ':' | '"' | '|' | '?' | '*')
        })
        .collect();
    let mut stem = plain;
    while stem.contains("..") {
        stem = stem.replace("..", "");
    }
    let stem = stem
        .trim_start_matches(['.', ' '])
        .trim_end_matches(['.', ' '])
        .replace(' ', "_");
    let suffix = format!("-{cc}.gif");
    let room = MAX_NAME_BYTES - suffix.len() - 1; // one byte for a possible leading '_'
    let mut cut = stem.len().min(room);
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut stem = stem[..cut].trim_end_matches(['.', ' ']).to_string();
    if stem.chars().all(|c| c == '_' || c == '.' || c == '-') {
        return format!("{cc}.gif");
    }
    let device = stem
        .split('.')
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    if WINDOWS_RESERVED.contains(&device.as_str()) {
        stem.insert(0, '_');
    }
    format!("{stem}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_leaves_only_the_final_file() {
        let dir = tempfile::tempdir().unwrap();
        let saver = Saver::new(dir.path().to_path_buf());
        let path = saver.save("br.gif", b"GIF89a").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"GIF89a");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["br.gif"]);
    }

    #[test]
    fn a_stopped_saver_refuses_to_write_and_clears_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(".br.gif.1.flags-dl-part"), b"GIF").unwrap();
        let saver = Saver::new(dir.path().to_path_buf());
        saver.stop();
        assert!(saver.save("br.gif", b"GIF89a").is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn names_that_leave_the_folder_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let saver = Saver::new(dir.path().join("out"));
        fs::create_dir(saver.dir()).unwrap();
        for bad in [
            "../x.gif",
            "/etc/passwd",
            "a/b.gif",
            "a\\b.gif",
            "..",
            ".",
            "",
        ] {
            assert!(saver.save(bad, b"GIF89a").is_err(), "{bad:?}");
        }
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn stale_temporaries_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(".br.gif.999.flags-dl-part"), b"GIF").unwrap();
        fs::write(dir.path().join("br.gif"), b"GIF89a").unwrap();
        fs::write(dir.path().join(".hidden"), b"mine").unwrap();
        assert_eq!(remove_stale_temporaries(dir.path()), 1);
        assert!(dir.path().join("br.gif").exists() && dir.path().join(".hidden").exists());
    }

    #[test]
    fn server_names_become_safe_file_names() {
        let cases = [
            ("Brazil", "BR", "Brazil-br.gif"),
            ("United States", "US", "United_States-us.gif"),
            ("Côte d'Ivoire", "CI", "Côte_d'Ivoire-ci.gif"),
            ("../../x", "XA", "x-xa.gif"),
            ("/etc/passwd", "XB", "etcpasswd-xb.gif"),
            ("a\\b", "XC", "ab-xc.gif"),
            ("..", "XD", "xd.gif"),
            ("CON", "XE", "_CON-xe.gif"),
            ("nul.txt", "XF", "_nul.txt-xf.gif"),
            ("", "XG", "xg.gif"),
            ("a\0b", "XH", "ab-xh.gif"),
            ("  .hidden. ", "XI", "hidden-xi.gif"),
            ("trailing...", "XJ", "trailing-xj.gif"),
        ];
        for (country, cc, expected) in cases {
            assert_eq!(safe_flag_name(country, cc), expected, "{country:?}");
        }
    }

    #[test]
    fn long_names_are_cut_on_a_character_boundary() {
        let long = "é".repeat(400);
        let name = safe_flag_name(&long, "XK");
        assert!(name.len() <= MAX_NAME_BYTES, "{} bytes", name.len());
        assert!(name.ends_with("-xk.gif") && name.starts_with('é'));
        assert!(is_plain_component(&name));
    }
}
