//! Saving flags so that no file under its final name is ever incomplete, and naming them
//! safely when the name comes from the server.
//!
//! Each file is written to a hidden temporary name in the output folder (as its bytes
//! arrive, in async mode) and renamed into place when complete and checked. A rename within one folder is atomic, so a run that is killed
//! leaves either the old file, the new one, or no file, never half of one; what it can
//! leave is a temporary, which [`remove_stale_temporaries`] clears on the next run. Nothing
//! is ever written outside the output folder: file names are checked to be one plain
//! component ([`safe_flag_name`]).
//!
//! Another process that can write into the folder must not be able to redirect a write:
//! a temporary is always a new file of our own, created under a name nobody can guess
//! (`create_new` and `O_NOFOLLOW`, so a symlink or file planted at its name is refused,
//! never followed or reused), and a commit renames it into place only while its name
//! still holds the very file we wrote, and never leaves the final name a symlink.

use rustix::fs::{open, Mode, OFlags};
use rustix::io::Errno;
use std::collections::HashSet;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// The marker in every temporary's name: `.<name>.<pid>.t<8 hex>.flags-dl-part`.
const TEMP_SUFFIX: &str = ".flags-dl-part";

/// How many fresh names a temporary gets before giving up: a name is 32 random bits, so
/// only a folder being filled on purpose ever takes more than one.
const TEMP_ATTEMPTS: u32 = 16;

/// The longest file name `--names` produces, in bytes.
pub const MAX_NAME_BYTES: usize = 100;

/// Writes flags into one folder, atomically, until [`Saver::stop`] is called.
#[derive(Debug)]
pub struct Saver {
    dir: PathBuf,
    /// Set once by [`Saver::stop`]. A writer checks it after creating its temporary and
    /// again before renaming it, and `stop` sets it before sweeping the folder, so every
    /// interleaving ends with no temporary left: a temporary created before the flag was
    /// set is seen by the sweep, one created after it is removed by its writer.
    stopped: AtomicBool,
    /// This process's id, part of every temporary's name.
    pid: u32,
}

impl Saver {
    pub fn new(dir: PathBuf) -> Saver {
        Saver {
            dir,
            stopped: AtomicBool::new(false),
            pid: std::process::id(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `bytes` to `<dir>/<file_name>` atomically and returns the final path.
    #[cfg(test)]
    pub fn save(&self, file_name: &str, bytes: &[u8]) -> io::Result<PathBuf> {
        let mut part = self.begin(file_name)?;
        part.write_all(bytes)?;
        part.commit()
    }

    /// Starts writing `<dir>/<file_name>` under a temporary name; the file appears under
    /// its own name only when [`PartFile::commit`] is called, and dropping the
    /// [`PartFile`] before that removes the temporary.
    ///
    /// `file_name` must be a single plain component; anything else is refused, so that a
    /// name can never lead outside the folder.
    pub fn begin(&self, file_name: &str) -> io::Result<PartFile<'_>> {
        if !is_plain_component(file_name) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("refusing unsafe file name {file_name:?}"),
            ));
        }
        self.check_running()?;
        let (temp, file) = create_temporary(&self.dir, file_name, self.pid)?;
        let part = PartFile {
            saver: self,
            temp,
            file_name: file_name.to_string(),
            file,
            done: false,
        };
        self.check_running()?; // `part` removes its temporary if this fails
        Ok(part)
    }

    fn check_running(&self) -> io::Result<()> {
        if self.stopped.load(Ordering::SeqCst) {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "cancelled"));
        }
        Ok(())
    }

    /// Stops all saving: refuses new files and removes this run's temporaries.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
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

/// A flag being written under a temporary name in the output folder.
pub struct PartFile<'a> {
    saver: &'a Saver,
    temp: PathBuf,
    file_name: String,
    file: fs::File,
    done: bool,
}

impl PartFile<'_> {
    /// Appends bytes to the temporary.
    pub fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)
    }

    /// Renames the complete temporary to its own name; returns the final path.
    ///
    /// Refused if the temporary's name no longer holds the file written through our
    /// handle (someone put another file or a link there), and undone if the final name is
    /// a symlink after the rename (the name was swapped between the check and the
    /// rename): a rename replaces a link at the final name with our file, so a link left
    /// there is never ours.
    pub fn commit(mut self) -> io::Result<PathBuf> {
        self.saver.check_running()?;
        let ours = self.file.metadata()?;
        let same = |meta: &fs::Metadata| {
            meta.file_type().is_file() && meta.dev() == ours.dev() && meta.ino() == ours.ino()
        };
        if !fs::symlink_metadata(&self.temp).is_ok_and(|m| same(&m)) {
            return Err(replaced(&self.temp));
        }
        let path = self.saver.dir.join(&self.file_name);
        fs::rename(&self.temp, &path)?;
        // Renamed: whatever happens next, the temporary's name is no longer ours to remove.
        self.done = true;
        let landed = fs::symlink_metadata(&path)?;
        if landed.file_type().is_symlink() {
            let _ = fs::remove_file(&path);
            return Err(replaced(&self.temp));
        }
        Ok(path)
    }
}

