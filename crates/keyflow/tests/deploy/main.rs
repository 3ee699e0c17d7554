//! The deployment files in `deploy/` against the real binary.
//!
//! No image can be built here, so this proves what can be proved without
//! one. The Dockerfile is read (builder command, runtime `ENV`, `USER`,
//! `VOLUME`, `EXPOSE`, `ENTRYPOINT`/`CMD`, `HEALTHCHECK`), the compose
//! file is parsed as YAML, the systemd unit and the example environment
//! are read, and every value they share must agree. Then the real keyflow
//! binary runs with exactly the command line, environment and working
//! directory the image, Compose and the unit would give it, with three
//! substitutions: the `/data` (or `/var/lib/keyflow`) directory becomes a
//! temporary one, the port becomes 0 (a free one), and `UPSTREAM_URL`
//! points at a closed local port so that nothing reaches the internet.
//! The image's HEALTHCHECK command runs against it when `curl` is installed.
//! The cluster in `deploy/cluster/` (`cluster`) runs three binaries on one
//! PostgreSQL database behind nginx when nginx is installed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cluster;
// The store contract's fresh-database helper (PostgreSQL found or started).
#[allow(dead_code)]
#[path = "../store_contract/db.rs"]
mod db;
mod dockerfile;
mod formats;
mod nginx;
mod process;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use dockerfile::Stage;
use yaml_rust2::{Yaml, YamlLoader};

/// The container's state directory and the unit's, as the files name them.
const IMAGE_DATA: &str = "/data";
const UNIT_STATE: &str = "/var/lib/keyflow";
const REFUSAL: &str = "while the admin password is the default";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn keyflow() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_keyflow"))
}

/// The Dockerfile's global `ARG`s, its builder stage (the one the runtime
/// copies keyflow from) and its runtime stage (the last one).
fn image() -> (BTreeMap<String, String>, Stage, Stage) {
    let (args, stages) = dockerfile::parse(&read("deploy/Dockerfile"));
    let runtime = stages.last().expect("a stage").clone();
    let from = runtime
        .all("COPY")
        .find_map(|a| a.split_whitespace().find_map(|w| w.strip_prefix("--from=")).map(str::to_string))
        .expect("the runtime stage copies keyflow from a builder stage");
    let builder = stages.iter().find(|s| s.name.as_deref() == Some(&from)).expect("the builder stage").clone();
    (args, builder, runtime)
}

/// `${NAME}` in a `FROM` line, with the global `ARG` defaults.
fn substitute(text: &str, args: &BTreeMap<String, String>) -> String {
    args.iter().fold(text.to_string(), |text, (name, value)| text.replace(&format!("${{{name}}}"), value))
}

/// The path of a `sqlite://` database URL.
fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://").unwrap_or_else(|| panic!("not a sqlite:// URL: {url}"))
}

/// The environment with the state directory moved to `dir`, the port made
/// free and upstream pointed at a closed local port.
fn for_test(mut env: BTreeMap<String, String>, state: &str, dir: &Path) -> BTreeMap<String, String> {
    if let Some(url) = env.get_mut("DATABASE_URL") {
        let path = sqlite_path(url);
        let inside = path.strip_prefix(state).unwrap_or_else(|| panic!("{url} is not under {state}"));
        *url = format!("sqlite://{}{inside}", dir.display());
    }
    env.insert("PORT".into(), "0".into());
    env.insert("UPSTREAM_URL".into(), format!("http://127.0.0.1:{}", process::closed_port()));
    env
}

/// The image's binary and its arguments, the binary replaced by the one under test.
fn image_args(runtime: &Stage) -> Vec<String> {
    let line = runtime.command_line();
    let copied_to = runtime
        .all("COPY")
        .filter(|a| a.contains("--from="))
        .find_map(|a| a.split_whitespace().last().map(str::to_string))
        .expect("COPY --from");
    assert_eq!(line.first(), Some(&copied_to), "ENTRYPOINT runs the binary the runtime stage copies in");
    line[1..].to_vec()
}

fn health_is_ok(addr: SocketAddr, host: &str) {
    let (status, body) = process::get_eventually(addr, host, "/health");
    assert_eq!(status, 200, "GET /health (Host: {host}) at {addr}: {body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{body}: {e}"));
    assert_eq!(json["status"], "ok", "{body}");
    assert_eq!(json["database"], "ok", "{body}");
}

