//! The processes under test: `keyflow-mock`, nginx and keyflow, started as
//! children in their own process groups and killed when their guard drops
//! (on success, on error and on Ctrl-C alike).

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead as _, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

/// How long a child may take to say it listens.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A scratch directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> anyhow::Result<TempDir> {
        let path = std::env::temp_dir().join(format!("keyflow-bench-{}", std::process::id()));
        if path.exists() {
            std::fs::remove_dir_all(&path).with_context(|| format!("clearing {}", path.display()))?;
        }
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(TempDir(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running child. Dropping it kills its whole process group (nginx's
/// workers too) and reaps it.
pub struct Proc {
    pub name: String,
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Where its standard error (and output after the first line) goes.
    pub log: PathBuf,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn port(&self) -> anyhow::Result<u16> {
        let port = self.url.rsplit(':').next().and_then(|p| p.parse().ok());
        port.with_context(|| format!("no port in {}", self.url))
    }

    /// Whether it is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The last lines of its log, to explain a failure.
    pub fn log_tail(&self) -> String {
        tail(&self.log, 15)
    }

    fn kill(&mut self) {
        if !self.alive() {
            return;
        }
        if let Some(group) = i32::try_from(self.child.id()).ok().and_then(rustix::process::Pid::from_raw) {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
        let _ = self.child.kill();
        // SIGKILL cannot be ignored; the wait is bounded all the same.
        for _ in 0..200 {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        eprintln!("warning: {} (pid {}) did not exit after SIGKILL", self.name, self.child.id());
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The last `n` lines of a file.
fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Starts `command` in its own process group, with a clean environment, its
/// output going to `dir/NAME.log`, and waits for the first output line that
/// holds `http://`: the address it listens on.
fn spawn_listening(name: &str, mut command: Command, dir: &Path) -> anyhow::Result<Proc> {
    let log = dir.join(format!("{name}.log"));
    let stderr = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    command.current_dir(dir).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(stderr).process_group(0);
    let mut child = command.spawn().with_context(|| format!("starting {name} ({:?})", command.get_program()))?;
    let Some(stdout) = child.stdout.take() else { bail!("{name}: no stdout pipe") };
    let (tx, rx) = mpsc::channel();
    let rest_path = dir.join(format!("{name}.stdout.log"));
    // Reads the first line, then keeps draining stdout so a chatty child never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut first = String::new();
        let _ = reader.read_line(&mut first);
        let _ = tx.send(first);
        if let Ok(mut rest) = File::create(rest_path) {
            let _ = std::io::copy(&mut reader, &mut rest);
        }
    });
    let mut proc = Proc { name: name.to_owned(), child, url: String::new(), log };
    let line = match rx.recv_timeout(START_TIMEOUT) {
        Ok(line) => line,
        Err(_) => bail!("{name} printed nothing within {START_TIMEOUT:?}; log:\n{}", proc.log_tail()),
    };
    let Some(at) = line.find("http://") else {
        bail!("{name} did not start (first line {:?}); log:\n{}", line.trim(), proc.log_tail())
    };
    proc.url = line[at..].split_whitespace().next().unwrap_or_default().trim_end_matches('/').to_owned();
    Ok(proc)
}

/// A command with only `PATH` from the harness's environment, so stray
/// settings (`API_KEY`, `PORT`...) of the shell do not leak into a target.
fn clean_command(program: &Path) -> Command {
    let mut command = Command::new(program);
    command.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    command
}

/// How the fake upstream behaves.
#[derive(Debug, Clone)]
pub struct MockSetup {
    pub n_keys: usize,
    pub latency_ms: u64,
    pub stream_chunks: usize,
    pub chunk_interval_ms: u64,
}

/// Starts `keyflow-mock --fast`; its keys are written to `dir/NAME-keys.txt`.
pub fn start_mock(bin: &Path, dir: &Path, name: &str, setup: &MockSetup) -> anyhow::Result<(Proc, Vec<String>)> {
    let keys_path = dir.join(format!("{name}-keys.txt"));
    let mut command = clean_command(bin);
    command.args(["--bind", "127.0.0.1:0", "--fast"]);
    command.args(["--keys", &setup.n_keys.to_string()]);
    command.args(["--latency-ms", &setup.latency_ms.to_string()]);
    command.args(["--stream-chunks", &setup.stream_chunks.to_string()]);
    command.args(["--chunk-interval-ms", &setup.chunk_interval_ms.to_string()]);
    command.arg("--write-keys").arg(&keys_path);
    command.env("RUST_LOG", "warn");
    let proc = spawn_listening(name, command, dir)?;
    let keys: Vec<String> = std::fs::read_to_string(&keys_path)
        .with_context(|| format!("reading {}", keys_path.display()))?
        .lines()
        .map(str::to_owned)
        .collect();
    if keys.len() != setup.n_keys {
        bail!("{name} wrote {} keys, expected {}", keys.len(), setup.n_keys);
    }
    Ok((proc, keys))
}

/// The environment keyflow runs with in every phase.
pub struct KeyflowSetup<'a> {
    pub bin: &'a Path,
    pub upstream: &'a str,
    /// The database URL (`sqlite://…` or `postgres://…`).
    pub database: String,
    pub client_token: &'a str,
}

impl KeyflowSetup<'_> {
    fn command(&self) -> Command {
        let mut command = clean_command(self.bin);
        command
            .env("KEYFLOW_BIND", "127.0.0.1:0")
            .env("UPSTREAM_URL", self.upstream)
            .env("DATABASE_URL", &self.database)
            .env("API_KEY", self.client_token)
            .env("AUTO_REFRESH_INTERVAL", "0")
            .env("KEYFLOW_LOG", "warn");
        command
    }

    /// `keyflow keys import FILE --no-validate`; returns how long it took.
    pub fn import(&self, keys_file: &Path, dir: &Path) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let log = dir.join("keyflow-import.log");
        let out = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone().context("duplicating a file handle")?;
        let mut command = self.command();
        command.args(["keys", "import"]).arg(keys_file).arg("--no-validate");
        command.current_dir(dir).stdin(Stdio::null()).stdout(out).stderr(err).process_group(0);
        let mut child = command.spawn().context("starting keyflow keys import")?;
        let deadline = started + Duration::from_secs(600);
        loop {
            if let Some(status) = child.try_wait().context("waiting for keyflow keys import")? {
                if !status.success() {
                    bail!("keyflow keys import failed ({status}):\n{}", tail(&log, 15));
                }
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("keyflow keys import took over 10 minutes");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let report = std::fs::read_to_string(&log).unwrap_or_default();
        if !report.contains("added") {
            bail!("keyflow keys import printed no report:\n{}", tail(&log, 15));
        }
        Ok(started.elapsed())
    }

    pub fn start(&self, name: &str, dir: &Path) -> anyhow::Result<Proc> {
        spawn_listening(name, self.command(), dir)
    }
}

/// Where `nginx` is, if installed.
pub fn find_nginx() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into(), "/usr/local/nginx/sbin".into()])
        .map(|dir| dir.join("nginx"))
        .find(|candidate| candidate.is_file())
}

/// `nginx -v`, e.g. `nginx/1.22.1`.
pub fn nginx_version(bin: &Path) -> String {
    let out = Command::new(bin).arg("-v").output();
    let text = out.map(|o| String::from_utf8_lossy(&o.stderr).into_owned()).unwrap_or_default();
    text.trim().strip_prefix("nginx version: ").unwrap_or(text.trim()).to_owned()
}

/// A free loopback port (released again, so nginx can bind it right after).
fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr().context("reading a bound address")?.port())
}

