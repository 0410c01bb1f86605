//! A process started by hand, for what `assert_cmd`'s run-to-the-end cannot do: read
//! stdout line by line while it runs, close stdout early as `| head` does, feed stdin,
//! send it a signal, wait for it with a limit. Its pipes are read on threads of their own,
//! so no read can hang a test and a chatty child never blocks on a full pipe. Dropping it
//! kills and reaps the child, so a failed assertion never leaves it running.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A running child: stdout as a channel of lines, stderr collected as it comes.
pub struct Spawned {
    child: Child,
    /// stdout's lines, each with its `\n` (the last one may lack it).
    lines: mpsc::Receiver<String>,
    stderr: Arc<Mutex<Vec<u8>>>,
    /// The thread collecting stderr, joined once the child has exited (`None` if stderr
    /// is not read).
    stderr_reader: Option<JoinHandle<()>>,
}

/// How a child's streams are set up; see the constructors of [`Spawned`].
#[derive(Default)]
struct Setup {
    stdin: Option<Vec<u8>>,
    keep_lines: Option<usize>,
    close_stderr: bool,
}

impl Spawned {
    /// Starts `cmd` with stdin closed, stdout and stderr piped.
    pub fn start(cmd: std::process::Command) -> Spawned {
        Spawned::launch(cmd, Setup::default())
    }

    /// Starts `cmd` with `input` on stdin, written by a thread that stops when the child
    /// stops reading (a broken pipe there is the child's choice, not a failure).
    pub fn with_stdin(cmd: std::process::Command, input: Vec<u8>) -> Spawned {
        let setup = Setup {
            stdin: Some(input),
            ..Setup::default()
        };
        Spawned::launch(cmd, setup)
    }

    /// Starts `cmd` and closes its stdout once `keep` lines were read, as `| head -n <keep>`
    /// does.
    pub fn closing_stdout_after(cmd: std::process::Command, keep: usize) -> Spawned {
        let setup = Setup {
            keep_lines: Some(keep),
            ..Setup::default()
        };
        Spawned::launch(cmd, setup)
    }

    /// Starts `cmd` with the reading end of its stderr closed at once: every write to
    /// stderr fails with a broken pipe.
    pub fn with_stderr_closed(cmd: std::process::Command) -> Spawned {
        let setup = Setup {
            close_stderr: true,
            ..Setup::default()
        };
        Spawned::launch(cmd, setup)
    }

    fn launch(mut cmd: std::process::Command, setup: Setup) -> Spawned {
        let mut child = cmd
            .stdin(if setup.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", cmd.get_program()));
        if let Some(input) = setup.stdin {
            let mut stdin = child.stdin.take().unwrap();
            std::thread::spawn(move || {
                let _ = stdin.write_all(&input);
            });
        }

        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut read = 0;
            // Dropping the reader (on return) closes our end of the pipe.
            while setup.keep_lines.is_none_or(|keep| read < keep) {
                let mut line = String::new();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        read += 1;
                        if tx.send(line).is_err() {
                            return;
                        }
                    }
                }
            }
        });

        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut pipe = child.stderr.take().unwrap();
        let stderr_reader = (!setup.close_stderr).then(|| {
            let sink = stderr.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    sink.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            })
        });
        Spawned {
            child,
            lines,
            stderr,
            stderr_reader,
        }
    }

    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Sends `SIG<name>` (`INT`, `TERM`...) with `kill`, failing the test if it cannot.
    pub fn signal(&self, name: &str) {
        let sent = std::process::Command::new("kill")
            .args([format!("-{name}"), self.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -{name} {} failed", self.id());
    }

    /// Sends `SIG<name>` to the child's whole process group, as a terminal sends Ctrl-C to
    /// a command and every process it started. The child must lead a group of its own
    /// (`CommandExt::process_group(0)` before starting it), or the test signals itself.
    pub fn signal_group(&self, name: &str) {
        let sent = std::process::Command::new("kill")
            .args([format!("-{name}"), "--".into(), format!("-{}", self.id())])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -{name} -- -{} failed", self.id());
    }

    /// The next stdout line (with its `\n`), waiting at most `limit`.
    pub fn next_line(&mut self, limit: Duration) -> Result<String, RecvTimeoutError> {
        self.lines.recv_timeout(limit)
    }

    /// The next stdout line (with its `\n`), failing the test past `limit`.
    pub fn line(&mut self, limit: Duration) -> String {
        self.next_line(limit).unwrap_or_else(|e| {
            panic!(
                "no stdout line within {limit:?} ({e}); stderr so far:\n{}",
                self.stderr()
            )
        })
    }

    /// What the child wrote to stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Waits at most `limit` for the child to exit.
    pub fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits at most `limit` for the exit (killing the child and failing the test past
    /// it); returns the status, the stdout not read yet and all of stderr.
    pub fn finish(mut self, limit: Duration) -> (ExitStatus, String, String) {
        let Some(status) = self.wait(limit) else {
            let _ = self.child.kill();
            let _ = self.child.wait();
            panic!(
                "{:?} still running after {limit:?}; killed. Its stderr:\n{}",
                self.id(),
                self.stderr()
            );
        };
        (status, self.rest_of_stdout(), self.stderr_to_the_end())
    }

    /// Kills the child, then returns the stdout not read yet and all of stderr.
    pub fn kill(mut self) -> (String, String) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        (self.rest_of_stdout(), self.stderr_to_the_end())
    }

    /// Once the child has exited: the stdout lines not read yet, up to the end of the pipe.
    fn rest_of_stdout(&mut self) -> String {
        self.lines.iter().collect()
    }

    /// Once the child has exited: all of stderr, up to the end of the pipe.
    fn stderr_to_the_end(&mut self) -> String {
        if let Some(reader) = self.stderr_reader.take() {
            let _ = reader.join();
        }
        self.stderr()
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