#[test]
fn dockerfile_builds_the_locked_workspace_and_runs_unprivileged() {
    let (args, builder, runtime) = image();
    let text = read("deploy/Dockerfile");

    assert!(
        builder.all("RUN").any(|r| r.contains("cargo build --release --locked -p keyflow")),
        "the builder runs cargo build --release --locked -p keyflow"
    );
    // Same Debian release on both sides: the binary links the builder's glibc.
    let builder_base = substitute(&builder.base, &args);
    let runtime_base = substitute(&runtime.base, &args);
    let release = runtime_base.strip_prefix("debian:").and_then(|b| b.strip_suffix("-slim")).expect("debian:*-slim");
    assert!(builder_base.starts_with("rust:") && builder_base.ends_with(&format!("-slim-{release}")), "{builder_base}");

    // The builder copies the whole workspace, and .dockerignore lets it through.
    let sources: Vec<String> = builder
        .all("COPY")
        .flat_map(|a| {
            let words: Vec<&str> = a.split_whitespace().filter(|w| !w.starts_with("--")).collect();
            words[..words.len() - 1].iter().map(|w| w.to_string()).collect::<Vec<_>>()
        })
        .collect();
    let manifest: toml::Value = read("Cargo.toml").parse().expect("Cargo.toml");
    let members = manifest["workspace"]["members"].as_array().expect("workspace members");
    for file in ["Cargo.toml", "Cargo.lock"] {
        assert!(sources.iter().any(|s| s == file), "the builder copies {file}");
    }
    for member in members.iter().filter_map(toml::Value::as_str) {
        assert!(sources.iter().any(|s| member.starts_with(s.trim_end_matches('/'))), "{member} is not copied");
    }
    let ignore = read(".dockerignore");
    let mut needed = vec!["Cargo.toml".to_string(), "Cargo.lock".to_string()];
    collect_files(&root(), Path::new("crates"), &mut needed);
    for path in &needed {
        assert!(!formats::docker_ignored(&ignore, path), ".dockerignore drops {path}, which the build reads");
    }
    for path in ["target/debug/keyflow", ".git/HEAD", "data/keyflow.db", "deploy/.env", "README.md"] {
        assert!(formats::docker_ignored(&ignore, path), ".dockerignore sends {path} to the builder");
    }

    // Unprivileged, and the user exists in the image.
    let user = runtime.last("USER").expect("USER");
    let uid = user.split(':').next().unwrap_or(user);
    assert!(uid != "0" && uid != "root", "runs as root: USER {user}");
    assert!(runtime.all("RUN").any(|r| r.contains(&format!("--uid {uid}"))), "no user with uid {uid} is created");

    // No password baked in: the operator must give ADMIN_PASSWORD.
    for stage in [&builder, &runtime] {
        for i in stage.instructions.iter().filter(|i| i.keyword == "ENV" || i.keyword == "ARG") {
            assert!(!i.args.contains("ADMIN_PASSWORD"), "{} {}", i.keyword, i.args);
        }
    }
    assert!(!args.contains_key("ADMIN_PASSWORD"));

    let env = runtime.env();
    assert_eq!(env.get("HOST").map(String::as_str), Some("0.0.0.0"));
    let port = env.get("PORT").expect("PORT");
    assert_eq!(runtime.last("EXPOSE"), Some(port.as_str()), "EXPOSE is the port keyflow listens on");
    let volumes = dockerfile::volumes(runtime.last("VOLUME").expect("VOLUME"));
    assert_eq!(volumes, [IMAGE_DATA]);
    let db = sqlite_path(env.get("DATABASE_URL").expect("DATABASE_URL"));
    assert!(db.starts_with(&format!("{IMAGE_DATA}/")), "the database {db} is outside the volume");
    assert_eq!(runtime.last("WORKDIR"), Some(IMAGE_DATA));

    let check = dockerfile::health_check(runtime.last("HEALTHCHECK").expect("HEALTHCHECK"));
    let timeout = dockerfile::duration(check.options.get("timeout").expect("--timeout"));
    let script = check.command.join(" ");
    assert!(script.contains("127.0.0.1:${PORT:-") && script.contains("/health"), "{script}");
    let max_time = script.split("--max-time ").nth(1).and_then(|t| t.split_whitespace().next());
    let max_time: u64 = max_time.and_then(|t| t.parse().ok()).expect("curl --max-time N");
    assert!(Duration::from_secs(max_time) < timeout, "curl gives up after the HEALTHCHECK timeout");
    assert!(text.contains("EXPOSE 7898"), "the documented port");
}

