//! The parsers of the client-facing server's limits: allowed host names,
//! browser origins, the connection cap, the client timeouts and the
//! slowest body rate (SPEC §10). Their declarations are in `catalog.rs`.

use std::time::Duration;

use super::super::parse;

/// Host names are compared in lowercase and without a port.
pub(in crate::config) fn hosts(text: &str) -> Result<Vec<String>, String> {
    let items = parse::list(text)?;
    items.into_iter().map(|item| host_name(&item)).collect()
}

fn host_name(item: &str) -> Result<String, String> {
    let name = item.trim().to_ascii_lowercase();
    if name.is_empty() || name.contains(['/', ' ', '@']) {
        return Err("expected host names such as keyflow.example.com, comma-separated".into());
    }
    Ok(name)
}

/// `*`, or origins such as `https://chat.example.com` (scheme and host).
pub(in crate::config) fn origins(text: &str) -> Result<Vec<String>, String> {
    let items = parse::list(text)?;
    for item in &items {
        let ok = item == "*" || ((item.starts_with("http://") || item.starts_with("https://")) && !item.ends_with('/'));
        if !ok {
            return Err("expected * or origins such as https://chat.example.com (scheme and host, no path)".into());
        }
    }
    Ok(items)
}

fn seconds(text: &str) -> Result<u64, String> {
    match parse::number::<u64>(text)? {
        0 => Err("expected a number of seconds of at least 1".into()),
        n => Ok(n),
    }
}

pub(in crate::config) fn connections(text: &str) -> Result<usize, String> {
    match parse::number::<usize>(text)? {
        0 => Err("expected a number of connections of at least 1".into()),
        n => Ok(n),
    }
}

/// A client timeout: seconds, at least 1.
pub(in crate::config) fn timeout(text: &str) -> Result<Duration, String> {
    seconds(text).map(Duration::from_secs)
}

/// Bytes per second: `0` (no minimum) or a size such as `1k`.
pub(in crate::config) fn body_rate(text: &str) -> Result<u64, String> {
    match text.trim() {
        "0" => Ok(0),
        text => parse::byte_size(text).map(|n| n as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_lists_are_lowercase_names() {
        assert_eq!(
            hosts("Keyflow.Example.com, api.example.org").expect("hosts"),
            ["keyflow.example.com", "api.example.org"]
        );
        assert!(hosts("http://x.com/").is_err());
        assert!(seconds("0").is_err());
        assert_eq!(seconds("15"), Ok(15));
    }
}
