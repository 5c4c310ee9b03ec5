//! The `elevenfold` server process: start it on a data directory and free loopback ports, wait
//! until it is ready, and kill it with SIGKILL.
//!
//! Both listeners bind port 0 and the addresses are read from the server's "elevenfold is
//! ready" log line, so there is no race for a free port. That line comes after recovery and
//! after both listeners are bound. The server's output is drained on two threads (a full pipe
//! would stall the server's logging) and its last lines are kept for a failure report.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Output lines kept for a failure report.
const OUTPUT_LINES_MAX: usize = 40;

/// How long a start (recovery included) may take.
const START_TIMEOUT: Duration = Duration::from_secs(120);

type Output = Arc<Mutex<VecDeque<String>>>;

/// The snapshot op in the "node recovered" line (`"snapshot_op":N`, absent when recovery
/// started from an empty state).
pub(crate) fn recovered_snapshot_op(line: &str) -> Option<u64> {
    if !line.contains("node recovered") {
        return None;
    }
    let (_, rest) = line.split_once("\"snapshot_op\":")?;
    let digits = rest.split(|c: char| !c.is_ascii_digit()).next()?;
    digits.parse().ok()
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    child: Child,
    /// The binary protocol's address.
    pub addr: SocketAddr,
    /// The HTTP listener's address (the views of lines, campaigns, grabs and coupons).
    pub http: SocketAddr,
    /// From spawn to the ready line: process start plus recovery.
    pub started_in: Duration,
    /// The op of the snapshot recovery started from (its "node recovered" line), if any.
    pub snapshot_op: Option<u64>,
    output: Output,
    readers: Vec<JoinHandle<()>>,
}

fn keep(output: &Output, line: String) {
    let mut output = output.lock().expect("the output lock is never poisoned");
    if output.len() == OUTPUT_LINES_MAX {
        output.pop_front();
    }
    output.push_back(line);
}

/// The binary-protocol and HTTP addresses in the ready line (`"tcp_addr":"127.0.0.1:PORT"`,
/// `"addr":"127.0.0.1:PORT"`).
pub(crate) fn ready_addrs(line: &str) -> Option<(SocketAddr, SocketAddr)> {
    if !line.contains("elevenfold is ready") {
        return None;
    }
    let field = |name: &str| {
        let (_, rest) = line.split_once(&format!("\"{name}\":\""))?;
        let (addr, _) = rest.split_once('"')?;
        addr.parse().ok()
    };
    Some((field("tcp_addr")?, field("addr")?))
}

fn drain(
    stream: impl Read + Send + 'static,
    output: Output,
    ready: Option<mpsc::Sender<(SocketAddr, SocketAddr)>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if let Some(ready) = &ready
                && let Some(addrs) = ready_addrs(&line)
            {
                let _ = ready.send(addrs);
            }
            keep(&output, line);
        }
    })
}

