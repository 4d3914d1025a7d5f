//! The plugin's KV store with typed values: any `serde` type, stored as
//! JSON (as Go's `pluginapi` stores it, so Go and Rust plugins can share
//! keys), atomic read-modify-writes ([`Kv::update`], [`Kv::modify`]) built
//! on compare-and-set that never lose a concurrent write, and keys listed by
//! prefix as a stream over the server's pages.
//!
//! The calls themselves come through [`KvBackend`], which the SDK's glue
//! implements for its API client; this module does not name a contract type.
//! The glue sends one plugin API call per backend method:
//!
//! | backend method | plugin API call |
//! |---|---|
//! | [`KvBackend::kv_get_raw`] | `KVGet` |
//! | [`KvBackend::kv_set_raw`] | `KVSetWithOptions` (`atomic`, `old_value`, `expire_in_seconds`) |
//! | [`KvBackend::kv_delete_raw`] | `KVDelete` |
//! | [`KvBackend::kv_list_raw`] | `KVList` |
//!
//! Each typed method says which of them it makes.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_stream::Stream;

use crate::error::Error;

/// The KV calls the typed store is built on, as the server answers them
/// (host rules, "The plugin API's answers"): an absent key reads empty; an
/// atomic write with an empty old value writes only when the key is absent;
/// an atomic write of an empty value deletes when the old value matches.
pub trait KvBackend: Clone + Send + Sync + 'static {
    /// The value under `key`; empty when there is none. The SDK sends
    /// `KVGet`.
    fn kv_get_raw(&self, key: String) -> impl Future<Output = Result<Vec<u8>, Error>> + Send;

    /// Writes `value` under `key`, expiring after `expire_in_seconds` (0:
    /// never); when `atomic`, only if the stored value is still `old`
    /// (empty: absent). `Ok(false)` when the comparison failed. The SDK
    /// sends `KVSetWithOptions`.
    fn kv_set_raw(
        &self,
        key: String,
        value: Vec<u8>,
        atomic: bool,
        old: Vec<u8>,
        expire_in_seconds: i64,
    ) -> impl Future<Output = Result<bool, Error>> + Send;

    /// Removes `key`. The SDK sends `KVDelete`.
    fn kv_delete_raw(&self, key: String) -> impl Future<Output = Result<(), Error>> + Send;

    /// The keys of page `page` (0-based) of `per_page`, in key order. The
    /// SDK sends `KVList`.
    fn kv_list_raw(&self, page: i32, per_page: i32) -> impl Future<Output = Result<Vec<String>, Error>> + Send;
}

/// Why a typed KV call failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum KvError {
    /// The API call failed.
    Api(Error),
    /// The stored value is not the JSON of the type asked for.
    Decode {
        /// The key.
        key: String,
        /// What serde_json said.
        source: serde_json::Error,
    },
    /// The value could not be written as JSON.
    Encode {
        /// The key.
        key: String,
        /// What serde_json said.
        source: serde_json::Error,
    },
    /// [`Kv::update`] or [`Kv::modify`] lost the race every time: other
    /// writers changed the value between each read and write.
    Contended {
        /// The key.
        key: String,
        /// How many read-modify-write rounds were tried.
        attempts: u32,
    },
}

impl fmt::Display for KvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Api(e) => e.fmt(f),
            Self::Decode { key, source } => {
                write!(f, "the value under {key:?} is not the JSON of the type asked for: {source}")
            }
            Self::Encode { key, source } => write!(f, "the value for {key:?} cannot be written as JSON: {source}"),
            Self::Contended { key, attempts } => write!(
                f,
                "gave up updating {key:?} after {attempts} attempts: other writers changed it each time \
                 (raise RetryPolicy::attempts, or spread the writes over more keys)"
            ),
        }
    }
}

impl std::error::Error for KvError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Api(e) => e.source(),
            Self::Decode { source, .. } | Self::Encode { source, .. } => Some(source),
            Self::Contended { .. } => None,
        }
    }
}

impl From<Error> for KvError {
    fn from(e: Error) -> Self {
        Self::Api(e)
    }
}

/// How [`Kv::update`] and [`Kv::modify`] retry when another writer got
/// there first: up to `attempts` rounds, waiting between them a random time
/// of up to `first`, doubling each round up to `max` (exponential backoff
/// with full jitter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Read-modify-write rounds before giving up (at least 1).
    pub attempts: u32,
    /// The longest wait after the first lost round.
    pub first: Duration,
    /// The longest wait after any round.
    pub max: Duration,
}

