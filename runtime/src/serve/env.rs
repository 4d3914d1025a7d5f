//! What the host says through the environment: the magic cookie, the
//! protocol versions it speaks, the port range, and the plugin's own knobs
//! (hook timeout, HTTP body limit). Each bad value is named with its
//! variable: an error that refuses the start where the value cannot be
//! honoured, or a warning and a documented fallback.

use std::time::Duration;

use super::ServeError;

/// The environment variable go-plugin's magic cookie arrives in.
pub const MAGIC_COOKIE_KEY: &str = "MATTERMOST_PLUGIN";
/// The magic cookie's value: proof that a Mattermost server started us.
pub const MAGIC_COOKIE_VALUE: &str = "Securely message teams, anywhere.";
/// The app protocol versions the host offers, comma-separated. Unset or
/// empty: version 1. A list without 1 refuses the start.
pub const PROTOCOL_VERSIONS_ENV: &str = "PLUGIN_PROTOCOL_VERSIONS";
/// The lowest port the plugin may listen on (default 10000). Not a port
/// number, or above `PLUGIN_MAX_PORT`: the start is refused.
pub const MIN_PORT_ENV: &str = "PLUGIN_MIN_PORT";
/// The highest port the plugin may listen on (default 25000). Not a port
/// number: the start is refused.
pub const MAX_PORT_ENV: &str = "PLUGIN_MAX_PORT";
/// Seconds a hook may run before it is cancelled: a positive number,
/// fractions allowed (`30`, `2.5`). Unset or empty: 30. Anything else (not
/// a number, zero or less, or too large for a duration: over 2^64 seconds)
/// refuses the start ([`ServeError::Environment`]).
pub const HOOK_TIMEOUT_ENV: &str = "MATTERMOST_PLUGIN_HOOK_TIMEOUT";
/// The largest HTTP request body a plugin accepts: a whole number of bytes.
/// Unset or empty: [`DEFAULT_HTTP_BODY_LIMIT`]. Anything else: the default,
/// and a warning naming the variable is logged once at start.
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

/// A variable's value; one that is not UTF-8 is kept (lossily) so that it
/// is reported, not mistaken for an unset variable.
fn read(name: &str) -> Option<String> {
    std::env::var_os(name).map(|value| value.to_string_lossy().into_owned())
}

/// How long a hook may run: `MATTERMOST_PLUGIN_HOOK_TIMEOUT` seconds, or 30
/// (see [`HOOK_TIMEOUT_ENV`]).
pub(crate) fn hook_timeout() -> Result<Duration, ServeError> {
    parse_hook_timeout(read(HOOK_TIMEOUT_ENV))
}

/// [`hook_timeout`] for a given value.
pub(crate) fn parse_hook_timeout(value: Option<String>) -> Result<Duration, ServeError> {
    let Some(value) = value.filter(|v| !v.trim().is_empty()) else { return Ok(DEFAULT_HOOK_TIMEOUT) };
    // `try_from_secs_f64`, not `from_secs_f64`: 1e30 seconds is no
    // duration, and must be an error, not a panic. A value so small it
    // rounds to zero would cancel every hook at once.
    let timeout = value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .filter(|d| !d.is_zero());
    timeout.ok_or(ServeError::Environment {
        name: HOOK_TIMEOUT_ENV,
        value,
        reason: "expected a positive number of seconds, such as 30 or 2.5, of at most 2^64",
    })
}

/// `MATTERMOST_PLUGIN_HTTP_BODY_LIMIT`, or the default for a variable that
/// is unset, empty or invalid (see [`HTTP_BODY_LIMIT_ENV`]).
pub(crate) fn http_body_limit() -> u64 {
    parse_http_body_limit(read(HTTP_BODY_LIMIT_ENV)).unwrap_or(DEFAULT_HTTP_BODY_LIMIT)
}

/// The warning to log when `MATTERMOST_PLUGIN_HTTP_BODY_LIMIT` is invalid,
/// with the limit in force instead.
pub(crate) fn http_body_limit_warning(in_force: u64) -> Option<String> {
    parse_http_body_limit(read(HTTP_BODY_LIMIT_ENV)).err().map(|value| body_limit_warning(&value, in_force))
}

fn body_limit_warning(value: &str, in_force: u64) -> String {
    format!("{HTTP_BODY_LIMIT_ENV}={value:?} is not a whole number of bytes; ignored: the limit is {in_force} bytes")
}

/// A body limit: the default for no value, `Err(value)` for an invalid one.
pub(crate) fn parse_http_body_limit(value: Option<String>) -> Result<u64, String> {
    match value.filter(|v| !v.trim().is_empty()) {
        None => Ok(DEFAULT_HTTP_BODY_LIMIT),
        Some(value) => value.trim().parse().map_err(|_| value),
    }
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

    #[test]
    fn hook_timeouts_are_positive_seconds_that_fit_a_duration() {
        let parse = |v: &str| parse_hook_timeout(Some(v.to_owned()));
        assert_eq!(parse_hook_timeout(None).unwrap(), DEFAULT_HOOK_TIMEOUT);
        assert_eq!(parse(" ").unwrap(), DEFAULT_HOOK_TIMEOUT);
        assert_eq!(parse("2.5").unwrap(), Duration::from_millis(2_500));
        assert_eq!(parse(" 30 ").unwrap(), Duration::from_secs(30));
        // Large but representable: honoured (tokio treats it as "never").
        assert_eq!(parse("1e18").unwrap(), Duration::from_secs(1_000_000_000_000_000_000));
        for bad in ["1e30", "inf", "NaN", "0", "-1", "1e-12", "thirty", "30s"] {
            match parse(bad) {
                Err(e @ ServeError::Environment { name: HOOK_TIMEOUT_ENV, .. }) => {
                    let message = e.to_string();
                    assert!(message.starts_with(&format!("{HOOK_TIMEOUT_ENV}={bad:?}")), "{message}");
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_bad_body_limit_is_the_default_with_a_warning_naming_the_variable() {
        let parse = |v: &str| parse_http_body_limit(Some(v.to_owned()));
        assert_eq!(parse_http_body_limit(None), Ok(DEFAULT_HTTP_BODY_LIMIT));
        assert_eq!(parse(""), Ok(DEFAULT_HTTP_BODY_LIMIT));
        assert_eq!(parse(" 1048576 "), Ok(1_048_576));
        assert_eq!(parse("0"), Ok(0));
        for bad in ["12MB", "-1", "1.5", "18446744073709551616"] {
            assert_eq!(parse(bad), Err(bad.to_owned()));
        }
        let warning = body_limit_warning("12MB", DEFAULT_HTTP_BODY_LIMIT);
        assert!(warning.starts_with("MATTERMOST_PLUGIN_HTTP_BODY_LIMIT=\"12MB\""), "{warning}");
        assert!(warning.ends_with("the limit is 1073741824 bytes"), "{warning}");
    }
}
