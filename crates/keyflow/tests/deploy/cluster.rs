//! The cluster in `deploy/cluster/`: PostgreSQL, three keyflow instances and
//! nginx. The compose file is read with its merge keys resolved and
//! interpolated as Compose does with the example `.env` filled in: every
//! instance builds this repository's image, reaches the one database under
//! a name of its own, and only nginx publishes a port. nginx.conf is read
//! for what keyflow needs of the proxy in front of it and checked with
//! `nginx -t`; then it serves for real: three keyflow binaries with the
//! compose environment on one PostgreSQL database behind nginx, one of them
//! drained with SIGTERM and brought back, as the README tells operators.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use keyflow::config::catalog;
use yaml_rust2::{Yaml, YamlLoader};

use crate::{dockerfile, formats, image, image_args, keyflow, nginx, process, read, root, IMAGE_DATA};

const COMPOSE: &str = "deploy/cluster/compose.yaml";
const NGINX_CONF: &str = "deploy/cluster/nginx.conf";
const ENV_EXAMPLE: &str = "deploy/cluster/.env.example";
const INSTANCES: [&str; 3] = ["keyflow-1", "keyflow-2", "keyflow-3"];
/// Where the official postgres:16 image keeps its cluster.
const PG_DATA: &str = "/var/lib/postgresql/data";
/// The first nginx whose upstream `server` takes `resolve`.
const NGINX_RESOLVE: [u32; 3] = [1, 27, 3];
/// What the operator must set in `.env`, and what these tests set it to.
const REQUIRED: [(&str, &str); 3] = [
    ("POSTGRES_PASSWORD", "pg0123456789abcdef"),
    ("KEYFLOW_SECRET", "cluster-secret-0123456789"),
    ("ADMIN_PASSWORD", "a strong password"),
];
/// The public name the tests give the cluster (`KEYFLOW_HOSTS`).
const PUBLIC_NAME: &str = "keyflow.example.com";

fn compose() -> Yaml {
    let docs = YamlLoader::load_from_str(&read(COMPOSE)).expect("compose YAML");
    formats::merge_keys(&docs[0])
}

fn compose_dir() -> PathBuf {
    root().join("deploy/cluster")
}

/// A scalar as Compose sees it in an environment mapping.
fn scalar(yaml: &Yaml) -> String {
    match yaml {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(n) => n.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        Yaml::Null => String::new(),
        other => panic!("not a scalar: {other:?}"),
    }
}

fn strings(yaml: &Yaml) -> Vec<String> {
    yaml.as_vec().map(|v| v.iter().map(scalar).collect()).unwrap_or_default()
}

/// The example `.env` as shipped: its active assignments.
fn example() -> BTreeMap<String, String> {
    let lines = formats::env_file(&read(ENV_EXAMPLE));
    lines.into_iter().filter(|l| l.active).map(|l| (l.name, l.value)).collect()
}

