//! What the harness reads off the machine: cores, CPU model, memory of a
//! process, the fd limit, the git commit, the date, and competing builds.

use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;

/// The machine a run happened on, as printed in the report.
#[derive(Debug, Clone)]
pub struct Machine {
    pub cores: usize,
    pub cpu_model: String,
    pub mem_total_gib: f64,
    pub kernel: String,
}

impl Machine {
    pub fn read() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|line| line.strip_prefix("model name").and_then(|rest| rest.split_once(':')))
            .map_or_else(|| "unknown CPU".to_owned(), |(_, model)| model.trim().to_owned());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_total_kib = status_field(&meminfo, "MemTotal").unwrap_or(0);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or_else(|_| "?".to_owned(), |s| s.trim().to_owned());
        Machine {
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            cpu_model,
            mem_total_gib: mem_total_kib as f64 / (1024.0 * 1024.0),
            kernel,
        }
    }

    pub fn describe(&self) -> String {
        format!("{} cores, {}, {:.0} GiB RAM, Linux {}", self.cores, self.cpu_model, self.mem_total_gib, self.kernel)
    }
}

/// A `Name:   1234 kB` field of `/proc/*/status` or `/proc/meminfo`, in KiB.
fn status_field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// Resident memory of a process, from `/proc/PID/status`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rss {
    /// `VmRSS`: resident now, in KiB.
    pub now_kib: u64,
    /// `VmHWM`: the peak resident size over the process's life, in KiB.
    pub peak_kib: u64,
}

pub fn rss_of(pid: u32) -> anyhow::Result<Rss> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    Ok(Rss { now_kib: status_field(&text, "VmRSS").unwrap_or(0), peak_kib: status_field(&text, "VmHWM").unwrap_or(0) })
}

/// CPU time (user + system) spent so far by `pids` together.
pub fn cpu_time(pids: &[u32]) -> std::time::Duration {
    let ticks_per_second = rustix::param::clock_ticks_per_second().max(1);
    let ticks: u64 = pids
        .iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter_map(|stat| {
            // Fields after the command name: state is the 1st, utime the 12th, stime the 13th.
            let rest = &stat[stat.rfind(')')? + 1..];
            let fields: Vec<&str> = rest.split_whitespace().collect();
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .sum();
    std::time::Duration::from_secs_f64(ticks as f64 / ticks_per_second as f64)
}

/// The direct children of `pid` (nginx's workers).
pub fn children_of(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.flatten()
        .filter_map(|entry| entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()))
        .filter(|&child| parent_of(child) == Some(pid))
        .collect()
}

/// Raises this process's soft fd limit to its hard limit (children inherit
/// it) and returns the new limit.
pub fn raise_fd_limit() -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let limit = getrlimit(Resource::Nofile);
    if limit.maximum.is_some() && limit.current != limit.maximum {
        let raised = rustix::process::Rlimit { current: limit.maximum, maximum: limit.maximum };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return limit.maximum.unwrap_or(u64::MAX);
        }
    }
    limit.current.unwrap_or(u64::MAX)
}

/// `git rev-parse --short HEAD`, with `+dirty` when tracked files differ
/// from it (the figures then belong to uncommitted code).
pub fn git_commit(root: &Path) -> String {
    let run = |args: &[&str]| Command::new("git").args(args).current_dir(root).output().ok();
    let Some(head) = run(&["rev-parse", "--short", "HEAD"]).filter(|o| o.status.success()) else {
        return "unknown".to_owned();
    };
    let head = String::from_utf8_lossy(&head.stdout).trim().to_owned();
    let dirty = run(&["diff", "--quiet", "HEAD", "--"]).is_some_and(|o| o.status.code() == Some(1));
    if dirty {
        format!("{head}+dirty")
    } else {
        head
    }
}

/// The current UTC time as `YYYY-MM-DD HH:MM UTC`.
pub fn utc_now() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02} UTC", rest / 3600, rest % 3600 / 60)
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Other compilers running on the machine (`cargo`, `rustc`, clippy),
/// excluding this process's ancestors (the `cargo run` that started it).
pub fn competing_builds() -> Vec<String> {
    let mut ancestors = Vec::new();
    let mut pid = std::process::id();
    for _ in 0..64 {
        ancestors.push(pid);
        match parent_of(pid) {
            Some(parent) if parent > 1 => pid = parent,
            _ => break,
        }
    }
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    let mut found = Vec::new();
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else { continue };
        if ancestors.contains(&pid) {
            continue;
        }
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        let comm = comm.trim();
        if matches!(comm, "cargo" | "rustc" | "clippy-driver" | "cargo-clippy" | "rustdoc") {
            found.push(format!("{comm} ({pid})"));
        }
    }
    found.sort();
    found
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last `)`.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// The 1-minute load average.
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }

    #[test]
    fn status_fields() {
        let text = "Name:\tkeyflow\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!(status_field(text, "VmRSS"), Some(10_240));
        assert_eq!(status_field(text, "VmHWM"), Some(20_480));
        assert_eq!(status_field(text, "VmSwap"), None);
    }

    #[test]
    fn own_cpu_time_grows() {
        let before = cpu_time(&[std::process::id()]);
        let started = std::time::Instant::now();
        let mut x = 0u64;
        while started.elapsed() < std::time::Duration::from_millis(50) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(cpu_time(&[std::process::id()]) > before);
    }

    #[test]
    fn own_memory_reads() {
        let rss = rss_of(std::process::id()).expect("own status");
        assert!(rss.now_kib > 0 && rss.peak_kib >= rss.now_kib);
    }
}
