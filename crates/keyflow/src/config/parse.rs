//! Parsers from text (an environment value, a flag, a TOML string) to
//! setting values.
//!
//! Each returns `Err` with what is accepted ("expected ..."); the caller adds
//! which setting and where the text came from. `cli.rs` uses the same
//! functions as clap value parsers, so a flag and a variable accept the same
//! spellings.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::modes::{AccessControl, Strategy};
use super::DEFAULT_PORT;
use crate::secret::Secret;

/// `true/false/1/0/yes/no/on/off` and the one-letter `t/f/y/n` the seed
/// tools' env files use, any case.
pub fn boolean(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "1" | "yes" | "y" | "on" => Ok(true),
        "false" | "f" | "0" | "no" | "n" | "off" => Ok(false),
        _ => Err("expected true/false, 1/0, yes/no, y/n or on/off".to_string()),
    }
}

/// An environment value without a trailing ` # comment`, as env files that
/// Docker's `env_file` passes through unparsed carry them. Only a `#` after
/// whitespace starts a comment, so `#` inside a value survives.
pub fn without_comment(value: &str) -> &str {
    let bytes = value.as_bytes();
    let cut = (1..bytes.len()).find(|&i| bytes[i] == b'#' && bytes[i - 1].is_ascii_whitespace());
    match cut {
        Some(i) => value[..i].trim_end(),
        None => value,
    }
}

/// A whole number of the requested type.
pub fn number<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.trim().parse().map_err(|_| "expected a whole number".to_string())
}

/// A non-blank string, trimmed.
pub fn text(text: &str) -> Result<String, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("expected a non-empty value".to_string());
    }
    Ok(trimmed.to_string())
}

/// A non-blank secret, trimmed.
pub fn secret(value: &str) -> Result<Secret, String> {
    text(value).map(Secret::new)
}

/// A listen address: `IP:PORT`, `[IPv6]:PORT`, `localhost:PORT`, or a bare
/// IP (default port).
pub fn socket_addr(text: &str) -> Result<SocketAddr, String> {
    const EXPECTED: &str = "expected IP:PORT such as 127.0.0.1:7898 or 0.0.0.0:7898";
    let trimmed = text.trim();
    if let Ok(addr) = trimmed.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let Ok(ip) = host(trimmed) {
        return Ok(SocketAddr::new(ip, DEFAULT_PORT));
    }
    let (host_part, port_part) = trimmed.rsplit_once(':').ok_or(EXPECTED)?;
    let ip = host(host_part).map_err(|_| EXPECTED)?;
    let port = port(port_part).map_err(|_| EXPECTED)?;
    Ok(SocketAddr::new(ip, port))
}

