//! Panics kept inside the call that raised them: a hook's or an HTTP
//! handler's panic becomes an error answer, and the plugin serves on.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Polls a future, turning a panic inside it into `Err` with the panic's
/// message. After a panic the future is dropped with this wrapper, never
/// polled again.
pub(crate) struct CatchUnwind<F>(pub(crate) F);

impl<F: Future + Unpin> Future for CatchUnwind<F> {
    type Output = Result<F::Output, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.0;
        // Unwind safety: the plugin's state sits behind `&self` and its own
        // locks, which a panic poisons as usual.
        match std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(inner).poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Err(payload) => Poll::Ready(Err(message(payload.as_ref()))),
        }
    }
}

/// What a panic said: its `&str` or `String` payload.
pub(crate) fn message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_becomes_its_message_and_a_value_passes_through() {
        let value = CatchUnwind(Box::pin(async { 7 })).await;
        assert_eq!(value, Ok(7));
        let panicked = CatchUnwind(Box::pin(async { panic!("boom {}", 1) })).await;
        assert_eq!(panicked, Err::<(), _>("boom 1".to_owned()));
        let literal = CatchUnwind(Box::pin(async { panic!("plain") })).await;
        assert_eq!(literal, Err::<(), _>("plain".to_owned()));
        let other = CatchUnwind(Box::pin(async { std::panic::panic_any(42_u8) })).await;
        assert_eq!(other, Err::<(), _>("a non-string panic payload".to_owned()));
    }
}
