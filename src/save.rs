//! Saving flags so that no file under its final name is ever incomplete.
//!
//! Each file is written to a hidden temporary name in the output folder and renamed into
//! place when complete. A rename within one folder is atomic, so a run that is killed
//! leaves either the old file, the new one, or no file, never half of one; what it can
//! leave is a temporary, which [`remove_stale_temporaries`] clears on the next run.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The marker in every temporary's name: `.<name>.<pid>.flags-dl-part`.
const TEMP_SUFFIX: &str = ".flags-dl-part";

/// Writes `bytes` to `dir/file_name` atomically and returns the final path.
pub fn save_flag(dir: &Path, file_name: &str, bytes: &[u8]) -> io::Result<PathBuf> {
    let final_path = dir.join(file_name);
    // The pid keeps two runs into one folder from writing the same temporary.
    let temp_path = dir.join(format!(".{file_name}.{}{TEMP_SUFFIX}", std::process::id()));
    let written = fs::File::create(&temp_path)
        .and_then(|mut file| file.write_all(bytes))
        .and_then(|()| fs::rename(&temp_path, &final_path));
    if let Err(e) = written {
        let _ = fs::remove_file(&temp_path);
        return Err(e);
    }
    Ok(final_path)
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

/// Creates the output folder (and its parents) if missing.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_leaves_only_the_final_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = save_flag(dir.path(), "br.gif", b"GIF89a").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"GIF89a");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["br.gif"]);
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
}
