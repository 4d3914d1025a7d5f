//! What the host says through the environment: the magic cookie, the
//! protocol versions it speaks, the port range, and the plugin's own knobs
//! (hook timeout, HTTP body limit). Each bad value is an error naming the
//! variable.

use std::time::Duration;

use super::ServeError;

/// The environment variable go-plugin's magic cookie arrives in.
pub const MAGIC_COOKIE_KEY: &str = "MATTERMOST_PLUGIN";
/// The magic cookie's value: proof that a Mattermost server started us.
pub const MAGIC_COOKIE_VALUE: &str = "Securely message teams, anywhere.";
/// The app protocol versions the host offers, comma-separated.
pub const PROTOCOL_VERSIONS_ENV: &str = "PLUGIN_PROTOCOL_VERSIONS";
/// The lowest port the plugin may listen on.
pub const MIN_PORT_ENV: &str = "PLUGIN_MIN_PORT";
/// The highest port the plugin may listen on.
pub const MAX_PORT_ENV: &str = "PLUGIN_MAX_PORT";
/// Seconds a hook may run before it is cancelled (default 30).
pub const HOOK_TIMEOUT_ENV: &str = "MATTERMOST_PLUGIN_HOOK_TIMEOUT";
/// The largest HTTP request body a plugin accepts, in bytes.
pub const HTTP_BODY_LIMIT_ENV: &str = "MATTERMOST_PLUGIN_HTTP_BODY_LIMIT";
/// The default HTTP request body limit: 1 GiB.
pub const DEFAULT_HTTP_BODY_LIMIT: u64 = 1 << 30;

/// The Mattermost plugin protocol version this SDK speaks.
pub(crate) const APP_PROTOCOL_VERSION: u32 = 1;
const DEFAULT_PORTS: (u16, u16) = (10_000, 25_000);
const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether a Mattermost server started us: go-plugin's magic cookie.
pub(crate) fn started_by_a_server() -> bool {
    std::env::var(MAGIC_COOKIE_KEY).as_deref() == Ok(MAGIC_COOKIE_VALUE)
}

/// Checks that the host offers our protocol version (no variable: the
/// host did not negotiate, which means version 1).
pub(crate) fn negotiate_version(offered: Option<&str>) -> Result<(), ServeError> {
    let Some(offered) = offered.filter(|v| !v.trim().is_empty()) else { return Ok(()) };
    let speaks = offered.split(',').any(|v| v.trim().parse::<u32>() == Ok(APP_PROTOCOL_VERSION));
    if speaks { Ok(()) } else { Err(ServeError::ProtocolVersion(offered.to_owned())) }
}

/// The range of ports go-plugin allows, `PLUGIN_MIN_PORT..=PLUGIN_MAX_PORT`.
pub(crate) fn port_range() -> Result<(u16, u16), ServeError> {
    let port = |name: &'static str, default: u16| -> Result<u16, ServeError> {
        match std::env::var(name) {
            Ok(value) if !value.trim().is_empty() => value.trim().parse().map_err(|_| ServeError::Environment {
                name,
                value,
                reason: "expected a port number",
            }),
            _ => Ok(default),
        }
    };
    let (min, max) = (port(MIN_PORT_ENV, DEFAULT_PORTS.0)?, port(MAX_PORT_ENV, DEFAULT_PORTS.1)?);
    if min > max {
        return Err(ServeError::Environment {
            name: MIN_PORT_ENV,
            value: min.to_string(),
            reason: "greater than PLUGIN_MAX_PORT",
        });
    }
    Ok((min, max))
}

/// How long a hook may run: `MATTERMOST_PLUGIN_HOOK_TIMEOUT` seconds, or 30.
pub(crate) fn hook_timeout() -> Result<Duration, ServeError> {
    match std::env::var(HOOK_TIMEOUT_ENV) {
        Ok(value) if !value.trim().is_empty() => {
            value.trim().parse::<f64>().ok().filter(|s| s.is_finite() && *s > 0.0).map(Duration::from_secs_f64).ok_or(
                ServeError::Environment {
                    name: HOOK_TIMEOUT_ENV,
                    value,
                    reason: "expected a positive number of seconds",
                },
            )
        }
        _ => Ok(DEFAULT_HOOK_TIMEOUT),
    }
}

/// `MATTERMOST_PLUGIN_HTTP_BODY_LIMIT`, or the default.
pub(crate) fn http_body_limit() -> u64 {
    std::env::var(HTTP_BODY_LIMIT_ENV).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(DEFAULT_HTTP_BODY_LIMIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_negotiation_accepts_lists_that_contain_ours() {
        assert!(negotiate_version(None).is_ok());
        assert!(negotiate_version(Some("1")).is_ok());
        assert!(negotiate_version(Some("2, 1")).is_ok());
        assert!(matches!(negotiate_version(Some("2,3")), Err(ServeError::ProtocolVersion(v)) if v == "2,3"));
    }
}