/// The host half of a listen address: an IP, `[IPv6]` or `localhost`.
pub fn host(text: &str) -> Result<IpAddr, String> {
    let trimmed = text.trim();
    if trimmed.eq_ignore_ascii_case("localhost") {
        return Ok(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    let bare = trimmed.strip_prefix('[').and_then(|t| t.strip_suffix(']')).unwrap_or(trimmed);
    bare.parse().map_err(|_| "expected an IP address such as 127.0.0.1, 0.0.0.0 or ::".to_string())
}

/// The port half of a listen address (0 = any free port).
pub fn port(text: &str) -> Result<u16, String> {
    text.trim().parse().map_err(|_| "expected a port number from 0 to 65535".to_string())
}

/// An `http(s)://` URL without trailing slashes.
pub fn http_url(text: &str) -> Result<String, String> {
    let trimmed = text.trim();
    let lower = trimmed.to_ascii_lowercase();
    let rest = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://"));
    match rest {
        Some(rest) if !rest.trim_start_matches('/').is_empty() && !trimmed.contains(char::is_whitespace) => {
            Ok(trimmed.trim_end_matches('/').to_string())
        }
        _ => Err("expected an http:// or https:// URL".to_string()),
    }
}

/// The upstream base URL: `http_url` with a trailing `/v1` dropped, since
/// keyflow appends the client's `/v1/...` path itself.
pub fn upstream_url(text: &str) -> Result<String, String> {
    let url = http_url(text).map_err(|_| "expected an http:// or https:// URL such as https://api.siliconflow.cn")?;
    let base = match url.len().checked_sub(3) {
        Some(cut) if url[cut..].eq_ignore_ascii_case("/v1") => url[..cut].trim_end_matches('/').to_string(),
        _ => url,
    };
    http_url(&base).map_err(|_| "expected a URL with a host, such as https://api.siliconflow.cn".to_string())
}

/// A database URL: `sqlite:...`, `postgres://...`, `postgresql://...`; a
/// value without a scheme is taken as a SQLite file path.
pub fn database_url(text: &str) -> Result<String, String> {
    let trimmed = text.trim();
    let lower = trimmed.to_ascii_lowercase();
    if lower.starts_with("sqlite:") || lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
        return Ok(trimmed.to_string());
    }
    if trimmed.contains("://") {
        return Err("expected sqlite://PATH, postgres://... or a SQLite file path".to_string());
    }
    sqlite_path(trimmed)
}

/// Database connections per instance: 1 to 1000 (PostgreSQL's own default
/// `max_connections` is 100, shared by every instance).
pub fn pool_size(text: &str) -> Result<u32, String> {
    match number::<u32>(text) {
        Ok(n @ 1..=1000) => Ok(n),
        _ => Err("expected a number of connections from 1 to 1000".to_string()),
    }
}

/// An instance name: what log rows and `/health` show, so printable and short.
pub fn instance_name(text: &str) -> Result<String, String> {
    let name = text.trim();
    let fits = (1..=64).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if !fits {
        return Err("expected 1 to 64 letters, digits, '-', '_', '.' or ':' (such as keyflow-1)".to_string());
    }
    Ok(name.to_string())
}

/// A file path.
pub fn path(value: &str) -> Result<std::path::PathBuf, String> {
    text(value).map(std::path::PathBuf::from)
}

/// A SQLite file path (`DB_PATH`) as a database URL.
pub fn sqlite_path(text: &str) -> Result<String, String> {
    let path = text.trim();
    if path.is_empty() {
        return Err("expected a SQLite file path such as data/keyflow.db".to_string());
    }
    if path.to_ascii_lowercase().starts_with("sqlite:") {
        return Ok(path.to_string());
    }
    Ok(format!("sqlite://{path}"))
}

/// A byte count: plain bytes or a number with a unit. `k`, `m`, `g`,
/// `KiB`, `MiB`, `GiB` are powers of 1024; `KB`, `MB`, `GB` powers of 1000.
/// Below 1 KiB is refused: `64` is surely a forgotten unit.
pub fn byte_size(text: &str) -> Result<usize, String> {
    const EXPECTED: &str = "expected a size such as 67108864, 64MiB, 10MB or 512k";
    let trimmed = text.trim();
    let split = trimmed.find(|c: char| !c.is_ascii_digit()).unwrap_or(trimmed.len());
    let (digits, unit) = trimmed.split_at(split);
    let count: u64 = digits.parse().map_err(|_| EXPECTED)?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "ki" | "kib" => 1 << 10,
        "m" | "mi" | "mib" => 1 << 20,
        "g" | "gi" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => return Err(EXPECTED.to_string()),
    };
    let bytes = count
        .checked_mul(multiplier)
        .and_then(|b| usize::try_from(b).ok())
        .ok_or_else(|| format!("{trimmed} is too large"))?;
    if bytes < 1024 {
        return Err(format!("{bytes} bytes is too small: use at least 1KiB, e.g. 64MiB"));
    }
    Ok(bytes)
}

/// A list given as a JSON array of strings or as comma/newline separated
/// text; items trimmed, blanks and repeats dropped.
pub fn list(text: &str) -> Result<Vec<String>, String> {
    let trimmed = text.trim();
    let items: Vec<String> = if trimmed.starts_with('[') {
        serde_json::from_str(trimmed)
            .map_err(|e| format!("expected a JSON array of strings or a comma-separated list ({e})"))?
    } else {
        trimmed.split([',', '，', '\n']).map(str::to_string).collect()
    };
    Ok(clean_items(items))
}

/// Trims items and drops blanks and repeats, keeping the first occurrence.
pub fn clean_items(items: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in items {
        let item = item.trim();
        if !item.is_empty() && !out.iter().any(|seen| seen == item) {
            out.push(item.to_string());
        }
    }
    out
}