/// Every file under `dir` (relative to `root`), build output excluded.
fn collect_files(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(root.join(dir)).expect("read dir") {
        let entry = entry.expect("entry");
        let rel = dir.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            if entry.file_name() != "target" {
                collect_files(root, &rel, out);
            }
        } else {
            out.push(rel.to_string_lossy().into_owned());
        }
    }
}

#[test]
fn the_image_refuses_to_start_without_admin_password() {
    let (_, _, runtime) = image();
    let dir = tempfile::tempdir().expect("tempdir");
    let env = for_test(runtime.env(), IMAGE_DATA, dir.path());
    let (status, stderr) = process::run_to_exit(keyflow(), &image_args(&runtime), &env, dir.path());
    assert!(!status.success(), "keyflow started on 0.0.0.0 with the default password:\n{stderr}");
    assert!(stderr.contains("refusing to listen on 0.0.0.0:") && stderr.contains(REFUSAL), "{stderr}");
    assert!(stderr.contains("set ADMIN_PASSWORD"), "the message says what to do: {stderr}");
}

#[test]
fn compose_requires_a_password_and_serves_on_every_interface() {
    let (_, _, runtime) = image();
    let compose = YamlLoader::load_from_str(&read("deploy/docker-compose.yml")).expect("compose YAML");
    let compose = &compose[0];
    let services = compose["services"].as_hash().expect("services");
    assert_eq!(services.len(), 1, "one service");
    let service = &compose["services"]["keyflow"];
    assert!(!service.is_badvalue(), "the service is called keyflow");

    // Builds this repository's Dockerfile.
    let context = root().join("deploy").join(service["build"]["context"].as_str().expect("build.context"));
    let dockerfile = context.join(service["build"]["dockerfile"].as_str().expect("build.dockerfile"));
    assert_eq!(dockerfile.canonicalize().ok(), root().join("deploy/Dockerfile").canonicalize().ok());
    assert_eq!(context.canonicalize().ok(), root().canonicalize().ok(), "the context is the repository root");

    // The image's volume is a named volume; the published port is the image's.
    let volumes = service["volumes"].as_vec().expect("volumes");
    let data = volumes.iter().filter_map(Yaml::as_str).find_map(|v| v.strip_suffix(&format!(":{IMAGE_DATA}")));
    let data = data.expect("a volume on /data");
    let declared = compose["volumes"].as_hash().expect("top-level volumes");
    assert!(declared.contains_key(&Yaml::String(data.to_string())), "volume {data} is not declared");
    let ports = service["ports"].as_vec().expect("ports");
    let image_port = runtime.last("EXPOSE").expect("EXPOSE");
    for port in ports {
        let port = port.as_str().expect("ports as strings");
        let container = port.rsplit(':').next().unwrap_or(port).trim_end_matches("/tcp");
        assert_eq!(container, image_port, "{port} does not reach the port keyflow listens on");
    }
    let grace = dockerfile::duration(service["stop_grace_period"].as_str().expect("stop_grace_period"));
    assert!(grace > Duration::from_secs(30), "keyflow drains for up to 30 s; stop_grace_period {grace:?}");

    // env_file is .env beside the compose file, the example copied there.
    let env_files = service["env_file"].as_vec().expect("env_file");
    let env_file = &env_files[0];
    assert_eq!(env_file["path"].as_str().or(env_file.as_str()), Some(".env"));
    let example = formats::env_file(&read("deploy/keyflow.env.example"));
    let dot_env: BTreeMap<String, String> =
        example.iter().filter(|l| l.active).map(|l| (l.name.clone(), l.value.clone())).collect();

    // The password is required: the example as shipped does not start.
    let environment = service["environment"].as_hash().expect("environment as a mapping");
    let interpolate = |env: &BTreeMap<String, String>| -> Result<BTreeMap<String, String>, String> {
        let mut out = BTreeMap::new();
        for (name, value) in environment {
            let (name, value) = (name.as_str().expect("name"), value.as_str().unwrap_or_default());
            out.insert(name.to_string(), formats::interpolate(value, env)?);
        }
        Ok(out)
    };
    let refused = interpolate(&dot_env).expect_err("compose up without ADMIN_PASSWORD must stop");
    assert!(refused.contains("ADMIN_PASSWORD") && refused.contains("set ADMIN_PASSWORD"), "{refused}");
    assert!(interpolate(&BTreeMap::new()).is_err());

    // With it: image ENV < env_file < environment, as Compose merges them.
    let mut dot_env = dot_env;
    dot_env.insert("ADMIN_PASSWORD".into(), "a strong password".into());
    let mut env = runtime.env();
    env.extend(dot_env.clone());
    env.extend(interpolate(&dot_env).expect("interpolation"));
    assert_eq!(env.get("ADMIN_PASSWORD").map(String::as_str), Some("a strong password"));
    let dir = tempfile::tempdir().expect("tempdir");
    let env = for_test(env, IMAGE_DATA, dir.path());
    let gateway = process::start(keyflow(), &image_args(&runtime), &env, dir.path());
    assert!(gateway.addr.ip().is_unspecified(), "listens on {} instead of every interface", gateway.addr);
    let port = gateway.addr.port();

    let loopback = SocketAddr::from(([127, 0, 0, 1], port));
    health_is_ok(loopback, &loopback.to_string());
    match process::non_loopback_ipv4() {
        Some(ip) => health_is_ok(SocketAddr::new(ip, port), &SocketAddr::new(ip, port).to_string()),
        None => eprintln!("no non-loopback address on this machine: served on 0.0.0.0 checked by the address only"),
    }
    // HOST=0.0.0.0 without ALLOWED_HOSTS: any name is served (docs/SECURITY.md).
    health_is_ok(loopback, "keyflow.example.com");
    assert!(dir.path().join("keyflow.db").exists(), "the database is in the volume");

    health_check_passes_then_fails(&runtime, &env, gateway);
}