impl Default for RetryPolicy {
    /// 100 rounds, waits from up to 1 ms growing to up to 100 ms: enough for
    /// a few thousand writers on one key on one cluster.
    fn default() -> Self {
        Self { attempts: 100, first: Duration::from_millis(1), max: Duration::from_millis(100) }
    }
}

/// The plugin's KV store, with typed values. Cloning is cheap.
#[derive(Clone)]
pub struct Kv<B> {
    backend: B,
    retry: RetryPolicy,
}

impl<B> fmt::Debug for Kv<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kv").field("retry", &self.retry).finish_non_exhaustive()
    }
}

/// The page size [`Kv::keys_with_prefix`] reads the keys in.
pub const LIST_PAGE: i32 = 200;

impl<B: KvBackend> Kv<B> {
    /// The typed store over `backend`, with the default [`RetryPolicy`].
    pub fn new(backend: B) -> Self {
        Self { backend, retry: RetryPolicy::default() }
    }

    /// The same store, retrying updates by `retry`.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The value under `key`, or `None` when there is none (or it expired).
    /// One call: `KVGet`.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, KvError> {
        let raw = self.backend.kv_get_raw(key.to_owned()).await?;
        decode(key, &raw)
    }

    /// Stores `value` under `key`, replacing what was there. One call:
    /// `KVSetWithOptions`, not atomic, no expiry.
    pub async fn set<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<(), KvError> {
        self.set_raw(key, value, 0).await
    }

    /// Stores `value` under `key` for `ttl` (whole seconds, at least one).
    /// One call: `KVSetWithOptions`, not atomic, `expire_in_seconds` set.
    pub async fn set_with_expiry<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        ttl: Duration,
    ) -> Result<(), KvError> {
        let seconds = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX).max(1);
        self.set_raw(key, value, seconds).await
    }

    async fn set_raw<T: Serialize + ?Sized>(&self, key: &str, value: &T, expire: i64) -> Result<(), KvError> {
        let bytes = encode(key, value)?;
        self.backend.kv_set_raw(key.to_owned(), bytes, false, Vec::new(), expire).await?;
        Ok(())
    }

    /// Stores `value` under `key` only if there is nothing there yet;
    /// `Ok(false)` when there was. One call: `KVSetWithOptions`, atomic
    /// with an empty old value (which the server reads as "absent").
    pub async fn insert<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<bool, KvError> {
        let bytes = encode(key, value)?;
        Ok(self.backend.kv_set_raw(key.to_owned(), bytes, true, Vec::new(), 0).await?)
    }

    /// Removes `key`; removing a key that is not there is not an error.
    /// One call: `KVDelete`.
    pub async fn delete(&self, key: &str) -> Result<(), KvError> {
        Ok(self.backend.kv_delete_raw(key.to_owned()).await?)
    }

    /// Changes the value under `key` atomically: `change` gets the value now
    /// (`None` when there is none) and answers the new one (`None` deletes
    /// it); the write happens only if nobody changed the value meanwhile,
    /// else `change` runs again on the newer value, after a backoff, up to
    /// [`RetryPolicy::attempts`] times. No concurrent update is lost, on
    /// one node or on many. Returns what was written.
    ///
    /// Each round is two calls: `KVGet`, then `KVSetWithOptions`, atomic
    /// with the value read as the old value (an empty new value deletes).
    /// Deleting a key that is not there makes no second call.
    ///
    /// `change` may run several times: keep it free of side effects.
    pub async fn update<T, F>(&self, key: &str, mut change: F) -> Result<Option<T>, KvError>
    where
        T: Serialize + DeserializeOwned,
        F: FnMut(Option<T>) -> Option<T>,
    {
        self.read_modify_write(key, |old| {
            let new = change(decode(key, old)?);
            Ok(match &new {
                Some(value) => Round::Write(encode(key, value)?, new),
                // Deleting what is not there: nothing to do.
                None if old.is_empty() => Round::Done(None),
                None => Round::Write(Vec::new(), None),
            })
        })
        .await
    }

    /// Changes the value under `key` in place, atomically: `change` gets the
    /// value now (`T::default()` when there is none) to change, and answers
    /// whether to write it. `Ok(true)`: the changed value is written if
    /// nobody changed the stored one meanwhile, else `change` runs again on
    /// a fresh copy of the newer value, after a backoff, up to
    /// [`RetryPolicy::attempts`] times, as [`Kv::update`] does. `Ok(false)`:
    /// nothing is written. `Err`: nothing is written and the error is
    /// returned (the KV store's own failures come as `E::from(KvError)`).
    ///
    /// Returns the value stored now: the one written, or on `Ok(false)` the
    /// one read (`T::default()` if there was none, which stays unstored),
    /// whatever `change` did to its copy.
    ///
    /// Each round is `KVGet`, then, on `Ok(true)` only, `KVSetWithOptions`
    /// atomic with the value read as the old value. (Go's
    /// `pluginapi.KVService.SetAtomicWithRetries` likewise writes nothing
    /// when its callback fails, and has no way to decline without failing.)
    ///
    /// `change` may run several times: keep it free of side effects.
    ///
    /// ```ignore
    /// // Adds "alice" once; `seen` is the list stored afterwards.
    /// let seen: Vec<String> = kv
    ///     .modify("seen", |seen: &mut Vec<String>| {
    ///         if seen.iter().any(|s| s == "alice") {
    ///             return Ok::<_, KvError>(false);
    ///         }
    ///         seen.push("alice".to_owned());
    ///         Ok(true)
    ///     })
    ///     .await?;
    /// ```
    ///
    /// (A `change` that never fails names its error type, as here, or the
    /// caller's: `E` is not inferred from the `?` after the call.)
    pub async fn modify<T, E, F>(&self, key: &str, mut change: F) -> Result<T, E>
    where
        T: Serialize + DeserializeOwned + Default,
        E: From<KvError>,
        F: FnMut(&mut T) -> Result<bool, E>,
    {
        self.read_modify_write(key, |old| {
            let mut value: T = decode(key, old)?.unwrap_or_default();
            if change(&mut value)? {
                let bytes = encode(key, &value)?;
                Ok(Round::Write(bytes, value))
            } else {
                // What is stored, not what `change` left in its copy.
                Ok(Round::Done(decode(key, old)?.unwrap_or_default()))
            }
        })
        .await
    }

    /// The compare-and-set loop of [`Kv::update`] and [`Kv::modify`]: reads
    /// the raw value (`KVGet`), lets `round` decide, and writes what it asks
    /// only if the value is still the one read (`KVSetWithOptions`, atomic
    /// with it as the old value); on a lost race, waits and starts over, by
    /// the [`RetryPolicy`].
    async fn read_modify_write<R, E, F>(&self, key: &str, mut round: F) -> Result<R, E>
    where
        E: From<KvError>,
        F: FnMut(&[u8]) -> Result<Round<R>, E>,
    {
        let attempts = self.retry.attempts.max(1);
        let mut wait = self.retry.first;
        for attempt in 1..=attempts {
            let old = self.backend.kv_get_raw(key.to_owned()).await.map_err(KvError::from)?;
            let (new, answer) = match round(&old)? {
                Round::Write(new, answer) => (new, answer),
                Round::Done(answer) => return Ok(answer),
            };
            if self.backend.kv_set_raw(key.to_owned(), new, true, old, 0).await.map_err(KvError::from)? {
                return Ok(answer);
            }
            if attempt < attempts {
                tokio::time::sleep(jitter(wait)).await;
                wait = (wait * 2).min(self.retry.max);
            }
        }
        Err(KvError::Contended { key: key.to_owned(), attempts }.into())
    }

    /// The keys that start with `prefix`, in key order, read page by page
    /// from the server as the stream is consumed: one `KVList` call per
    /// page of [`LIST_PAGE`] keys, filtered here (`KVList` takes no
    /// prefix), until a page comes back short. A failed page ends the
    /// stream with its error.
    pub fn keys_with_prefix(&self, prefix: &str) -> impl Stream<Item = Result<String, KvError>> + Send + 'static {
        struct Pages<B> {
            backend: B,
            prefix: String,
            page: i32,
            buffer: std::vec::IntoIter<String>,
            done: bool,
        }
        let state = Pages {
            backend: self.backend.clone(),
            prefix: prefix.to_owned(),
            page: 0,
            buffer: Vec::new().into_iter(),
            done: false,
        };
        futures_util::stream::unfold(state, |mut s| async move {
            loop {
                if let Some(key) = s.buffer.by_ref().find(|k| k.starts_with(&s.prefix)) {
                    return Some((Ok(key), s));
                }
                if s.done {
                    return None;
                }
                match s.backend.kv_list_raw(s.page, LIST_PAGE).await {
                    Ok(keys) => {
                        s.done = keys.len() < usize::try_from(LIST_PAGE).unwrap_or(usize::MAX);
                        s.page += 1;
                        s.buffer = keys.into_iter();
                    }
                    Err(error) => {
                        s.done = true;
                        return Some((Err(KvError::Api(error)), s));
                    }
                }
            }
        })
    }

    /// The backend, for the raw calls.
    pub fn backend(&self) -> &B {
        &self.backend
    }
}