/// The example `.env` as the operator fills it in.
fn filled() -> BTreeMap<String, String> {
    let mut vars = example();
    vars.extend(REQUIRED.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    vars.insert("KEYFLOW_HOSTS".into(), PUBLIC_NAME.into());
    vars
}

/// A service's `environment` mapping, interpolated with `vars`.
fn environment(service: &Yaml, vars: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>, String> {
    let mapping = service["environment"].as_hash().expect("environment as a mapping");
    let mut out = BTreeMap::new();
    for (name, value) in mapping {
        out.insert(scalar(name), formats::interpolate(&scalar(value), vars)?);
    }
    Ok(out)
}

/// What keyflow runs with in an instance's container: the image's `ENV`,
/// then the `.env` file (`env_file`), then `environment`, as Compose merges them.
fn instance_env(service: &Yaml, vars: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let (_, _, runtime) = image();
    let mut env = runtime.env();
    env.extend(vars.clone());
    env.extend(environment(service, vars).expect("interpolation"));
    env
}

/// The named volume a service mounts on `target`, if any.
fn named_volume_on(service: &Yaml, target: &str) -> Option<String> {
    strings(&service["volumes"]).into_iter().find_map(|v| {
        let mut parts = v.split(':');
        let (source, mounted) = (parts.next()?, parts.next()?);
        let named = !source.starts_with(['.', '/', '~']);
        (named && mounted == target).then(|| source.to_string())
    })
}

fn service_names(doc: &Yaml) -> BTreeSet<String> {
    doc["services"].as_hash().expect("services").keys().map(scalar).collect()
}

#[test]
fn cluster_compose_runs_postgres_three_instances_and_nginx() {
    let doc = compose();
    let (_, _, runtime) = image();
    let expected: BTreeSet<String> =
        ["postgres", "nginx"].iter().chain(INSTANCES.iter()).map(|s| s.to_string()).collect();
    assert_eq!(service_names(&doc), expected);
    let declared = doc["volumes"].as_hash().expect("top-level volumes");
    let is_declared = |name: &str| declared.contains_key(&Yaml::String(name.to_string()));

    // Only nginx is reachable from outside.
    for name in service_names(&doc).iter().filter(|n| *n != "nginx") {
        let service = &doc["services"][name.as_str()];
        assert!(service["ports"].is_badvalue(), "{name} publishes a port: only nginx may");
        assert!(service["network_mode"].is_badvalue(), "{name} sets network_mode");
    }

    // PostgreSQL 16, its data in a named volume, healthy once it accepts connections.
    let postgres = &doc["services"]["postgres"];
    assert_eq!(postgres["image"].as_str(), Some("postgres:16"));
    let pg_volume = named_volume_on(postgres, PG_DATA).expect("a named volume on the PostgreSQL data directory");
    assert!(is_declared(&pg_volume), "volume {pg_volume} is not declared");
    let pg_check = strings(&postgres["healthcheck"]["test"]).join(" ");
    assert!(pg_check.contains("pg_isready"), "{pg_check}");
    let refused = environment(postgres, &example()).expect_err("PostgreSQL without a password must not start");
    assert!(refused.contains("POSTGRES_PASSWORD"), "{refused}");
    let pg_env = environment(postgres, &filled()).expect("interpolation");

    // Three instances of one image, built from this repository.
    let mut names = BTreeSet::new();
    let mut images = BTreeSet::new();
    let mut data_volumes = BTreeSet::new();
    let mut pool_sizes = Vec::new();
    for instance in INSTANCES {
        let service = &doc["services"][instance];
        let context = compose_dir().join(service["build"]["context"].as_str().expect("build.context"));
        let dockerfile = context.join(service["build"]["dockerfile"].as_str().expect("build.dockerfile"));
        assert_eq!(
            context.canonicalize().ok(),
            root().canonicalize().ok(),
            "{instance}: the context is the repository root"
        );
        assert_eq!(dockerfile.canonicalize().ok(), root().join("deploy/Dockerfile").canonicalize().ok());
        images.insert(service["image"].as_str().expect("image").to_string());

        let condition = service["depends_on"]["postgres"]["condition"].as_str();
        assert_eq!(condition, Some("service_healthy"), "{instance} starts once PostgreSQL is healthy");
        let grace = dockerfile::duration(service["stop_grace_period"].as_str().expect("stop_grace_period"));
        assert!(
            grace > Duration::from_secs(30),
            "keyflow drains for up to 30 s; {instance} stop_grace_period {grace:?}"
        );
        let env_file = &service["env_file"][0];
        assert_eq!(env_file["path"].as_str().or(env_file.as_str()), Some(".env"), "{instance}: env_file is the .env");

        // The health check asks /health on the port the image listens on.
        let check = strings(&service["healthcheck"]["test"]);
        let check = formats::interpolate(&check.join(" "), &filled()).expect("healthcheck");
        let port = runtime.env().get("PORT").cloned().expect("PORT");
        assert!(check.contains(&format!("http://127.0.0.1:${{PORT:-{port}}}/health")), "{instance}: {check}");

        // A service's own `environment` replaces the shared one unless it merges it in.
        let own = environment(service, &filled()).expect("interpolation");
        for name in ["DATABASE_URL", "KEYFLOW_SECRET", "ADMIN_PASSWORD", "ALLOWED_HOSTS", "INSTANCE_NAME"] {
            assert!(own.contains_key(name), "{instance}: the environment lacks {name}");
        }

        // Nothing starts without the passwords and the secret.
        for (required, _) in REQUIRED {
            let mut vars = filled();
            vars.insert(required.to_string(), String::new());
            let refused = environment(service, &vars).expect_err("a required variable left empty");
            assert!(refused.contains(required) && refused.contains("set "), "{instance}: {refused}");
        }

        let env = instance_env(service, &filled());
        let known: Vec<&str> = catalog::SETTINGS.iter().flat_map(|s| s.env.iter().copied()).collect();
        for name in environment(service, &filled()).expect("interpolation").keys() {
            assert!(known.contains(&name.as_str()), "{instance}: {name} is not a keyflow setting");
        }
        assert_eq!(env.get("INSTANCE_NAME").map(String::as_str), Some(instance), "{instance}: INSTANCE_NAME");
        names.insert(env["INSTANCE_NAME"].clone());
        for (name, value) in REQUIRED.iter().filter(|(name, _)| *name != "POSTGRES_PASSWORD") {
            assert_eq!(env.get(*name).map(String::as_str), Some(*value), "{instance}: {name}");
        }
        assert_eq!(env.get("HOST").map(String::as_str), Some("0.0.0.0"), "{instance} listens for nginx");

        // The database URL names the postgres service, its user, password and database.
        let url = reqwest::Url::parse(&env["DATABASE_URL"]).expect("DATABASE_URL is a URL");
        assert_eq!(url.scheme(), "postgres", "{instance}: {url}");
        assert_eq!(url.host_str(), Some("postgres"), "{instance}: the database is the postgres service");
        assert_eq!(url.port(), Some(5432));
        assert_eq!(url.username(), pg_env["POSTGRES_USER"]);
        assert_eq!(url.password(), Some(pg_env["POSTGRES_PASSWORD"].as_str()));
        assert_eq!(url.path(), format!("/{}", pg_env["POSTGRES_DB"]));

        // The public name reaches ALLOWED_HOSTS; unset, only loopback names are served.
        assert_eq!(env.get("ALLOWED_HOSTS").map(String::as_str), Some(PUBLIC_NAME));
        let mut unnamed = filled();
        unnamed.insert("KEYFLOW_HOSTS".into(), String::new());
        assert_eq!(environment(service, &unnamed).expect("interpolation")["ALLOWED_HOSTS"], "localhost");

        // A volume of its own on /data, where its log journal is.
        let data = named_volume_on(service, IMAGE_DATA).expect("a named volume on /data");
        assert!(is_declared(&data), "volume {data} is not declared");
        data_volumes.insert(data);
        let journal = env.get("LOG_JOURNAL").expect("LOG_JOURNAL");
        assert!(
            journal.starts_with(&format!("{IMAGE_DATA}/")),
            "{instance}: the log journal {journal} is outside /data"
        );

        let pool = env.get("DATABASE_POOL_SIZE").map_or(catalog::DATABASE_POOL_SIZE.default, String::as_str);
        pool_sizes.push(pool.parse::<u32>().expect("DATABASE_POOL_SIZE"));
    }
    assert_eq!(names.len(), INSTANCES.len(), "every instance has a name of its own");
    assert_eq!(images.len(), 1, "one image for every instance: {images:?}");
    assert_eq!(data_volumes.len(), INSTANCES.len(), "every instance has a /data volume of its own");

    // PostgreSQL takes every instance's pool plus its listener and leader connections.
    let command = strings(&postgres["command"]);
    let max: u32 = command
        .iter()
        .find_map(|a| a.strip_prefix("max_connections="))
        .and_then(|n| n.parse().ok())
        .expect("postgres -c max_connections=N");
    let needed: u32 = pool_sizes.iter().map(|pool| pool + 2).sum();
    assert!(max > needed, "max_connections {max} leaves no headroom over the instances' {needed}");

    // nginx: the published port is the one nginx.conf listens on, the file is mounted read-only.
    let proxy = &doc["services"]["nginx"];
    let ports = strings(&proxy["ports"]);
    assert_eq!(ports.len(), 1, "nginx publishes one port: {ports:?}");
    let container_port = ports[0].rsplit(':').next().unwrap_or_default().trim_end_matches("/tcp").to_string();
    assert_eq!(container_port, listen_port(&nginx::parse(&read(NGINX_CONF))).to_string(), "{ports:?}");
    let mounts = strings(&proxy["volumes"]);
    let conf =
        mounts.iter().find_map(|m| m.strip_suffix(":/etc/nginx/nginx.conf:ro")).expect("nginx.conf mounted read-only");
    assert_eq!(compose_dir().join(conf).canonicalize().ok(), root().join(NGINX_CONF).canonicalize().ok());
    let image = proxy["image"].as_str().expect("nginx image");
    assert!(image.starts_with("nginx:"), "{image}: the official nginx image");
    if read(NGINX_CONF).contains(" resolve") {
        let version = nginx::tag_version(image).expect("a versioned nginx tag");
        assert!(version >= NGINX_RESOLVE.to_vec(), "{image} predates `resolve` in upstream servers (1.27.3)");
    }

    // The filled-in .env never reaches the image.
    assert!(
        formats::docker_ignored(&read(".dockerignore"), "deploy/cluster/.env"),
        ".dockerignore sends deploy/cluster/.env"
    );
}

#[test]
fn cluster_env_example_names_what_compose_reads() {
    let text = read(COMPOSE);
    let mut read_by_compose = BTreeSet::new();
    for piece in text.split("${").skip(1) {
        let name: String = piece.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        // `$${PORT...}` reaches the container's shell, not Compose.
        if !name.is_empty() && !text.contains(&format!("$${{{name}")) {
            read_by_compose.insert(name);
        }
    }
    let lines = formats::env_file(&read(ENV_EXAMPLE));
    let in_example: BTreeSet<String> = lines.iter().map(|l| l.name.clone()).collect();
    assert_eq!(
        read_by_compose,
        lines.iter().filter(|l| l.active).map(|l| l.name.clone()).collect(),
        "the example sets exactly what compose.yaml reads"
    );
    let known: Vec<&str> = catalog::SETTINGS.iter().flat_map(|s| s.env.iter().copied()).collect();
    for name in in_example.difference(&read_by_compose) {
        assert!(known.contains(&name.as_str()), "{name} is neither read by compose.yaml nor a keyflow setting");
    }
    for line in &lines {
        assert!(!line.active || !line.value.contains('#'), "{}: comments go on their own line", line.name);
    }
    for (name, _) in REQUIRED {
        let shipped = example().get(name).cloned().unwrap_or_default();
        assert!(shipped.is_empty(), "the example must not carry a {name} the operator might keep");
    }
}

/// The port of the server's `listen`.
fn listen_port(conf: &nginx::Directive) -> u16 {
    let listen = conf.one("http").one("server").value("listen");
    let port = listen.split_whitespace().next().and_then(|a| a.rsplit(':').next()).unwrap_or_default();
    port.parse().unwrap_or_else(|_| panic!("listen {listen}"))
}

#[test]
fn nginx_balances_the_instances_streams_and_retries_only_what_is_safe() {
    let conf = nginx::parse(&read(NGINX_CONF));
    let http = conf.one("http");
    let doc = compose();
    let (_, _, runtime) = image();
    let port = runtime.env().get("PORT").cloned().expect("PORT");

    // Every instance, on the port the image listens on, with passive health checks.
    let upstream = http.one("upstream");
    let servers: Vec<&nginx::Directive> = upstream.all("server").collect();
    let hosts: BTreeSet<String> = servers.iter().map(|s| s.args[0].clone()).collect();
    let wanted: BTreeSet<String> = INSTANCES.iter().map(|i| format!("{i}:{port}")).collect();
    assert_eq!(hosts, wanted, "the upstream is every keyflow service of compose.yaml");
    for instance in INSTANCES {
        assert!(!doc["services"][instance].is_badvalue());
    }
    for server in &servers {
        let has = |p: &str| server.args.iter().any(|a| a.starts_with(p));
        assert!(has("max_fails=") && has("fail_timeout="), "passive health checks: {:?}", server.args);
        if server.args.iter().any(|a| a == "resolve") {
            assert!(!upstream.value("zone").is_empty(), "`resolve` needs the upstream in a shared zone");
            assert!(http.value("resolver").starts_with("127.0.0.11"), "`resolve` needs Docker's DNS as resolver");
        }
    }
    assert!(upstream.value("keepalive").parse::<u32>().expect("keepalive N") >= 16, "keep-alive to the instances");
    // nginx closes idle connections before keyflow does, never sending on one keyflow is closing.
    let idle = nginx::millis(&upstream.value("keepalive_timeout"));
    let header_timeout: u64 = catalog::HEADER_TIMEOUT.default.parse().expect("HEADER_TIMEOUT default");
    assert!(idle < header_timeout * 1000, "upstream keepalive_timeout {idle} ms outlives keyflow's {header_timeout} s");

    let server = http.one("server");
    let location = server.all("location").find(|l| l.args == ["/"]).expect("location /");
    assert_eq!(location.value("proxy_pass"), format!("http://{}", upstream.args[0]));
    assert_eq!(location.value("proxy_http_version"), "1.1");
    let headers: BTreeMap<String, String> = location
        .all("proxy_set_header")
        .map(|h| (h.args[0].to_ascii_lowercase(), h.args.get(1).cloned().unwrap_or_default()))
        .collect();
    assert_eq!(headers.get("connection").map(String::as_str), Some(""), "keep-alive needs Connection cleared");
    assert_eq!(headers.get("host").map(String::as_str), Some("$host"), "keyflow checks Host against ALLOWED_HOSTS");
    assert_eq!(headers.get("x-forwarded-for").map(String::as_str), Some("$proxy_add_x_forwarded_for"));
    assert_eq!(
        headers.get("x-forwarded-proto").map(String::as_str),
        Some("$scheme"),
        "console cookies are Secure over TLS"
    );

    // Streams flow as they come, in both directions, and long answers are waited for.
    assert_eq!(location.value("proxy_buffering"), "off");
    assert_eq!(location.value("proxy_request_buffering"), "off");
    let read_timeout = nginx::millis(&location.value("proxy_read_timeout"));
    for setting in [catalog::FIRST_BYTE_TIMEOUT, catalog::IDLE_TIMEOUT] {
        let secs: u64 = setting.default.parse().expect("seconds");
        assert!(read_timeout > secs * 1000, "proxy_read_timeout cuts in before keyflow's {}", setting.env[0]);
    }
    // nginx is never the tighter body limit: keyflow's answers.
    let body = nginx::size(&server.value("client_max_body_size"));
    let env = instance_env(&doc["services"][INSTANCES[0]], &filled());
    let limit = env.get("MAX_BODY_BYTES").map_or(catalog::MAX_BODY_BYTES.default, String::as_str);
    let limit = keyflow::config::parse::byte_size(limit).expect("MAX_BODY_BYTES") as u64;
    assert!(body >= limit, "client_max_body_size {body} is below keyflow's MAX_BODY_BYTES {limit}");

    // Retries: a connection error or timeout, never keyflow's own answers, never a sent POST.
    let next: Vec<String> = location.one("proxy_next_upstream").args.clone();
    assert!(next.contains(&"error".to_string()) && next.contains(&"timeout".to_string()), "{next:?}");
    assert!(!next.contains(&"non_idempotent".to_string()), "a POST that reached keyflow may have spent a key");
    assert!(!next.iter().any(|n| n.starts_with("http_")), "keyflow's answers are relayed, not retried: {next:?}");
}

/// nginx.conf for a run on this machine: the instances at `upstreams` (in
/// `INSTANCES` order; `None` keeps the service names), listening on
/// `listen`, temporary files under `dir`, and `resolve` dropped when this
/// nginx predates it. Everything else is the file as shipped.
fn local_conf(upstreams: Option<&[SocketAddr]>, listen: SocketAddr, dir: &Path, keep_resolve: bool) -> String {
    let mut out = String::new();
    let mut servers = 0;
    for line in read(NGINX_CONF).lines() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let words: Vec<&str> = trimmed.trim_end_matches(';').split_whitespace().collect();
        let instance = match words.as_slice() {
            ["server", address, ..] => INSTANCES.iter().position(|i| address.starts_with(&format!("{i}:"))),
            _ => None,
        };
        if let Some(i) = instance {
            let address = upstreams.map_or(words[1].to_string(), |u| u[i].to_string());
            let params: Vec<&str> = words[2..].iter().copied().filter(|w| keep_resolve || *w != "resolve").collect();
            out.push_str(&format!("{indent}server {address} {};\n", params.join(" ")));
            servers += 1;
            continue;
        }
        if words.first() == Some(&"listen") {
            out.push_str(&format!("{indent}listen {listen};\n"));
            continue;
        }
        out.push_str(line);
        out.push('\n');
        if words.as_slice() == ["http", "{"] {
            for (directive, sub) in [
                ("client_body_temp_path", "body"),
                ("proxy_temp_path", "proxy"),
                ("fastcgi_temp_path", "fastcgi"),
                ("uwsgi_temp_path", "uwsgi"),
                ("scgi_temp_path", "scgi"),
            ] {
                out.push_str(&format!("{indent}    {directive} {};\n", dir.join(sub).display()));
            }
        }
    }
    assert_eq!(servers, INSTANCES.len(), "one upstream server line per instance");
    out
}

/// nginx with `conf` (written into `dir`), in the foreground as one process.
fn nginx_command(bin: &Path, dir: &Path, conf: &str) -> Command {
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).expect("write nginx.conf");
    let mut command = Command::new(bin);
    command
        .arg("-p")
        .arg(dir)
        .arg("-e")
        .arg(dir.join("error.log"))
        .arg("-c")
        .arg(path)
        .arg("-g")
        .arg(format!("daemon off; master_process off; pid {};", dir.join("nginx.pid").display()))
        .stdin(Stdio::null());
    command
}