/// The nginx.conf of the harness: a plain keep-alive reverse proxy that
/// streams (no buffering) and logs every request like a default install.
fn nginx_conf(dir: &Path, port: u16, upstream_port: u16, fd_limit: u64) -> String {
    let d = dir.display();
    let connections = fd_limit.saturating_sub(64).clamp(1024, 65_536);
    let mut conf = String::new();
    let _ = write!(
        conf,
        "daemon off;
worker_processes 2;
pid {d}/nginx.pid;
error_log {d}/nginx-error.log warn;
worker_rlimit_nofile {fd_limit};
events {{ worker_connections {connections}; }}
http {{
    access_log {d}/nginx-access.log;
    client_body_temp_path {d}/nginx-body;
    proxy_temp_path {d}/nginx-proxy;
    fastcgi_temp_path {d}/nginx-fastcgi;
    uwsgi_temp_path {d}/nginx-uwsgi;
    scgi_temp_path {d}/nginx-scgi;
    keepalive_requests 10000000;
    upstream mock {{
        server 127.0.0.1:{upstream_port};
        keepalive 1024;
        keepalive_requests 10000000;
    }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            proxy_pass http://mock;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_buffering off;
            proxy_read_timeout 300s;
        }}
    }}
}}
"
    );
    conf
}

