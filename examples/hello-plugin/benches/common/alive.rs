//! A check every bench that starts a plugin process makes at its end.

use std::time::Duration;

use tokio::process::Child;

/// Fails the bench if `child` is no longer running a while after its last
/// call: a plugin that exits mid-run (as one whose stdout pipe nobody reads
/// does, at its next half-second check) made the figures meaningless once,
/// unnoticed. The wait outlasts that check, so a smoke run catches it too.
pub async fn still_running(name: &str, child: &mut Child) {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(child.try_wait().expect("wait").is_none(), "{name} exited during the bench");
}
