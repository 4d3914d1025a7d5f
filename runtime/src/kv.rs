//! The plugin's KV store with typed values: any `serde` type, stored as
//! JSON (as Go's `pluginapi` stores it, so Go and Rust plugins can share
//! keys), an atomic [`Kv::update`] built on compare-and-set that never loses
//! a concurrent write, and keys listed by prefix as a stream over the
//! server's pages.
//!
//! The calls themselves come through [`KvBackend`], which the SDK's glue
//! implements for its API client; this module does not name a contract type.

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
    /// The value under `key`; empty when there is none.
    fn kv_get_raw(&self, key: String) -> impl Future<Output = Result<Vec<u8>, Error>> + Send;

    /// Writes `value` under `key`, expiring after `expire_in_seconds` (0:
    /// never); when `atomic`, only if the stored value is still `old`
    /// (empty: absent). `Ok(false)` when the comparison failed.
    fn kv_set_raw(
        &self,
        key: String,
        value: Vec<u8>,
        atomic: bool,
        old: Vec<u8>,
        expire_in_seconds: i64,
    ) -> impl Future<Output = Result<bool, Error>> + Send;

    /// Removes `key`.
    fn kv_delete_raw(&self, key: String) -> impl Future<Output = Result<(), Error>> + Send;

    /// The keys of page `page` (0-based) of `per_page`, in key order.
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
    /// [`Kv::update`] lost the race every time: other writers changed the
    /// value between each read and write.
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

/// How [`Kv::update`] retries when another writer got there first: up to
/// `attempts` rounds, waiting between them a random time of up to `first`,
/// doubling each round up to `max` (exponential backoff with full jitter).
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
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, KvError> {
        let raw = self.backend.kv_get_raw(key.to_owned()).await?;
        decode(key, &raw)
    }

    /// Stores `value` under `key`, replacing what was there.
    pub async fn set<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<(), KvError> {
        self.set_raw(key, value, 0).await
    }

    /// Stores `value` under `key` for `ttl` (whole seconds, at least one).
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
    /// `Ok(false)` when there was.
    pub async fn insert<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<bool, KvError> {
        let bytes = encode(key, value)?;
        Ok(self.backend.kv_set_raw(key.to_owned(), bytes, true, Vec::new(), 0).await?)
    }

    /// Removes `key`; removing a key that is not there is not an error.
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
    /// `change` may run several times: keep it free of side effects.
    pub async fn update<T, F>(&self, key: &str, mut change: F) -> Result<Option<T>, KvError>
    where
        T: Serialize + DeserializeOwned,
        F: FnMut(Option<T>) -> Option<T>,
    {
        let attempts = self.retry.attempts.max(1);
        let mut wait = self.retry.first;
        for attempt in 1..=attempts {
            let old = self.backend.kv_get_raw(key.to_owned()).await?;
            let new = change(decode(key, &old)?);
            let new_bytes = match &new {
                Some(value) => encode(key, value)?,
                // Deleting what is not there: nothing to do.
                None if old.is_empty() => return Ok(None),
                None => Vec::new(),
            };
            if self.backend.kv_set_raw(key.to_owned(), new_bytes, true, old, 0).await? {
                return Ok(new);
            }
            if attempt < attempts {
                tokio::time::sleep(jitter(wait)).await;
                wait = (wait * 2).min(self.retry.max);
            }
        }
        Err(KvError::Contended { key: key.to_owned(), attempts })
    }

    /// The keys that start with `prefix`, in key order, read page by page
    /// from the server as the stream is consumed. A failed page ends the
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
    use super::*;

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