/// Runs the image's HEALTHCHECK against the running gateway (healthy), then
/// once it is stopped (unhealthy), each within the check's timeout.
fn health_check_passes_then_fails(runtime: &Stage, env: &BTreeMap<String, String>, gateway: process::Running) {
    let curl = Command::new("curl").arg("--version").output().is_ok_and(|o| o.status.success());
    if !curl {
        eprintln!("curl is not installed here: the HEALTHCHECK command was not run");
        return;
    }
    let check = dockerfile::health_check(runtime.last("HEALTHCHECK").expect("HEALTHCHECK"));
    let timeout = dockerfile::duration(check.options.get("timeout").expect("--timeout"));
    let mut env = env.clone();
    env.insert("PORT".into(), gateway.addr.port().to_string());
    env.insert("PATH".into(), std::env::var("PATH").unwrap_or_default());
    let run = |env: &BTreeMap<String, String>| {
        let mut child = Command::new(&check.command[0])
            .args(&check.command[1..])
            .env_clear()
            .envs(env)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("run the HEALTHCHECK");
        process::wait_with_deadline(&mut child, timeout).expect("the HEALTHCHECK outlived its timeout")
    };
    let healthy = run(&env);
    assert_eq!(healthy.code(), Some(0), "HEALTHCHECK against a running keyflow: {healthy:?}\n{}", gateway.stderr());
    gateway.stop();
    let unhealthy = run(&env);
    assert_eq!(unhealthy.code(), Some(1), "HEALTHCHECK against a stopped keyflow: {unhealthy:?}");
}