/// This machine's nginx and whether it understands `resolve`, or `None`
/// (said on the test's output) when nginx is not installed.
fn local_nginx(what: &str) -> Option<(PathBuf, bool)> {
    let Some(bin) = nginx::binary() else {
        eprintln!("nginx is not installed here: {what} skipped (apt-get install nginx)");
        return None;
    };
    let version = nginx::version(&bin);
    let keep_resolve = version >= NGINX_RESOLVE.to_vec();
    if !keep_resolve {
        eprintln!("nginx {version:?} predates `resolve` in upstream servers (1.27.3): {what} without it");
    }
    Some((bin, keep_resolve))
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[test]
fn nginx_accepts_the_cluster_configuration() {
    let Some((bin, keep_resolve)) = local_nginx("nginx -t on deploy/cluster/nginx.conf") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let listen = loopback(process::closed_port());
    let upstreams: Vec<SocketAddr> = INSTANCES.iter().map(|_| loopback(process::closed_port())).collect();
    let mut variants =
        vec![("the instances at loopback addresses", local_conf(Some(&upstreams), listen, dir.path(), keep_resolve))];
    if keep_resolve {
        // With `resolve` the service names are looked up at run time: the file as shipped.
        variants.push(("the service names, resolved at run time", local_conf(None, listen, dir.path(), true)));
    }
    for (what, conf) in variants {
        let output = nginx_command(&bin, dir.path(), &conf).arg("-t").output().expect("nginx -t");
        let log = std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
        assert!(
            output.status.success(),
            "nginx -t with {what}:\n{}{log}\n{conf}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// nginx, killed when dropped.
struct Proxy {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proxy {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET path` through nginx, retried on a connection error (nginx starting).
    fn get(&self, host: &str, path: &str) -> (u16, String) {
        process::get_eventually(self.addr, host, path)
    }

    /// Polls `GET /health` until it answers 200, within `limit`.
    fn healthy_within(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let (status, body) = self.get("localhost", "/health");
            if status == 200 {
                return;
            }
            assert!(Instant::now() < deadline, "nginx answered {status} for {limit:?}: {body}\n{}", self.log());
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// The compose health check of an instance, run as Docker would (`CMD-SHELL`).
fn compose_health_check(service: &Yaml, port: u16) -> Option<bool> {
    let curl = Command::new("curl").arg("--version").output().is_ok_and(|o| o.status.success());
    if !curl {
        eprintln!("curl is not installed here: the instances' health check was not run");
        return None;
    }
    let test = strings(&service["healthcheck"]["test"]);
    assert_eq!(test[0], "CMD-SHELL", "{test:?}");
    let script = formats::interpolate(&test[1], &filled()).expect("healthcheck");
    let status = Command::new("/bin/sh")
        .args(["-c", &script])
        .env_clear()
        .env("PORT", port.to_string())
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run the health check");
    Some(status.success())
}

/// Three instances with the compose environment on `database`, behind nginx
/// with the cluster's nginx.conf; keyflow-2 drained and brought back.
fn serve_and_drain(bin: &Path, keep_resolve: bool, database: &str) {
    let doc = compose();
    let (_, _, runtime) = image();
    let args = image_args(&runtime);
    let upstream = process::closed_port();
    let dirs: Vec<tempfile::TempDir> = INSTANCES.iter().map(|_| tempfile::tempdir().expect("tempdir")).collect();
    let env_for = |i: usize, port: u16| {
        let mut env = instance_env(&doc["services"][INSTANCES[i]], &filled());
        env.insert("DATABASE_URL".into(), database.to_string());
        let journal = env["LOG_JOURNAL"].strip_prefix(IMAGE_DATA).expect("the journal is under /data").to_string();
        env.insert("LOG_JOURNAL".into(), format!("{}{journal}", dirs[i].path().display()));
        env.insert("PORT".into(), port.to_string());
        env.insert("UPSTREAM_URL".into(), format!("http://127.0.0.1:{upstream}"));
        env
    };

    // All three at once on a fresh database, as `up` starts them once PostgreSQL is healthy.
    let mut running: Vec<Option<process::Running>> = std::thread::scope(|scope| {
        let starting: Vec<_> = (0..INSTANCES.len())
            .map(|i| {
                let env = env_for(i, 0);
                let (args, dir) = (&args, dirs[i].path());
                scope.spawn(move || process::start(keyflow(), args, &env, dir))
            })
            .collect();
        starting.into_iter().map(|h| Some(h.join().expect("an instance failed to start"))).collect()
    });
    let ports: Vec<u16> = running.iter().flatten().map(|r| r.addr.port()).collect();
    for (instance, r) in INSTANCES.iter().zip(running.iter().flatten()) {
        assert!(r.addr.ip().is_unspecified(), "{instance} listens on {}", r.addr);
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let listen = loopback(process::closed_port());
    let upstreams: Vec<SocketAddr> = ports.iter().map(|p| loopback(*p)).collect();
    let conf = local_conf(Some(&upstreams), listen, dir.path(), keep_resolve);
    let log = dir.path().join("nginx.stderr");
    let child = nginx_command(bin, dir.path(), &conf)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("start nginx");
    let proxy = Proxy { child, addr: listen, log };

    // Served through nginx under the public name and loopback names; other names are refused by keyflow.
    for host in ["localhost", PUBLIC_NAME] {
        crate::health_is_ok(proxy.addr, host);
    }
    let (status, body) = proxy.get("rebound.example.net", "/health");
    assert_eq!(status, 403, "a name outside KEYFLOW_HOSTS: {body}");
    assert!(body.contains("host_not_allowed"), "refused by keyflow, not nginx: {body}");

    // Drain keyflow-2 as `docker compose stop` does: SIGTERM, then the grace period.
    let service = &doc["services"][INSTANCES[1]];
    if let Some(healthy) = compose_health_check(service, ports[1]) {
        assert!(healthy, "the health check fails on a running instance");
    }
    let grace = dockerfile::duration(service["stop_grace_period"].as_str().expect("stop_grace_period"));
    let drained = running[1].take().expect("keyflow-2");
    let status = drained.terminate(grace).expect("keyflow-2 outlived stop_grace_period after SIGTERM");
    assert!(status.success(), "keyflow-2 after SIGTERM: {status:?}");
    if let Some(healthy) = compose_health_check(service, ports[1]) {
        assert!(!healthy, "the health check passes on a stopped instance");
    }
    for _ in 0..30 {
        let (status, body) = proxy.get("localhost", "/health");
        assert_eq!(status, 200, "through nginx with keyflow-2 stopped: {body}\n{}", proxy.log());
    }

    // `start keyflow-2`: it comes back, and serves alone once the others are gone.
    running[1] = Some(process::start(keyflow(), &args, &env_for(1, ports[1]), dirs[1].path()));
    drop(running[0].take());
    drop(running[2].take());
    proxy.healthy_within(Duration::from_secs(30));
    for _ in 0..10 {
        let (status, body) = proxy.get(PUBLIC_NAME, "/health");
        assert_eq!(status, 200, "through nginx to keyflow-2 alone: {body}\n{}", proxy.log());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cluster_serves_through_nginx_and_drains_one_instance() {
    let Some((bin, keep_resolve)) = local_nginx("the cluster behind nginx") else { return };
    crate::db::run(crate::db::Backend::Postgres, |pg| async move {
        let serving = tokio::task::spawn_blocking(move || serve_and_drain(&bin, keep_resolve, &pg.url)).await;
        if let Err(e) = serving {
            std::panic::resume_unwind(e.into_panic());
        }
    })
    .await;
}