/// Client tokens: comma (or newline) separated, trimmed, blanks dropped.
pub fn tokens(text: &str) -> Vec<Secret> {
    clean_items(text.split([',', '\n']).map(str::to_string)).into_iter().map(Secret::new).collect()
}

/// Client tokens as a setting's parser (never fails: blanks are dropped).
pub fn token_list(text: &str) -> Result<Vec<Secret>, String> {
    Ok(tokens(text))
}

/// Keys to import at start, kept as raw text: the importer reports
/// malformed keys itself. Blank text is no keys.
pub fn key_text(text: &str) -> Result<Option<Secret>, String> {
    Ok(Some(Secret::new(text)).filter(|keys| !keys.expose().trim().is_empty()))
}

/// A secret taken as given: token lists may be empty (`--api-key ""`
/// opens the gateway), so they skip the non-blank check of [`secret`].
pub fn raw_secret(text: &str) -> Result<Secret, String> {
    Ok(Secret::new(text))
}

/// A parser for a setting stored as `Option<T>`, `None` when unset.
pub fn some<T>(parse: fn(&str) -> Result<T, String>) -> impl Fn(&str) -> Result<Option<T>, String> {
    move |text| parse(text).map(Some)
}

/// A per-key RPM cap: a positive number, or `0`/`off`/`none` for no cap.
pub fn rpm_limit(text: &str) -> Result<Option<u32>, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "0" | "off" | "none" => Ok(None),
        other => other
            .parse::<u32>()
            .map(Some)
            .map_err(|_| "expected requests per minute per key (0 or off = no cap)".to_string()),
    }
}

/// A time zone name (`Asia/Shanghai`, `UTC`) or offset (`+08:00`). The
/// leading `:` of glibc's `TZ=:Zone` form is dropped.
pub fn time_zone(text: &str) -> Result<String, String> {
    let zone = text.trim().trim_start_matches(':');
    let plausible =
        !zone.is_empty() && zone.len() <= 64 && zone.chars().all(|c| c.is_ascii_alphanumeric() || "/_+-:.".contains(c));
    if plausible {
        Ok(zone.to_string())
    } else {
        Err("expected a time zone such as Asia/Shanghai, UTC or +08:00".to_string())
    }
}

pub fn strategy(text: &str) -> Result<Strategy, String> {
    text.parse()
}

