//! The connection to the server's plugin API: where it is, how large its
//! messages may be, and the HTTP/2 settings both directions share.

use tonic::transport::{Channel, Endpoint};

/// The environment variable that holds the server's API address for this plugin.
pub const API_TARGET_ENV: &str = "MATTERMOST_PLUGIN_API_TARGET";

/// The largest response accepted, and the largest message tonic will
/// encode (64 MiB, as Mattermost's Python SDK allows).
pub const MAX_MESSAGE_SIZE: usize = 64 * 1024 * 1024;

/// The largest request the server accepts, encoded: 4 MiB. The real host
/// serves the plugin API with grpc-go's default limits (CONTRACT.md, message
/// sizes), so a larger request is refused; the client refuses it first,
/// without sending it, as [`crate::Error::TooLarge`].
pub const MAX_REQUEST_SIZE: usize = 4 * 1024 * 1024;

/// HTTP/2 receive windows and frame size, for the plugin's server and its
/// API client alike. A 64 KiB default window would stall a stream once per
/// 64 KiB chunk (ServeHTTP bodies, large API answers); the connection window
/// also caps what all streams together may buffer.
pub const STREAM_WINDOW: u32 = 2 << 20;
/// See [`STREAM_WINDOW`].
pub const CONNECTION_WINDOW: u32 = 8 << 20;
/// See [`STREAM_WINDOW`].
pub const MAX_FRAME: u32 = 256 << 10;

/// An endpoint for `target`: `host:port` (as in `MATTERMOST_PLUGIN_API_TARGET`)
/// or a URI, with the HTTP/2 settings above.
pub fn endpoint(target: &str) -> Result<Endpoint, tonic::transport::Error> {
    let uri = if target.contains("://") { target.to_owned() } else { format!("http://{target}") };
    Ok(Endpoint::from_shared(uri)?
        .tcp_nodelay(true)
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_frame_size(MAX_FRAME))
}

/// A channel on which every call fails as unavailable.
fn unreachable() -> Channel {
    // Port 0 cannot be connected to.
    Endpoint::from_static("http://127.0.0.1:0").connect_lazy()
}

/// The channel a plugin's API client uses: to `target` (the server's
/// `MATTERMOST_PLUGIN_API_TARGET`), connecting on first use so it is ready at
/// once; without a usable target, one on which every call fails, with a
/// warning saying why.
pub fn plugin_channel(target: Option<&str>) -> Channel {
    match target.map(str::trim) {
        Some(target) if !target.is_empty() => match endpoint(target) {
            Ok(endpoint) => return endpoint.connect_lazy(),
            Err(e) => tracing::warn!("{API_TARGET_ENV}={target:?} is not usable ({e}); API calls will fail"),
        },
        _ => tracing::warn!("{API_TARGET_ENV} is not set; API calls will fail"),
    }
    unreachable()
}

/// `Err(TooLarge)` when an encoded request of `size` bytes is over `limit`.
pub fn fits(size: usize, limit: usize) -> Result<(), crate::Error> {
    if size > limit { Err(crate::Error::TooLarge { size, limit }) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_without_a_scheme_is_http() {
        assert_eq!(endpoint("127.0.0.1:9").unwrap().uri().to_string(), "http://127.0.0.1:9/");
        assert_eq!(endpoint("https://example.com:1").unwrap().uri().to_string(), "https://example.com:1/");
        assert!(endpoint("not a uri").is_err());
    }

    #[test]
    fn a_request_over_the_limit_does_not_fit() {
        assert!(fits(4, 4).is_ok());
        assert!(matches!(fits(5, 4), Err(crate::Error::TooLarge { size: 5, limit: 4 })));
    }
}