impl Drop for PartFile<'_> {
    fn drop(&mut self) {
        if !self.done {
            // Removes a link planted at the name as readily as our file: either way, what
            // is left at a temporary's name is never written through.
            let _ = fs::remove_file(&self.temp);
        }
    }
}

/// The error of a temporary whose name was taken over by another process.
fn replaced(temp: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!(
            "the temporary {} was replaced by another process; check who else writes into the output folder",
            temp.display()
        ),
    )
}

/// Creates a new, empty temporary for `file_name` in `dir`: `.<file_name>.<pid>.t<8 random
/// hex>.flags-dl-part`, a file that did not exist before and is not reached through a
/// link. A name already taken (by anything, a planted symlink included) is never
/// reused: another random name is tried, [`TEMP_ATTEMPTS`] times in all.
fn create_temporary(dir: &Path, file_name: &str, pid: u32) -> io::Result<(PathBuf, fs::File)> {
    let mut last = None;
    for _ in 0..TEMP_ATTEMPTS {
        // The pid keeps two runs into one folder from removing each other's temporaries;
        // the random part makes the name impossible to plant in advance.
        let tag: u32 = rand::random();
        let temp = dir.join(format!(".{file_name}.{pid}.t{tag:08x}{TEMP_SUFFIX}"));
        // O_CREAT|O_EXCL already refuses a symlink at the name; O_NOFOLLOW says so
        // outright, and refuses it on any system that would not. 0o666 less the umask, as
        // `File::create` makes it.
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW;
        match open(&temp, flags | OFlags::CLOEXEC, Mode::from_raw_mode(0o666)) {
            Ok(fd) => return Ok((temp, fs::File::from(fd))),
            Err(e) if e == Errno::EXIST || e == Errno::LOOP => last = Some(io::Error::from(e)),
            Err(e) => return Err(e.into()),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!(
            "no free temporary name for {file_name} after {TEMP_ATTEMPTS} tries ({}); check who else writes into the output folder",
            last.map_or_else(String::new, |e| e.to_string().to_lowercase())
        ),
    ))
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

/// Removes the temporaries in `dir` that no running process is writing: this process's
/// own, and those of runs that were killed. Returns how many.
///
/// Another flags-dl writing into the same folder at the same time keeps its own: the pid
/// in a temporary's name says whose it is.
pub fn remove_stale_temporaries(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let me = std::process::id();
    entries
        .filter_map(Result::ok)
        .filter(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            match temporary_owner(&name) {
                Some(pid) => pid == me || !process_is_alive(pid),
                None => false,
            }
        })
        .filter(|entry| fs::remove_file(entry.path()).is_ok())
        .count()
}

/// The pid in a temporary's name (`.<name>.<pid>.t<hex>.flags-dl-part`, or the
/// `.<name>.<pid>.flags-dl-part` of earlier versions), or `None` for any other file.
fn temporary_owner(name: &str) -> Option<u32> {
    let mut rest = name.strip_prefix('.')?.strip_suffix(TEMP_SUFFIX)?;
    let (before, last) = rest.rsplit_once('.')?;
    let is_tag = last.len() == 9
        && last.starts_with('t')
        && last[1..].bytes().all(|b| b.is_ascii_hexdigit());
    if is_tag {
        rest = before;
    }
    rest.rsplit_once('.')?.1.parse().ok()
}

/// Whether a process with this pid exists. Where that cannot be told (no /proc), every
/// process is taken to be alive, so that nothing another run is writing is removed.
fn process_is_alive(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.is_dir() || proc.join(pid.to_string()).exists()
}

/// Creates the output folder (and its parents) if missing, checks that files can be
/// written in it, and clears old temporaries. One line, before any download, rather than
/// one error per code at the end.
pub fn prepare_output_dir(dir: &Path) -> anyhow::Result<()> {
    let fail = |what: &str, e: io::Error| {
        anyhow::anyhow!(
            "cannot {what} the output folder {}: {}; choose another with -o",
            dir.display(),
            e.to_string().to_lowercase()
        )
    };
    if dir.exists() && !dir.is_dir() {
        return Err(anyhow::anyhow!(
            "the output folder {} is a file, not a folder; choose another with -o",
            dir.display()
        ));
    }
    fs::create_dir_all(dir).map_err(|e| fail("create", e))?;
    // Created as a temporary is, so a link planted at its name is not followed either.
    let (probe, _) =
        create_temporary(dir, "write-test", std::process::id()).map_err(|e| fail("write in", e))?;
    let _ = fs::remove_file(&probe);
    remove_stale_temporaries(dir);
    Ok(())
}

/// Names that Windows reserves for devices, with or without an extension.
const WINDOWS_RESERVED: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// The file name a code's flag is saved under without `--names`: `<cc>.gif`.
pub fn flag_file_name(cc: &str) -> String {
    format!("{}.gif", cc.to_ascii_lowercase())
}

