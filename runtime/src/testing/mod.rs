//! The contract-independent half of the test kit (the SDK's `testing`
//! crate). Compiled in every plugin's build, not behind a feature: a
//! feature of this crate on in tests and off in the build would make
//! cargo compile this crate, and the SDK after it, once for each. Here:
//! a clock tests move by hand, ids like the server's, the KV store's
//! semantics, a record of calls, per-test answers, captured logs, and the
//! server's side of an HTTP-over-gRPC stream.
//!
//! The SDK's generated test kit builds its fake server and host driver
//! from these; plugin authors use them through it.

mod calls;
mod clock;
pub mod http;
mod ids;
#[allow(clippy::result_large_err, reason = "the server's answer is an AppError, by value, once per failed call")]
pub mod kv;
mod logs;
mod wait;

pub use calls::{Answering, Call, Calls, Overrides, Recorded};
pub use clock::Clock;
pub use ids::Ids;
pub use logs::{LogLine, LogSource, Logs};
pub use wait::within;
