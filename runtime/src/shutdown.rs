//! One shutdown signal for the whole plugin process, triggered by the
//! host's `Shutdown` call, a vanished host, or SIGTERM.

use std::sync::Arc;

use tokio::sync::watch;

/// Clones share one signal; triggering it more than once is harmless.
#[derive(Clone, Debug)]
pub(crate) struct Shutdown {
    sender: Arc<watch::Sender<bool>>,
}

impl Shutdown {
    pub(crate) fn new() -> Self {
        Self { sender: Arc::new(watch::Sender::new(false)) }
    }

    /// Starts the shutdown.
    pub(crate) fn trigger(&self) {
        self.sender.send_replace(true);
    }

    /// How many are waiting for the shutdown.
    #[cfg(test)]
    pub(crate) fn waiters(&self) -> usize {
        self.sender.receiver_count()
    }

    /// Resolves once the shutdown has started.
    pub(crate) async fn wait(&self) {
        let mut receiver = self.sender.subscribe();
        // The sender lives in `self`, so the channel cannot close under us.
        let _ = receiver.wait_for(|started| *started).await;
    }
}