/// The file name for a flag under `--names` (the book's flags3): `<Country_Name>-<cc>.gif`.
///
/// The country name comes from the server and is not trusted. Path separators, `..`,
/// leading dots, control and format characters and line separators (Unicode Cc, Cf, Zl,
/// Zp, see [`crate::text::is_hidden`]: a right-to-left override would make the name read
/// as another) and the characters Windows forbids are removed;
/// trailing dots and spaces too; spaces become underscores; a Windows device name gets a
/// leading underscore; the result is cut to [`MAX_NAME_BYTES`] on a character boundary.
/// Letters of any script are kept (`Côte_d'Ivoire-ci.gif`). When nothing safe is left,
/// the name is the code alone (`<cc>.gif`). The `-<cc>` suffix keeps two codes apart.
pub fn safe_flag_name(country: &str, cc: &str) -> String {
    let cc = cc.to_ascii_lowercase();
    let plain: String = country
        .chars()
        .filter(|c| {
            !crate::text::is_hidden(*c)
                && !matches!(c, '/' | '\\' | '<' | '>' | ':' | '"' | '|' | '?' | '*')
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
        let mine = format!(".br.gif.{}.flags-dl-part", std::process::id());
        fs::write(dir.path().join(mine), b"GIF").unwrap();
        let saver = Saver::new(dir.path().to_path_buf());
        saver.stop();
        assert!(saver.save("br.gif", b"GIF89a").is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_part_file_appears_only_when_committed_and_vanishes_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let saver = Saver::new(dir.path().to_path_buf());
        let mut part = saver.begin("br.gif").unwrap();
        part.write_all(b"GIF8").unwrap();
        assert!(!dir.path().join("br.gif").exists());
        drop(part);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);

        let mut part = saver.begin("br.gif").unwrap();
        part.write_all(b"GIF89a").unwrap();
        assert_eq!(fs::read(part.commit().unwrap()).unwrap(), b"GIF89a");
    }

    #[test]
    fn a_part_file_cannot_be_committed_after_stop() {
        let dir = tempfile::tempdir().unwrap();
        let saver = Saver::new(dir.path().to_path_buf());
        let mut part = saver.begin("br.gif").unwrap();
        part.write_all(b"GIF89a").unwrap();
        saver.stop();
        assert_eq!(
            part.commit().unwrap_err().kind(),
            io::ErrorKind::Interrupted
        );
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
        // A pid above the kernel's maximum (4194304) cannot be running.
        fs::write(dir.path().join(".br.gif.999999999.flags-dl-part"), b"GIF").unwrap();
        fs::write(dir.path().join("br.gif"), b"GIF89a").unwrap();
        fs::write(dir.path().join(".hidden"), b"mine").unwrap();
        assert_eq!(remove_stale_temporaries(dir.path()), 1);
        assert!(dir.path().join("br.gif").exists() && dir.path().join(".hidden").exists());
    }

    #[test]
    fn a_running_process_keeps_its_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        // pid 1 is always running.
        fs::write(dir.path().join(".br.gif.1.flags-dl-part"), b"GIF").unwrap();
        assert_eq!(remove_stale_temporaries(dir.path()), 0);
        assert_eq!(temporary_owner(".br.gif.1.flags-dl-part"), Some(1));
        assert_eq!(temporary_owner(".hidden"), None);
    }

    #[test]
    fn temporaries_are_new_files_under_unguessable_names() {
        let dir = tempfile::tempdir().unwrap();
        let saver = Saver::new(dir.path().to_path_buf());
        let a = saver.begin("br.gif").unwrap();
        let b = saver.begin("br.gif").unwrap();
        assert_ne!(a.temp, b.temp);
        let name = a.temp.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(temporary_owner(&name), Some(std::process::id()), "{name}");
        assert_eq!(
            temporary_owner(".br.gif.1.t0123abcd.flags-dl-part"),
            Some(1)
        );
    }

    #[test]
    fn a_commit_refuses_a_temporary_swapped_for_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let saver = Saver::new(dir.path().to_path_buf());
        let mut part = saver.begin("br.gif").unwrap();
        part.write_all(b"GIF89a").unwrap();
        fs::remove_file(&part.temp).unwrap();
        std::os::unix::fs::symlink(outside.path().join("x"), &part.temp).unwrap();
        assert_eq!(
            part.commit().unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
    }

    #[test]
    fn an_output_folder_that_is_a_file_is_refused_in_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, b"x").unwrap();
        let err = prepare_output_dir(&file).unwrap_err().to_string();
        assert!(
            err.contains("is a file, not a folder; choose another with -o"),
            "{err}"
        );
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
            ("\u{202e}gpj.exe-bb", "XL", "gpj.exe-bb-xl.gif"),
            ("a\u{2028}b\u{2029}c\u{200b}d\u{feff}", "XM", "abcd-xm.gif"),
            ("\u{202e}\u{2066}", "XN", "xn.gif"),
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