#[test]
fn systemd_unit_is_confined_and_serves_on_loopback() {
    let unit = formats::unit_file(&read("deploy/keyflow.service"));
    let all = |section: &str, key: &str| -> Vec<String> {
        unit.iter().filter(|(s, k, _)| s == section && k == key).map(|(_, _, v)| v.clone()).collect()
    };
    let one = |section: &str, key: &str| -> String {
        let values = all(section, key);
        assert_eq!(values.len(), 1, "[{section}] {key}= appears {} times", values.len());
        values[0].clone()
    };
    assert!(!one("Unit", "Description").is_empty());
    assert_eq!(one("Install", "WantedBy"), "multi-user.target");

    let user = one("Service", "User");
    assert!(!user.is_empty() && user != "root" && user != "0", "User={user}");
    assert_eq!(one("Service", "StateDirectory"), "keyflow");
    assert_eq!(format!("/var/lib/{}", one("Service", "StateDirectory")), UNIT_STATE);
    assert_eq!(one("Service", "WorkingDirectory"), UNIT_STATE);
    assert_eq!(one("Service", "EnvironmentFile"), "-/etc/keyflow/keyflow.env");
    for (key, value) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("CapabilityBoundingSet", ""),
    ] {
        assert_eq!(one("Service", key), value, "{key}");
    }
    let writable: Vec<String> = all("Service", "ReadWritePaths").iter().flat_map(|v| words(v)).collect();
    assert!(writable.iter().any(|p| p == UNIT_STATE), "ReadWritePaths lacks {UNIT_STATE}");
    let stop = dockerfile::duration(&one("Service", "TimeoutStopSec"));
    assert!(stop > Duration::from_secs(30), "keyflow drains for up to 30 s; TimeoutStopSec {stop:?}");

    // ExecStart runs the binary where the image and the README install it.
    let exec = words(&one("Service", "ExecStart"));
    let (_, _, runtime) = image();
    assert_eq!(exec.first(), runtime.command_line().first(), "ExecStart and the image run the same path");
    assert!(exec[0].starts_with('/'), "ExecStart needs an absolute path");
    let readme = read("README.md");
    assert!(readme.contains(&exec[0]), "the README installs the binary as {}", exec[0]);

    // Environment=, then the EnvironmentFile (the example as installed).
    let mut env = BTreeMap::new();
    for assignment in all("Service", "Environment").iter().flat_map(|v| words(v)) {
        let (name, value) = assignment.split_once('=').expect("NAME=value");
        env.insert(name.to_string(), value.to_string());
    }
    let db = sqlite_path(env.get("DATABASE_URL").expect("Environment=DATABASE_URL")).to_string();
    assert!(db.starts_with(&format!("{UNIT_STATE}/")), "the database {db} is outside ReadWritePaths");
    let example = formats::env_file(&read("deploy/keyflow.env.example"));
    env.extend(example.into_iter().filter(|l| l.active).map(|l| (l.name, l.value)));

    let dir = tempfile::tempdir().expect("tempdir");
    let env = for_test(env, UNIT_STATE, dir.path());
    let gateway = process::start(keyflow(), &exec[1..], &env, dir.path());
    assert!(gateway.addr.ip().is_loopback(), "the unit as shipped listens on {}", gateway.addr);
    health_is_ok(gateway.addr, &gateway.addr.to_string());
    // A loopback bind serves only loopback names and ALLOWED_HOSTS.
    let (status, _) = process::get(gateway.addr, "keyflow.example.com", "/health").expect("GET");
    assert_eq!(status, 403, "a foreign Host on a loopback bind");
    assert!(dir.path().join("keyflow.db").exists(), "the database is in the state directory");
}

/// A systemd value split into words (no quoting is used in the unit).
fn words(value: &str) -> Vec<String> {
    assert!(!value.contains('"') && !value.contains('\''), "quoted values are not expected: {value}");
    value.split_whitespace().map(str::to_string).collect()
}

#[test]
fn example_environment_names_are_keyflow_settings() {
    let lines = formats::env_file(&read("deploy/keyflow.env.example"));
    let known: Vec<&str> = keyflow::config::catalog::SETTINGS.iter().flat_map(|s| s.env.iter().copied()).collect();
    for line in &lines {
        assert!(known.contains(&line.name.as_str()), "{} is not a keyflow setting", line.name);
        // systemd keeps a trailing comment as part of the value.
        assert!(!line.active || !line.value.contains('#'), "{}: comments go on their own line", line.name);
    }
    let password = lines.iter().find(|l| l.name == "ADMIN_PASSWORD" && l.active).expect("an ADMIN_PASSWORD line");
    assert!(password.value.is_empty(), "the example must not carry a password the operator might keep");
}
