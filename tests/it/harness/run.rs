//! Running the built binary (or another program) with flags-dl's environment cleared and a
//! time limit, in a scratch folder, and the helpers that describe and check what it printed.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;
use tempfile::TempDir;

/// Longest any one run of the binary may take before the test fails: generous, because
/// debug builds on a loaded two-core machine are slow, but a hang still ends.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// The path of the built binary.
pub fn bin_path() -> PathBuf {
    assert_cmd::cargo::cargo_bin("flags-dl")
}

/// `program` as a plain command, without the variables flags-dl reads (every `FLAGS_DL_*`
/// and `NO_COLOR`), so that the caller's shell cannot change what is tested. A test sets
/// the ones it means with `.env(...)` afterwards.
pub fn command(program: impl AsRef<OsStr>) -> std::process::Command {
    let mut cmd = std::process::Command::new(program);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("FLAGS_DL_") {
            cmd.env_remove(name);
        }
    }
    cmd.env_remove("NO_COLOR");
    cmd
}

/// `program` (bash, `script`, man, `/usr/bin/time`...) as an `assert_cmd` command, with the
/// environment of [`command`] and the time limit [`RUN_TIMEOUT`].
pub fn tool(program: impl AsRef<OsStr>) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::from_std(command(program));
    cmd.timeout(RUN_TIMEOUT);
    cmd
}

/// The binary as an `assert_cmd` command, with the environment of [`command`] and the
/// time limit [`RUN_TIMEOUT`].
pub fn flags_dl() -> assert_cmd::Command {
    tool(bin_path())
}

/// A scratch folder for one test: `<root>/cwd` is the working directory of its runs, so
/// that anything a run writes beside or above it shows; removed when dropped.
pub struct Scratch {
    root: TempDir,
    cwd: PathBuf,
}

/// A new [`Scratch`] folder.
pub fn scratch() -> Scratch {
    let root = tempfile::tempdir().unwrap();
    let cwd = root.path().join("cwd");
    std::fs::create_dir(&cwd).unwrap();
    Scratch { root, cwd }
}

impl Scratch {
    /// The working directory, empty at first.
    pub fn path(&self) -> &Path {
        &self.cwd
    }

    /// The folder above the working directory, holding only `cwd`.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// `<cwd>/out`, the output folder most tests give with `-o`.
    pub fn out(&self) -> PathBuf {
        self.cwd.join("out")
    }

    /// [`Scratch::out`] as an argument.
    pub fn out_arg(&self) -> String {
        self.out().to_str().unwrap().to_string()
    }

    /// Fails unless the output folder holds exactly `expected` (name, bytes), with no
    /// temporaries, and nothing else was created in the working directory or above it.
    pub fn assert_files(&self, expected: &[(&str, &[u8])], context: &str) {
        assert_eq!(file_names(self.root()), ["cwd"], "{context}");
        assert_eq!(file_names(self.path()), ["out"], "{context}");
        let mut want: Vec<&str> = expected.iter().map(|(name, _)| *name).collect();
        want.sort();
        assert_eq!(
            file_names(&self.out()),
            want,
            "files in the output folder\n{context}"
        );
        for (name, bytes) in expected {
            let saved = std::fs::read(self.out().join(name)).unwrap();
            assert!(
                saved == *bytes,
                "{name}: saved {} bytes differ from the {} served\n{context}",
                saved.len(),
                bytes.len()
            );
        }
    }
}

/// Runs flags-dl in `cwd` with `args` and returns its output, whatever the exit status.
pub fn run(cwd: &Path, args: &[&str]) -> Output {
    flags_dl().current_dir(cwd).args(args).output().unwrap()
}

/// [`run`] with these environment variables set.
pub fn run_env(cwd: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    flags_dl()
        .current_dir(cwd)
        .envs(env.iter().copied())
        .args(args)
        .output()
        .unwrap()
}

/// `printf '<stdin>' | flags-dl <args>` in `cwd`.
pub fn run_stdin(cwd: &Path, stdin: &str, args: &[&str]) -> Output {
    flags_dl()
        .current_dir(cwd)
        .args(args)
        .write_stdin(stdin)
        .output()
        .unwrap()
}

/// Bytes as text, invalid UTF-8 replaced.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The lines of a stream, without their ends.
pub fn lines(bytes: &[u8]) -> Vec<String> {
    text(bytes).lines().map(str::to_string).collect()
}

/// Describes a run for assertion messages.
pub fn show(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    )
}

pub fn assert_exit(out: &Output, code: i32) {
    assert_eq!(out.status.code(), Some(code), "{}", show(out));
}

pub fn assert_no_stderr(out: &Output) {
    assert_eq!(
        text(&out.stderr),
        "",
        "stderr should be empty:\n{}",
        show(out)
    );
}

pub fn assert_no_stdout(out: &Output) {
    assert_eq!(
        text(&out.stdout),
        "",
        "stdout should be empty:\n{}",
        show(out)
    );
}

/// Fails unless the run's stdout holds `part`.
pub fn assert_stdout_has(out: &Output, part: &str) {
    assert!(
        text(&out.stdout).contains(part),
        "no {part:?} in stdout:\n{}",
        show(out)
    );
}

/// Fails unless the run's stderr holds `part`.
pub fn assert_stderr_has(out: &Output, part: &str) {
    assert!(
        text(&out.stderr).contains(part),
        "no {part:?} in stderr:\n{}",
        show(out)
    );
}

/// The one line a run wrote to stderr.
pub fn one_stderr_line(out: &Output) -> String {
    let lines = lines(&out.stderr);
    assert_eq!(
        lines.len(),
        1,
        "not exactly one stderr line:\n{}",
        show(out)
    );
    lines[0].clone()
}

/// Every entry of a folder (hidden ones included), by name, sorted.
pub fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