pub fn access_control(text: &str) -> Result<AccessControl, String> {
    text.parse()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_accept_the_usual_spellings() {
        for yes in ["true", "TRUE", "1", "yes", "On", " on "] {
            assert_eq!(boolean(yes), Ok(true), "{yes}");
        }
        for yes in ["y", "T", "Y"] {
            assert_eq!(boolean(yes), Ok(true), "{yes}");
        }
        assert_eq!(without_comment("true # turn it on"), "true");
        assert_eq!(without_comment("a#b"), "a#b");
        assert_eq!(without_comment("#literal"), "#literal");
        for no in ["false", "0", "No", "OFF", "n", "f"] {
            assert_eq!(boolean(no), Ok(false), "{no}");
        }
        assert!(boolean("maybe").is_err_and(|e| e.contains("yes/no")));
    }

    #[test]
    fn listen_addresses() {
        let v6_loopback = IpAddr::V6(std::net::Ipv6Addr::LOCALHOST);
        let v6_any = IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED);
        assert_eq!(socket_addr("0.0.0.0:80"), Ok(SocketAddr::from(([0, 0, 0, 0], 80))));
        assert_eq!(socket_addr("[::1]:9000"), Ok(SocketAddr::new(v6_loopback, 9000)));
        assert_eq!(socket_addr("localhost:9000"), Ok(SocketAddr::from(([127, 0, 0, 1], 9000))));
        assert_eq!(socket_addr("0.0.0.0"), Ok(SocketAddr::from(([0, 0, 0, 0], 7898))));
        assert_eq!(socket_addr("::"), Ok(SocketAddr::new(v6_any, 7898)));
        assert!(socket_addr("example.com:80").is_err());
        assert!(socket_addr("0.0.0.0:99999").is_err());
        assert_eq!(host("[::1]"), Ok(v6_loopback));
        assert!(port("http").is_err());
    }

    #[test]
    fn upstream_urls_lose_trailing_slash_and_v1() {
        for raw in [
            "https://api.siliconflow.cn",
            "https://api.siliconflow.cn/",
            "https://api.siliconflow.cn/v1",
            " https://api.siliconflow.cn/v1/ ",
            "https://api.siliconflow.cn/V1",
        ] {
            assert_eq!(upstream_url(raw).as_deref(), Ok("https://api.siliconflow.cn"), "{raw}");
        }
        assert_eq!(upstream_url("http://127.0.0.1:9/proxy/v1").as_deref(), Ok("http://127.0.0.1:9/proxy"));
        assert_eq!(upstream_url("http://h/v1beta").as_deref(), Ok("http://h/v1beta"));
        for bad in ["api.siliconflow.cn", "ftp://x", "https://", "https:///v1", "http://a b"] {
            assert!(upstream_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn instance_names() {
        assert_eq!(instance_name(" keyflow-1 ").as_deref(), Ok("keyflow-1"));
        assert_eq!(instance_name("host.example:7898").as_deref(), Ok("host.example:7898"));
        assert!(instance_name("two words").is_err());
        assert!(instance_name("").is_err());
        assert!(instance_name(&"x".repeat(65)).is_err());
    }

    #[test]
    fn database_urls_and_paths() {
        assert_eq!(database_url("sqlite://x.db").as_deref(), Ok("sqlite://x.db"));
        assert_eq!(database_url("sqlite::memory:").as_deref(), Ok("sqlite::memory:"));
        assert_eq!(database_url("postgres://u@h/db").as_deref(), Ok("postgres://u@h/db"));
        assert_eq!(database_url("data/api_keys.db").as_deref(), Ok("sqlite://data/api_keys.db"));
        assert!(database_url("mysql://h/db").is_err_and(|e| e.contains("postgres://")));
        assert_eq!(pool_size(" 10 "), Ok(10));
        assert!(pool_size("0").is_err() && pool_size("1001").is_err() && pool_size("ten").is_err());
        assert_eq!(sqlite_path("/var/lib/k.db").as_deref(), Ok("sqlite:///var/lib/k.db"));
        assert!(sqlite_path("  ").is_err());
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(byte_size("67108864"), Ok(64 << 20));
        assert_eq!(byte_size("64MiB"), Ok(64 << 20));
        assert_eq!(byte_size("64 mib"), Ok(64 << 20));
        assert_eq!(byte_size("10MB"), Ok(10_000_000));
        assert_eq!(byte_size("512k"), Ok(512 << 10));
        assert_eq!(byte_size("1G"), Ok(1 << 30));
        assert!(byte_size("64").is_err_and(|e| e.contains("too small")));
        assert!(byte_size("lots").is_err_and(|e| e.contains("64MiB")));
        assert!(byte_size("10 parsecs").is_err());
        assert!(byte_size("-5MB").is_err());
        assert!(byte_size("99999999999999999999G").is_err());
    }

    #[test]
    fn lists_from_json_or_commas() {
        let want = vec!["a/b".to_string(), "c".to_string()];
        assert_eq!(list(r#"["a/b", "c", "a/b", " "]"#), Ok(want.clone()));
        assert_eq!(list(" a/b , c,,a/b\n"), Ok(want.clone()));
        assert_eq!(list("a/b，c"), Ok(want));
        assert_eq!(list(""), Ok(vec![]));
        assert!(list("[1, 2]").is_err_and(|e| e.contains("JSON array")));
    }

    #[test]
    fn tokens_rpm_and_zones() {
        let parsed: Vec<String> = tokens(" t1, ,t2,t1 ").iter().map(|s| s.expose().to_string()).collect();
        assert_eq!(parsed, ["t1", "t2"]);
        assert_eq!(rpm_limit("0"), Ok(None));
        assert_eq!(rpm_limit("off"), Ok(None));
        assert_eq!(rpm_limit("60"), Ok(Some(60)));
        assert!(rpm_limit("-1").is_err());
        assert_eq!(time_zone(":Asia/Shanghai").as_deref(), Ok("Asia/Shanghai"));
        assert_eq!(time_zone("+08:00").as_deref(), Ok("+08:00"));
        assert!(time_zone("Asia/Shang hai").is_err());
        assert_eq!(number::<u32>(" 7 "), Ok(7));
        assert!(number::<u32>("-7").is_err());
        assert!(text("  ").is_err());
    }
}