/// Writes the harness's nginx.conf and runs `nginx -c CONF -p DIR` in front
/// of the mock on `upstream_port`; waits until it accepts connections.
pub fn start_nginx(bin: &Path, dir: &Path, upstream_port: u16, fd_limit: u64) -> anyhow::Result<Proc> {
    let port = free_port()?;
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, nginx_conf(dir, port, upstream_port, fd_limit))
        .with_context(|| format!("writing {}", conf_path.display()))?;
    let log = dir.join("nginx.log");
    let out = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let err = out.try_clone().context("duplicating a file handle")?;
    let mut command = clean_command(bin);
    command.arg("-c").arg(&conf_path).arg("-p").arg(dir).arg("-e").arg(dir.join("nginx-error.log"));
    command.current_dir(dir).stdin(Stdio::null()).stdout(out).stderr(err).process_group(0);
    let child = command.spawn().context("starting nginx")?;
    let mut proc = Proc { name: "nginx".to_owned(), child, url: format!("http://127.0.0.1:{port}"), log };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(proc);
        }
        if !proc.alive() || Instant::now() > deadline {
            let errors = tail(&dir.join("nginx-error.log"), 10);
            bail!("nginx did not start:\n{}\n{errors}", proc.log_tail());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `n` synthetic SiliconFlow-shaped keys (`sk-` + 48 letters), one per line,
/// for the memory figure with a large pool (they are never used upstream).
pub fn write_synthetic_keys(path: &Path, n: usize) -> anyhow::Result<()> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut text = String::with_capacity(n * 52);
    for _ in 0..n {
        text.push_str("sk-");
        for _ in 0..48 {
            // xorshift64*: plenty for distinct keys.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let letter = (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 59) as u8 % 26;
            text.push(char::from(b'a' + letter));
        }
        text.push('\n');
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_keys_are_distinct_and_shaped() {
        let dir = TempDir::new().expect("temp dir");
        let path = dir.path().join("k.txt");
        write_synthetic_keys(&path, 1000).expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        let keys: std::collections::HashSet<&str> = text.lines().collect();
        assert_eq!(keys.len(), 1000);
        assert!(keys.iter().all(|k| k.len() == 51 && k.starts_with("sk-")));
    }

    #[test]
    fn conf_mentions_the_essentials() {
        let conf = nginx_conf(Path::new("/tmp/x"), 8080, 9090, 20_000);
        for needle in
            ["daemon off;", "worker_processes 2;", "keepalive 1024;", "proxy_http_version 1.1;", "proxy_buffering off;"]
        {
            assert!(conf.contains(needle), "{needle}");
        }
        assert!(conf.contains("server 127.0.0.1:9090;") && conf.contains("listen 127.0.0.1:8080"));
    }
}
