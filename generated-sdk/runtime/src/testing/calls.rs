//! What the fake server was asked, and the answers a test chose for it.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use crate::error::Error;

/// A request the fake server received: anything `Debug` that can be
/// downcast to its message type.
pub trait Recorded: Any + fmt::Debug + Send + Sync {
    /// `self`, for downcasting.
    fn as_any(&self) -> &dyn Any;
}

impl<T: Any + fmt::Debug + Send + Sync> Recorded for T {
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// One call the fake server received.
#[derive(Debug, Clone)]
pub struct Call {
    /// The RPC's name (`KVSet`).
    pub method: &'static str,
    request: Arc<dyn Recorded>,
}

impl Call {
    /// The request, if it is a `T` (the method's request message).
    pub fn request<T: Any>(&self) -> Option<&T> {
        // Through the `dyn`: `Arc<dyn Recorded>` is itself `Recorded`.
        (*self.request).as_any().downcast_ref()
    }
}

/// Every call the fake server received, in order. Clones share the record.
#[derive(Debug, Clone, Default)]
pub struct Calls {
    calls: Arc<Mutex<Vec<Call>>>,
}

impl Calls {
    /// Records a call of `method` with `request`.
    pub fn record<T: Recorded + Clone>(&self, method: &'static str, request: &T) {
        let call = Call { method, request: Arc::new(request.clone()) };
        self.calls.lock().unwrap_or_else(PoisonError::into_inner).push(call);
    }

    /// The calls so far, in order.
    pub fn all(&self) -> Vec<Call> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The requests of every call of `method` so far, in order, as `T`.
    pub fn requests<T: Any + Clone>(&self, method: &str) -> Vec<T> {
        let calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
        calls.iter().filter(|c| c.method == method).filter_map(|c| c.request::<T>().cloned()).collect()
    }

    /// How many calls of `method` so far.
    pub fn count(&self, method: &str) -> usize {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner).iter().filter(|c| c.method == method).count()
    }

    /// Forgets the calls so far.
    pub fn clear(&self) {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}

type Answer<Req, Out> = Arc<dyn Fn(Req) -> Result<Out, Error> + Send + Sync>;

/// The answers a test chose for some methods, each a closure from the typed
/// request to the typed result or an error (an [`Error::App`] is the
/// server's application error; an [`Error::Status`] or
/// [`Error::Transport`] fails the call with that status). Clones share them.
#[derive(Clone, Default)]
pub struct Overrides {
    answers: Arc<RwLock<HashMap<&'static str, Arc<dyn Any + Send + Sync>>>>,
}

impl Overrides {
    /// From now on, `method` is answered by `answer`.
    pub fn set<Req: 'static, Out: 'static>(
        &self,
        method: &'static str,
        answer: impl Fn(Req) -> Result<Out, Error> + Send + Sync + 'static,
    ) {
        let answer: Answer<Req, Out> = Arc::new(answer);
        self.answers.write().unwrap_or_else(PoisonError::into_inner).insert(method, Arc::new(answer));
    }

    /// `method` goes back to the fake's own answer.
    pub fn remove(&self, method: &str) {
        self.answers.write().unwrap_or_else(PoisonError::into_inner).remove(method);
    }

    /// The answer chosen for `method`, if any.
    pub fn get<Req: 'static, Out: 'static>(&self, method: &str) -> Option<Answer<Req, Out>> {
        let answers = self.answers.read().unwrap_or_else(PoisonError::into_inner);
        answers.get(method)?.downcast_ref::<Answer<Req, Out>>().cloned()
    }
}

impl fmt::Debug for Overrides {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let answers = self.answers.read().unwrap_or_else(PoisonError::into_inner);
        let mut methods: Vec<&&str> = answers.keys().collect();
        methods.sort();
        f.debug_struct("Overrides").field("methods", &methods).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_recorded_in_order_and_read_back_typed() {
        let calls = Calls::default();
        calls.record("KVSet", &("a".to_owned(), 1u8));
        calls.record("KVGet", &"a".to_owned());
        calls.record("KVSet", &("b".to_owned(), 2u8));
        assert_eq!(calls.requests::<(String, u8)>("KVSet"), [("a".to_owned(), 1), ("b".to_owned(), 2)]);
        assert_eq!(calls.count("KVGet"), 1);
        let all = calls.all();
        assert_eq!(all.iter().map(|c| c.method).collect::<Vec<_>>(), ["KVSet", "KVGet", "KVSet"]);
        assert_eq!(all[1].request::<String>().map(String::as_str), Some("a"));
        assert!(all[1].request::<u8>().is_none(), "another type does not downcast");
        calls.clear();
        assert!(calls.all().is_empty());
    }

    #[test]
    fn an_override_answers_until_removed() {
        let overrides = Overrides::default();
        assert!(overrides.get::<String, usize>("GetUser").is_none());
        overrides.set("GetUser", |id: String| Ok::<_, Error>(id.len()));
        let answer = overrides.get::<String, usize>("GetUser").expect("set");
        assert_eq!(answer("abc".into()).unwrap(), 3);
        assert!(overrides.get::<u8, usize>("GetUser").is_none(), "another signature is not this answer");
        assert_eq!(format!("{overrides:?}"), r#"Overrides { methods: ["GetUser"] }"#);
        overrides.remove("GetUser");
        assert!(overrides.get::<String, usize>("GetUser").is_none());
    }
}
