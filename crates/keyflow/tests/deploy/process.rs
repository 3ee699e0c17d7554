//! Running the real binary with a given command line, environment and
//! working directory, and talking plain HTTP/1.1 to it. Everything waits
//! with a deadline.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long keyflow may take to start listening, or to refuse to.
pub const START_DEADLINE: Duration = Duration::from_secs(30);

/// A keyflow process, killed when dropped.
pub struct Running {
    child: Child,
    /// The address from keyflow's `keyflow listening on http://ADDR` line.
    pub addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
}

impl Running {
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Sends SIGTERM, as `docker stop` does, and waits up to `limit` for
    /// the exit; `None` (and the process killed) if it is still running then.
    pub fn terminate(mut self, limit: Duration) -> Option<ExitStatus> {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("kill -TERM");
        assert!(sent.success(), "kill -TERM {pid}");
        wait_with_deadline(&mut self.child, limit)
    }

    /// Stops the process and waits for it.
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(program: &Path, args: &[String], env: &BTreeMap<String, String>, cwd: &Path) -> Child {
    Command::new(program)
        .args(args)
        .env_clear()
        .envs(env)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()))
}

/// Collects a pipe into a shared string on a thread of its own, which ends
/// when the pipe closes.
fn collect(pipe: impl Read + Send + 'static) -> (Arc<Mutex<String>>, std::thread::JoinHandle<()>) {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&text);
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            // A poisoned lock still holds the text so far: keep appending
            // rather than silently dropping the lines a failure report needs.
            let mut s = sink.lock().unwrap_or_else(PoisonError::into_inner);
            s.push_str(&line);
            s.push('\n');
        }
    });
    (text, reader)
}

/// Starts keyflow and waits for the line saying where it listens.
pub fn start(program: &Path, args: &[String], env: &BTreeMap<String, String>, cwd: &Path) -> Running {
    let mut child = spawn(program, args, env, cwd);
    let stdout = child.stdout.take().expect("stdout");
    let (stderr, _) = collect(child.stderr.take().expect("stderr"));
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + START_DEADLINE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left.min(Duration::from_millis(200))) {
            Ok(line) => {
                if let Some(rest) = line.strip_prefix("keyflow listening on http://") {
                    let addr = rest.split_whitespace().next().unwrap_or_default();
                    let addr = addr.parse().unwrap_or_else(|_| panic!("listening line: {line}"));
                    return Running { child, addr, stderr };
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait().ok();
                let err = stderr.lock().unwrap_or_else(PoisonError::into_inner).clone();
                panic!("keyflow exited ({status:?}) before listening:\n{err}");
            }
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let err = stderr.lock().unwrap_or_else(PoisonError::into_inner).clone();
            panic!("keyflow did not listen within {START_DEADLINE:?}:\n{err}");
        }
    }
}

/// Runs keyflow expecting it to exit by itself; returns its status and stderr.
pub fn run_to_exit(
    program: &Path,
    args: &[String],
    env: &BTreeMap<String, String>,
    cwd: &Path,
) -> (ExitStatus, String) {
    let mut child = spawn(program, args, env, cwd);
    let _stdout = collect(child.stdout.take().expect("stdout"));
    let (stderr, reader) = collect(child.stderr.take().expect("stderr"));
    let status = wait_with_deadline(&mut child, START_DEADLINE)
        .unwrap_or_else(|| panic!("keyflow was still running after {START_DEADLINE:?}"));
    // The process is gone, so its end of the pipe is closed and the reader ends.
    let _ = reader.join();
    let text = stderr.lock().unwrap_or_else(PoisonError::into_inner).clone();
    (status, text)
}

/// The child's exit status, or `None` (and the child killed) past `limit`.
pub fn wait_with_deadline(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `GET path` with the given `Host`; status and body.
pub fn get(addr: SocketAddr, host: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response.split(' ').nth(1).and_then(|code| code.parse().ok());
    let status = status.ok_or_else(|| std::io::Error::other(format!("no status line in {response:?}")))?;
    let body = response.split_once("\r\n\r\n").map(|(_, body)| body.to_string()).unwrap_or_default();
    Ok((status, body))
}

/// Polls `GET path` until it answers, within the start deadline.
pub fn get_eventually(addr: SocketAddr, host: &str, path: &str) -> (u16, String) {
    let deadline = Instant::now() + START_DEADLINE;
    loop {
        match get(addr, host, path) {
            Ok(answer) => return answer,
            Err(e) if Instant::now() >= deadline => panic!("GET http://{addr}{path} (Host: {host}): {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// An address of this machine that is not loopback, if it has one: the
/// source address the kernel would use toward a private network. A UDP
/// `connect` only picks a route; nothing is sent.
pub fn non_loopback_ipv4() -> Option<std::net::IpAddr> {
    for target in ["192.0.2.1:9", "10.255.255.254:9", "172.16.0.1:9", "192.168.0.1:9"] {
        let Ok(socket) = UdpSocket::bind("0.0.0.0:0") else { continue };
        if socket.connect(target).is_err() {
            continue;
        }
        if let Ok(local) = socket.local_addr() {
            if !local.ip().is_loopback() && !local.ip().is_unspecified() {
                return Some(local.ip());
            }
        }
    }
    None
}

/// A local TCP port with nothing listening on it (bound, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}
