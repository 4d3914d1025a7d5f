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
/// [`Error::Transport`] fails the call with that status), for every call
/// from now on or for the next few ([`Answering::times`]); and failures
/// chosen for the next calls of a method, whatever its types
/// ([`Overrides::fail_next`]). Clones share them.
#[derive(Clone, Default)]
pub struct Overrides {
    inner: Arc<RwLock<Chosen>>,
}

#[derive(Default)]
struct Chosen {
    answers: HashMap<&'static str, Entry>,
    failures: HashMap<String, Failing>,
    next_id: u64,
}

struct Entry {
    answer: Arc<dyn Any + Send + Sync>,
    /// How many more calls it answers; `None`: every call.
    remaining: Option<usize>,
    id: u64,
}

struct Failing {
    remaining: usize,
    error: Arc<dyn Fn() -> Error + Send + Sync>,
}

/// An answer just chosen for a method; [`Answering::times`] limits it to the
/// next few calls. Dropping it keeps the answer for every call.
#[derive(Debug)]
pub struct Answering {
    overrides: Overrides,
    method: &'static str,
    id: u64,
}

impl Answering {
    /// The answer serves only the next `calls` calls of the method, then the
    /// fake answers as before (`times(0)`: none).
    /// `fake.on_kv_compare_and_set(|_| Ok(false)).times(3)`: the next three
    /// compare-and-set calls lose the race.
    pub fn times(self, calls: usize) {
        let mut chosen = self.overrides.inner.write().unwrap_or_else(PoisonError::into_inner);
        let Some(entry) = chosen.answers.get_mut(self.method).filter(|entry| entry.id == self.id) else { return };
        if calls == 0 {
            chosen.answers.remove(self.method);
        } else {
            entry.remaining = Some(calls);
        }
    }
}

impl Overrides {
    /// From now on, `method` is answered by `answer`.
    pub fn set<Req: 'static, Out: 'static>(
        &self,
        method: &'static str,
        answer: impl Fn(Req) -> Result<Out, Error> + Send + Sync + 'static,
    ) -> Answering {
        let answer: Answer<Req, Out> = Arc::new(answer);
        let mut chosen = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        chosen.next_id += 1;
        let id = chosen.next_id;
        chosen.answers.insert(method, Entry { answer: Arc::new(answer), remaining: None, id });
        Answering { overrides: self.clone(), method, id }
    }

    /// `method` goes back to the fake's own answer (a failure chosen with
    /// [`Overrides::fail_next`] included).
    pub fn remove(&self, method: &str) {
        let mut chosen = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        chosen.answers.remove(method);
        chosen.failures.remove(method);
    }

    /// The answer chosen for `method`, if any, counting the call.
    pub fn get<Req: 'static, Out: 'static>(&self, method: &str) -> Option<Answer<Req, Out>> {
        let mut chosen = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        let entry = chosen.answers.get_mut(method)?;
        let answer = entry.answer.downcast_ref::<Answer<Req, Out>>().cloned()?;
        match &mut entry.remaining {
            Some(1) => drop(chosen.answers.remove(method)),
            Some(left) => *left -= 1,
            None => {}
        }
        Some(answer)
    }

    /// The next `calls` calls of `method` (`"KVSet"`) fail with what `error`
    /// makes, whatever the method's types; then it answers as before.
    pub fn fail_next(&self, method: &str, calls: usize, error: impl Fn() -> Error + Send + Sync + 'static) {
        let mut chosen = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if calls == 0 {
            chosen.failures.remove(method);
        } else {
            chosen.failures.insert(method.to_owned(), Failing { remaining: calls, error: Arc::new(error) });
        }
    }

    /// The failure chosen for this call of `method`, if any, counting it.
    pub fn take_failure(&self, method: &str) -> Option<Error> {
        let mut chosen = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        let failing = chosen.failures.get_mut(method)?;
        let error = (failing.error)();
        failing.remaining -= 1;
        if failing.remaining == 0 {
            chosen.failures.remove(method);
        }
        Some(error)
    }
}

impl fmt::Debug for Overrides {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let chosen = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        let mut methods: Vec<&&str> = chosen.answers.keys().collect();
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
        let _ = overrides.set("GetUser", |id: String| Ok::<_, Error>(id.len()));
        let answer = overrides.get::<String, usize>("GetUser").expect("set");
        assert_eq!(answer("abc".into()).unwrap(), 3);
        assert!(overrides.get::<u8, usize>("GetUser").is_none(), "another signature is not this answer");
        assert_eq!(format!("{overrides:?}"), r#"Overrides { methods: ["GetUser"] }"#);
        overrides.remove("GetUser");
        assert!(overrides.get::<String, usize>("GetUser").is_none());
    }

    #[test]
    fn an_answer_for_the_next_calls_serves_them_and_goes() {
        let overrides = Overrides::default();
        overrides.set("KVCompareAndSet", |_: u8| Ok::<_, Error>(false)).times(2);
        assert!(overrides.get::<u8, bool>("KVCompareAndSet").is_some());
        assert!(overrides.get::<u8, bool>("KVCompareAndSet").is_some());
        assert!(overrides.get::<u8, bool>("KVCompareAndSet").is_none(), "two calls, then the fake's own answer");
        overrides.set("GetUser", |_: u8| Ok::<_, Error>(1u8)).times(0);
        assert!(overrides.get::<u8, u8>("GetUser").is_none());
        // A later answer is not limited by an older handle.
        let old = overrides.set("GetTeam", |_: u8| Ok::<_, Error>(1u8));
        let _ = overrides.set("GetTeam", |_: u8| Ok::<_, Error>(2u8));
        old.times(1);
        for _ in 0..3 {
            assert_eq!(overrides.get::<u8, u8>("GetTeam").unwrap()(0).unwrap(), 2);
        }
    }

    #[test]
    fn failures_for_the_next_calls_come_first_and_run_out() {
        let overrides = Overrides::default();
        overrides.fail_next("KVSet", 2, || Error::Status(Box::new(tonic::Status::unavailable("down"))));
        assert!(matches!(overrides.take_failure("KVSet"), Some(Error::Status(s)) if s.message() == "down"));
        assert!(overrides.take_failure("KVSet").is_some());
        assert!(overrides.take_failure("KVSet").is_none());
        overrides.fail_next("KVGet", 1, || Error::Status(Box::new(tonic::Status::internal("x"))));
        overrides.remove("KVGet");
        assert!(overrides.take_failure("KVGet").is_none());
    }
}
