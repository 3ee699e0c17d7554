//! The client-facing server's limits: allowed host names, the metrics
//! token, the connection cap and the client timeouts (SPEC §10).

use std::time::Duration;

use super::super::catalog as cat;
use super::super::file::{FileConfig, SecretText};
use super::super::{parse, ConfigError, EdgeConfig};
use super::layers::Layers;

/// Host names are compared in lowercase and without a port.
fn hosts(text: &str) -> Result<Vec<String>, String> {
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
fn origins(text: &str) -> Result<Vec<String>, String> {
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

fn connections(text: &str) -> Result<usize, String> {
    match parse::number::<usize>(text)? {
        0 => Err("expected a number of connections of at least 1".into()),
        n => Ok(n),
    }
}

pub(super) fn resolve_edge(
    r: &mut Layers<'_>,
    file: &mut FileConfig,
    edge: &mut EdgeConfig,
) -> Result<(), ConfigError> {
    let file_hosts = match r.file_list(&cat::ALLOWED_HOSTS, file.allowed_hosts.take())? {
        Some(items) => r.file_value(&cat::ALLOWED_HOSTS, Some(items.join(",")), hosts)?,
        None => None,
    };
    r.set(&mut edge.allowed_hosts, &cat::ALLOWED_HOSTS, None, hosts, file_hosts)?;
    let file_origins = match r.file_list(&cat::CORS_ORIGINS, file.cors_origins.take())? {
        Some(items) => r.file_value(&cat::CORS_ORIGINS, Some(items.join(",")), origins)?,
        None => None,
    };
    r.set(&mut edge.cors_origins, &cat::CORS_ORIGINS, None, origins, file_origins)?;
    let token = r.file_value(&cat::METRICS_TOKEN, file.metrics_token.take().map(expose), parse::secret)?;
    edge.metrics_token = r.pick(&cat::METRICS_TOKEN, None, parse::secret, token)?;
    let n = r.file_value(&cat::MAX_CONNECTIONS, file.max_connections.take().map(|n| n.to_string()), connections)?;
    r.set(&mut edge.max_connections, &cat::MAX_CONNECTIONS, None, connections, n)?;
    let secs = r.file_value(&cat::HEADER_TIMEOUT, file.header_timeout_secs.take().map(|n| n.to_string()), seconds)?;
    let mut header = edge.header_timeout.as_secs();
    r.set(&mut header, &cat::HEADER_TIMEOUT, None, seconds, secs)?;
    edge.header_timeout = Duration::from_secs(header);
    let secs = r.file_value(&cat::BODY_TIMEOUT, file.body_timeout_secs.take().map(|n| n.to_string()), seconds)?;
    let mut body = edge.body_timeout.as_secs();
    r.set(&mut body, &cat::BODY_TIMEOUT, None, seconds, secs)?;
    edge.body_timeout = Duration::from_secs(body);
    let rate = |text: &str| match text.trim() {
        "0" => Ok(0),
        text => parse::byte_size(text).map(|n| n as u64),
    };
    let file_rate = r.file_value(&cat::MIN_BODY_RATE, file.min_body_rate.take().map(|s| s.0), rate)?;
    r.set(&mut edge.min_body_rate, &cat::MIN_BODY_RATE, None, rate, file_rate)?;
    Ok(())
}

fn expose(secret: SecretText) -> String {
    secret.0.expose().to_string()
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
