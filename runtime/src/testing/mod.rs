//! The contract-independent half of the test kit (cargo feature `testing`):
//! a clock tests move by hand, ids like the server's, the KV store's
//! semantics, a record of calls, per-test answers, captured logs, and the
//! server's side of an HTTP-over-gRPC stream.
//!
//! The SDK's generated `testing` module builds its fake server and host
//! driver from these; plugin authors use them through it.

mod busy;
mod calls;
mod clock;
pub mod http;
mod ids;
#[allow(clippy::result_large_err, reason = "the server's answer is an AppError, by value, once per failed call")]
pub mod kv;
mod logs;

pub use busy::Busy;
pub use calls::{Answering, Call, Calls, Overrides, Recorded};
pub use clock::Clock;
pub use ids::Ids;
pub use logs::{LogLine, LogSource, Logs};
