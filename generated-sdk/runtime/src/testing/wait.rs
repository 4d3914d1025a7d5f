//! Waiting in a test kit on the wall clock.

use std::future::Future;

/// `future`'s output, or `Err` once `limit` has passed on the wall clock.
/// Not tokio's clock: in a test that pauses it, tokio moves its clock to the
/// next timer whenever nothing else can run, and a timeout of its own would
/// be that timer, cutting short the work it waits for (a reminder due in an
/// hour). A thread keeps the time, and ends when `future` does.
pub async fn within<F: Future>(limit: std::time::Duration, future: F) -> Result<F::Output, ()> {
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let (late, too_late) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = finished.recv_timeout(limit) {
            let _ = late.send(());
        }
    });
    let outcome = tokio::select! {
        output = future => Ok(output),
        _ = too_late => Err(()),
    };
    drop(done);
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn within_keeps_wall_clock_time_so_a_paused_clock_still_reaches_an_hour() {
        let an_hour = within(Duration::from_secs(10), tokio::time::sleep(Duration::from_secs(3600))).await;
        assert!(an_hour.is_ok(), "tokio's paused clock jumped the hour; the wall clock did not time out");
        let started = std::time::Instant::now();
        let never = within(Duration::from_millis(50), std::future::pending::<()>()).await;
        assert!(never.is_err());
        assert!(started.elapsed() >= Duration::from_millis(50));
    }
}