impl Server {
    /// Starts `binary start` on `data_dir` (a snapshot every `snapshot_log_bytes` of log) and
    /// waits for its ready line.
    pub fn start(
        binary: &Path,
        data_dir: &Path,
        snapshot_log_bytes: u64,
    ) -> Result<Server, String> {
        let began = Instant::now();
        let mut child = Command::new(binary)
            .arg("start")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--http", "127.0.0.1:0", "--addr", "127.0.0.1:0"])
            .arg("--snapshot-log-bytes")
            .arg(snapshot_log_bytes.to_string())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| format!("cannot run {}: {error}", binary.display()))?;
        let output = Output::default();
        let (ready, readied) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let readers = vec![
            drain(stdout, Arc::clone(&output), Some(ready)),
            drain(stderr, Arc::clone(&output), None),
        ];
        let mut server = Server {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            http: SocketAddr::from(([127, 0, 0, 1], 0)),
            started_in: Duration::ZERO,
            snapshot_op: None,
            output,
            readers,
        };
        match readied.recv_timeout(START_TIMEOUT) {
            Ok((addr, http)) => {
                server.addr = addr;
                server.http = http;
                server.started_in = began.elapsed();
                server.snapshot_op = server
                    .output
                    .lock()
                    .expect("the output lock is never poisoned")
                    .iter()
                    .find_map(|line| recovered_snapshot_op(line));
                Ok(server)
            }
            Err(error) => {
                let why = match error {
                    mpsc::RecvTimeoutError::Timeout => {
                        format!("not ready after {START_TIMEOUT:?}")
                    }
                    mpsc::RecvTimeoutError::Disconnected => "exited before ready".to_string(),
                };
                let status = server.kill().map_or_else(
                    |error| error,
                    |status| status.map_or("killed".to_string(), |s| s.to_string()),
                );
                Err(format!(
                    "the server did not start ({why}; {status}); its last output:\n{}",
                    server.output().join("\n")
                ))
            }
        }
    }

    /// SIGKILL, and reap. `Some(status)` if the process had already exited by itself.
    pub fn kill(&mut self) -> Result<Option<ExitStatus>, String> {
        let exited = self
            .child
            .try_wait()
            .map_err(|error| format!("cannot poll the server: {error}"))?;
        if exited.is_none() {
            // `Child::kill` is SIGKILL on Unix: no handler runs, nothing is flushed.
            self.child
                .kill()
                .map_err(|error| format!("cannot kill the server: {error}"))?;
        }
        self.child
            .wait()
            .map_err(|error| format!("cannot reap the server: {error}"))?;
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        Ok(exited)
    }

    /// The server's last output lines.
    #[must_use]
    pub fn output(&self) -> Vec<String> {
        let output = self
            .output
            .lock()
            .expect("the output lock is never poisoned");
        output.iter().cloned().collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Why `binary` must be rebuilt, if it must: it is older than a source file cargo's dep-info
/// file next to it (`elevenfold.d`) lists, or that file is missing or unreadable (then nothing
/// says the binary is current). `None` if it is current, or if `binary` itself is missing.
#[must_use]
pub fn stale(binary: &Path) -> Option<String> {
    let built = std::fs::metadata(binary).and_then(|m| m.modified()).ok()?;
    let dep_info_path = binary.with_extension("d");
    let untraceable = || Some(format!("without a dep-info {}", dep_info_path.display()));
    let Ok(dep_info) = std::fs::read_to_string(&dep_info_path) else {
        return untraceable();
    };
    let Some((_, sources)) = dep_info.lines().next().and_then(|l| l.split_once(": ")) else {
        return untraceable();
    };
    // Paths are separated by spaces; a space inside a path is escaped as `\ `.
    let sources = sources.replace("\\ ", "\u{0}");
    sources
        .split_whitespace()
        .map(|source| PathBuf::from(source.replace('\u{0}', " ")))
        .find(|source| {
            std::fs::metadata(source)
                .and_then(|m| m.modified())
                .is_ok_and(|modified| modified > built)
        })
        .map(|source| format!("older than {}", source.display()))
}

/// Builds `binary`, which must be `<target dir>/<profile>/elevenfold`, with
/// `cargo build -p cli --bin elevenfold --target-dir <target dir> [--release | --profile P]`;
/// returns the command run.
/// It waits while another cargo holds that target directory's lock.
pub fn build_server(binary: &Path) -> Result<String, String> {
    let profile_dir = binary.parent().ok_or("the binary has no directory")?;
    let target_dir = profile_dir
        .parent()
        .ok_or("the binary is not in a target directory")?;
    let profile = profile_dir
        .file_name()
        .and_then(|name| name.to_str())
        .ok_or("the profile directory has no name")?;
    let mut args = vec!["build", "-p", "cli", "--bin", "elevenfold", "--target-dir"];
    let target = target_dir.to_string_lossy();
    args.push(&target);
    match profile {
        "debug" => {}
        "release" => args.push("--release"),
        other => args.extend(["--profile", other]),
    }
    let command = format!("cargo {}", args.join(" "));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(&args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .map_err(|error| format!("cannot run cargo: {error}"))?;
    if !status.success() {
        return Err(format!("`{command}` failed: {status}"));
    }
    if !binary.exists() {
        return Err(format!("{} missing after `{command}`", binary.display()));
    }
    Ok(command)
}