/// What one round of a read-modify-write decided.
enum Round<R> {
    /// Write these bytes (empty: delete) if the value is still the one
    /// read; then answer `R`.
    Write(Vec<u8>, R),
    /// Write nothing; answer `R`.
    Done(R),
}

fn decode<T: DeserializeOwned>(key: &str, raw: &[u8]) -> Result<Option<T>, KvError> {
    if raw.is_empty() {
        return Ok(None);
    }
    serde_json::from_slice(raw).map(Some).map_err(|source| KvError::Decode { key: key.to_owned(), source })
}

fn encode<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<Vec<u8>, KvError> {
    serde_json::to_vec(value).map_err(|source| KvError::Encode { key: key.to_owned(), source })
}

/// A random time from zero to `max` ("full jitter"), so writers that lost
/// together do not retry together.
pub(crate) fn jitter(max: Duration) -> Duration {
    let nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(if nanos == 0 { 0 } else { random_u64() % (nanos + 1) })
}

/// 64 random bits, from the standard library's per-call random hasher keys
/// (no dependency for what needs no cryptography).
pub(crate) fn random_u64() -> u64 {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher
        .write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::testing::kv::KvStore;

    /// The test kit's store behind the backend trait, counting the writes,
    /// with a rival writer that can slip a value in before the next write.
    #[derive(Clone, Default)]
    struct Store {
        kv: Arc<Mutex<KvStore>>,
        writes: Arc<AtomicUsize>,
        rival: Arc<Mutex<Vec<Vec<u8>>>>,
    }

    const NOW: i64 = 0;

    impl Store {
        fn bytes(&self, key: &str) -> Vec<u8> {
            self.kv.lock().unwrap().get(key, NOW)
        }

        fn writes(&self) -> usize {
            self.writes.load(Ordering::SeqCst)
        }

        /// Before each of the next writes, another writer stores one of `values`.
        fn rival_writes(&self, values: &[&[u8]]) {
            *self.rival.lock().unwrap() = values.iter().rev().map(|v| v.to_vec()).collect();
        }
    }

    impl KvBackend for Store {
        async fn kv_get_raw(&self, key: String) -> Result<Vec<u8>, Error> {
            Ok(self.bytes(&key))
        }

        async fn kv_set_raw(
            &self,
            key: String,
            value: Vec<u8>,
            atomic: bool,
            old: Vec<u8>,
            expire_in_seconds: i64,
        ) -> Result<bool, Error> {
            let mut kv = self.kv.lock().unwrap();
            if let Some(theirs) = self.rival.lock().unwrap().pop() {
                kv.set(&key, &theirs, 0, NOW).map_err(Error::from)?;
            }
            self.writes.fetch_add(1, Ordering::SeqCst);
            kv.set_with_options(&key, &value, atomic, &old, expire_in_seconds, NOW).map_err(Error::from)
        }

        async fn kv_delete_raw(&self, key: String) -> Result<(), Error> {
            self.kv.lock().unwrap().delete(&key);
            Ok(())
        }

        async fn kv_list_raw(&self, page: i32, per_page: i32) -> Result<Vec<String>, Error> {
            Ok(self.kv.lock().unwrap().list(page.into(), per_page.into(), NOW))
        }
    }

    fn kv() -> (Kv<Store>, Store) {
        let store = Store::default();
        let no_wait = RetryPolicy { attempts: 5, first: Duration::ZERO, max: Duration::ZERO };
        (Kv::new(store.clone()).with_retry(no_wait), store)
    }

    #[tokio::test]
    async fn modify_appends_to_a_list_in_place() {
        let (kv, store) = kv();
        let push = |name: &'static str| {
            move |list: &mut Vec<String>| {
                list.push(name.to_owned());
                Ok::<_, KvError>(true)
            }
        };
        assert_eq!(kv.modify("seen", push("alice")).await.unwrap(), ["alice"], "from the default, an empty list");
        assert_eq!(kv.modify("seen", push("bob")).await.unwrap(), ["alice", "bob"]);
        assert_eq!(store.bytes("seen"), br#"["alice","bob"]"#);
        assert_eq!(store.writes(), 2);
    }

    #[tokio::test]
    async fn modify_writes_nothing_when_change_declines() {
        let (kv, store) = kv();
        kv.set("n", &5_u32).await.unwrap();
        let kept = kv
            .modify("n", |n: &mut u32| {
                *n += 1;
                Ok::<_, KvError>(false)
            })
            .await
            .unwrap();
        assert_eq!(kept, 5, "the value stored, not the declined change");
        assert_eq!((store.bytes("n"), store.writes()), (b"5".to_vec(), 1), "only the first set wrote");
        let absent = kv.modify("absent", |_: &mut Vec<u8>| Ok::<_, KvError>(false)).await.unwrap();
        assert!(absent.is_empty());
        assert_eq!((store.bytes("absent"), store.writes()), (Vec::new(), 1), "the default is not stored either");
    }

    #[tokio::test]
    async fn modify_stops_at_an_error_and_writes_nothing() {
        #[derive(Debug, PartialEq)]
        enum Refused {
            TooMany,
            Kv(String),
        }
        impl From<KvError> for Refused {
            fn from(e: KvError) -> Self {
                Self::Kv(e.to_string())
            }
        }
        let (kv, store) = kv();
        kv.set("list", &[1, 2, 3]).await.unwrap();
        let mut calls = 0;
        let error = kv
            .modify("list", |list: &mut Vec<u8>| {
                calls += 1;
                list.clear();
                if list.len() < 3 { Err(Refused::TooMany) } else { Ok(true) }
            })
            .await
            .unwrap_err();
        assert_eq!((error, calls), (Refused::TooMany, 1));
        assert_eq!((store.bytes("list"), store.writes()), (b"[1,2,3]".to_vec(), 1));
        store.kv.lock().unwrap().set("list", b"not json", 0, NOW).unwrap();
        let error = kv.modify("list", |_: &mut Vec<u8>| Ok::<_, Refused>(true)).await.unwrap_err();
        assert!(matches!(&error, Refused::Kv(e) if e.contains("not the JSON")), "{error:?}");
        assert_eq!(store.writes(), 1, "a value that does not decode is not overwritten");
    }

    #[tokio::test]
    async fn modify_retries_on_a_concurrent_change_and_keeps_it() {
        let (kv, store) = kv();
        kv.set("list", &["a"]).await.unwrap();
        store.rival_writes(&[br#"["a","rival"]"#]);
        let mut seen = Vec::new();
        let stored = kv
            .modify("list", |list: &mut Vec<String>| {
                seen.push(list.clone());
                list.push("mine".to_owned());
                Ok::<_, KvError>(true)
            })
            .await
            .unwrap();
        assert_eq!(seen, [vec!["a"], vec!["a", "rival"]], "run again on the newer value");
        assert_eq!(stored, ["a", "rival", "mine"]);
        assert_eq!(store.bytes("list"), br#"["a","rival","mine"]"#);
        assert_eq!(store.writes(), 3, "the set, the lost compare-and-set, the one that won");
    }

    #[tokio::test]
    async fn modify_gives_up_as_update_does() {
        let (kv, store) = kv();
        store.rival_writes(&[b"1", b"2", b"3", b"4", b"5"]);
        let error = kv
            .modify("hot", |n: &mut u32| {
                *n += 10;
                Ok::<_, KvError>(true)
            })
            .await
            .unwrap_err();
        assert!(matches!(&error, KvError::Contended { key, attempts: 5 } if key == "hot"), "{error:?}");
        assert_eq!(store.bytes("hot"), b"5", "the rival's last write stands");
    }

    #[tokio::test]
    async fn update_still_changes_and_deletes_with_one_write_each() {
        let (kv, store) = kv();
        assert_eq!(kv.update("n", |n: Option<u64>| Some(n.unwrap_or(0) + 1)).await.unwrap(), Some(1));
        store.rival_writes(&[b"10"]);
        assert_eq!(kv.update("n", |n: Option<u64>| Some(n.unwrap_or(0) + 1)).await.unwrap(), Some(11));
        assert_eq!(kv.update("n", |_: Option<u64>| None).await.unwrap(), None);
        assert_eq!(store.bytes("n"), b"");
        assert_eq!(kv.update("n", |_: Option<u64>| None).await.unwrap(), None);
        assert_eq!(store.writes(), 4, "one, a lost one and a won one, the delete; deleting nothing writes nothing");
    }

    #[test]
    fn jitter_spreads_over_the_whole_range() {
        let max = Duration::from_millis(100);
        let waits: Vec<Duration> = (0..1000).map(|_| jitter(max)).collect();
        assert!(waits.iter().all(|w| *w <= max));
        let below_half = waits.iter().filter(|w| **w < max / 2).count();
        assert!((350..650).contains(&below_half), "{below_half} of 1000 below half");
        let distinct: std::collections::HashSet<_> = waits.iter().collect();
        assert!(distinct.len() > 900, "{} distinct waits", distinct.len());
    }
}
