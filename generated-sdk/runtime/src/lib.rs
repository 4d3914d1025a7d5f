//! The half of a Mattermost plugin SDK that does not depend on the plugin
//! contract: how a plugin process runs (the go-plugin handshake, health,
//! `Shutdown`, logs, TLS), what every hook call goes through (panic guard,
//! timeout, errors the server can read), the API's error type, JSON in
//! protobuf, HTTP for plugins, and the plugin's own texts in the user's
//! language (`i18n`).
//!
//! `mmplugin-gen` copies this crate byte for byte into every SDK it
//! generates, as the SDK's `runtime/` sub-crate; the SDK's generated code is
//! the thin, contract-specific glue around it (`Plugin`, `HookName`,
//! `PluginApiClient`, the hook server and the wire types). Plugin authors use
//! it through the SDK's re-exports, never directly.
//!
//! Nothing here names a contract type: where the glue must supply one, the
//! code is generic over it (an HTTP stream's messages are a [`http::Wire`],
//! a hook is named by its `&'static str`, an application error converts
//! through `From<AppError>`).

pub mod api;
pub mod cluster;
pub mod current;
pub mod error;
mod goplugin;
pub mod hashtags;
pub mod hook_call;
#[doc = include_str!("host_rules.md")]
pub mod host_rules {}
pub mod http;
pub mod i18n;
pub mod ids;
pub mod json;
#[cfg(test)]
mod json_props;
pub mod kv;
mod log;
#[cfg(feature = "markdown")]
pub mod markdown;
mod panic;
pub mod serve;
pub mod settings;
mod shutdown;
pub mod tasks;
pub mod testing;
mod tls;
pub mod transport;

pub use current::Current;
pub use error::{AppError, Error, ErrorKind};
pub use goplugin::{Empty, StdioData};
pub use hook_call::{HookError, HookResult};
pub use log::{HclogLayer, LOG_LEVEL_ENV, Logger};
pub use serve::{
    DEFAULT_HTTP_BODY_LIMIT, HOOK_TIMEOUT_ENV, HTTP_BODY_LIMIT_ENV, MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE, MAX_PORT_ENV,
    MIN_PORT_ENV, Options, PROTOCOL_VERSIONS_ENV, ServeError,
};
pub use tasks::Tasks;
pub use tls::{CLIENT_CERT_ENV, TlsError};
pub use transport::Transport;
