//! The plugin KV store with the server's semantics, for the fake server.
//!
//! The rules, as the server's store applies them (mattermost/mattermost:
//! the gRPC API's KV handlers, the app layer and the SQL plugin store):
//! - An empty value is no value: setting one deletes the key; a missing or
//!   expired key reads as empty, with no error; deleting a missing key is
//!   not an error.
//! - Keys are 1 to 150 characters, checked when writing (set,
//!   compare-and-set, compare-and-delete, set with options); reads, deletes
//!   and lists do not check them.
//! - An expiry of `s` seconds (any non-zero `s`) ends the key at now + `s`;
//!   a key is live while that moment is in the future, so a negative expiry
//!   hides it at once. Setting a key again replaces its expiry.
//! - Compare-and-set with an empty old value writes only when the key is
//!   absent (or expired); with an empty new value it is a
//!   compare-and-delete. A comparison that fails answers `false`, not an
//!   error; a successful one leaves no expiry.
//! - Compare-and-delete with an empty old value answers `false`; otherwise
//!   it deletes a live key holding exactly that value.
//! - Set with options: not atomic with an old value is a 400 error; atomic
//!   is compare-and-set (the expiry applying to what it writes); otherwise
//!   a plain set that answers `true`.
//! - Listing pages through the live keys in key order; the page is 0-based,
//!   and a page size of 0 or less means 10 keys from the start.

use std::collections::BTreeMap;

use crate::error::AppError;

/// The longest key, in characters.
pub const MAX_KEY_LEN: usize = 150;

/// The page size a list with a page size of 0 or less gets.
pub const DEFAULT_PAGE_SIZE: usize = 10;

/// The error id of a key that is empty or too long.
pub const INVALID_KEY: &str = "model.plugin_key_value.is_valid.key.app_error";

/// The error id of set-with-options given an old value but not atomic.
pub const INVALID_OPTIONS: &str = "model.plugin_kvset_options.is_valid.old_value.app_error";

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    value: Vec<u8>,
    /// Milliseconds since the epoch; 0 for never.
    expires_at: i64,
}

impl Entry {
    fn live(&self, now: i64) -> bool {
        self.expires_at == 0 || self.expires_at > now
    }
}

/// One plugin's KV store. Every operation takes the time now, in
/// milliseconds since the Unix epoch (the fake server's clock).
#[derive(Debug, Clone, Default)]
pub struct KvStore {
    entries: BTreeMap<String, Entry>,
}

impl KvStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `value` under `key` (an empty value deletes it), expiring
    /// after `expire_in_seconds` unless that is 0.
    pub fn set(&mut self, key: &str, value: &[u8], expire_in_seconds: i64, now: i64) -> Result<(), AppError> {
        check_key(key)?;
        self.put(key, value, expire_in_seconds, now);
        Ok(())
    }

    /// The value under `key`; empty when it is missing or expired.
    pub fn get(&self, key: &str, now: i64) -> Vec<u8> {
        self.live(key, now).map(|e| e.value.clone()).unwrap_or_default()
    }

    /// Removes `key`, if it is there.
    pub fn delete(&mut self, key: &str) {
        self.entries.remove(key);
    }

    /// Removes every key.
    pub fn delete_all(&mut self) {
        self.entries.clear();
    }

    /// The live keys of page `page` (0-based) of `per_page` keys, in key order.
    pub fn list(&self, page: i64, per_page: i64, now: i64) -> Vec<String> {
        let (skip, take) = if per_page <= 0 {
            (0, DEFAULT_PAGE_SIZE)
        } else {
            let per_page = usize::try_from(per_page).unwrap_or(usize::MAX);
            match usize::try_from(page) {
                Ok(page) => (page.saturating_mul(per_page), per_page),
                // The server's offset would be out of range: nothing.
                Err(_) => return Vec::new(),
            }
        };
        self.entries.iter().filter(|(_, e)| e.live(now)).skip(skip).take(take).map(|(k, _)| k.clone()).collect()
    }

    /// Writes `new` if the value is still `old` (empty `old`: if the key is
    /// absent); an empty `new` deletes instead. `Ok(false)` when the value differed.
    pub fn compare_and_set(&mut self, key: &str, old: &[u8], new: &[u8], now: i64) -> Result<bool, AppError> {
        self.atomic_set(key, old, new, 0, now)
    }

    /// Deletes `key` if its value is `old`; `Ok(false)` when it is not, or
    /// when `old` is empty.
    pub fn compare_and_delete(&mut self, key: &str, old: &[u8], now: i64) -> Result<bool, AppError> {
        check_key(key)?;
        Ok(self.delete_if(key, old, now))
    }

    /// Set with options: `atomic` compares with `old` first (as
    /// [`Self::compare_and_set`]); otherwise a plain set, which answers
    /// `true`, and refuses an `old` value with a 400 error.
    pub fn set_with_options(
        &mut self,
        key: &str,
        value: &[u8],
        atomic: bool,
        old: &[u8],
        expire_in_seconds: i64,
        now: i64,
    ) -> Result<bool, AppError> {
        if !atomic && !old.is_empty() {
            return Err(AppError {
                id: INVALID_OPTIONS.to_owned(),
                message: "an old value is only allowed with an atomic set".to_owned(),
                status_code: 400,
                ..AppError::default()
            });
        }
        if atomic {
            return self.atomic_set(key, old, value, expire_in_seconds, now);
        }
        check_key(key)?;
        self.put(key, value, expire_in_seconds, now);
        Ok(true)
    }

    fn atomic_set(&mut self, key: &str, old: &[u8], new: &[u8], expire: i64, now: i64) -> Result<bool, AppError> {
        check_key(key)?;
        if new.is_empty() {
            return Ok(self.delete_if(key, old, now));
        }
        let current = self.live(key, now).map(|e| e.value.as_slice());
        let matches = if old.is_empty() { current.is_none() } else { current == Some(old) };
        if matches {
            self.put(key, new, expire, now);
        }
        Ok(matches)
    }

    fn delete_if(&mut self, key: &str, old: &[u8], now: i64) -> bool {
        let matches = !old.is_empty() && self.live(key, now).is_some_and(|e| e.value == old);
        if matches {
            self.entries.remove(key);
        }
        matches
    }

    fn put(&mut self, key: &str, value: &[u8], expire_in_seconds: i64, now: i64) {
        if value.is_empty() {
            self.entries.remove(key);
            return;
        }
        let expires_at =
            if expire_in_seconds == 0 { 0 } else { now.saturating_add(expire_in_seconds.saturating_mul(1000)) };
        self.entries.insert(key.to_owned(), Entry { value: value.to_vec(), expires_at });
    }

    fn live(&self, key: &str, now: i64) -> Option<&Entry> {
        self.entries.get(key).filter(|e| e.live(now))
    }
}

fn check_key(key: &str) -> Result<(), AppError> {
    let len = key.chars().count();
    if len == 0 || len > MAX_KEY_LEN {
        return Err(AppError {
            id: INVALID_KEY.to_owned(),
            message: format!("a key is 1 to {MAX_KEY_LEN} characters; this one has {len}"),
            status_code: 400,
            ..AppError::default()
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000;

    #[test]
    fn an_empty_value_is_no_value() {
        let mut kv = KvStore::new();
        assert_eq!(kv.get("missing", NOW), b"");
        kv.set("k", b"v", 0, NOW).unwrap();
        assert_eq!(kv.get("k", NOW), b"v");
        kv.set("k", b"", 0, NOW).unwrap();
        assert_eq!(kv.get("k", NOW), b"");
        assert!(kv.list(0, 100, NOW).is_empty(), "setting empty deleted the key");
        kv.delete("never-there");
    }

    #[test]
    fn keys_are_checked_when_written_only() {
        let mut kv = KvStore::new();
        let long = "é".repeat(MAX_KEY_LEN + 1);
        for error in [
            kv.set("", b"v", 0, NOW).unwrap_err(),
            kv.set(&long, b"v", 0, NOW).unwrap_err(),
            kv.compare_and_set(&long, b"", b"v", NOW).unwrap_err(),
            kv.compare_and_delete("", b"v", NOW).unwrap_err(),
            kv.set_with_options(&long, b"v", false, b"", 0, NOW).unwrap_err(),
        ] {
            assert_eq!((error.id.as_str(), error.status_code), (INVALID_KEY, 400));
        }
        kv.set(&"é".repeat(MAX_KEY_LEN), b"v", 0, NOW).expect("150 characters, more bytes, is fine");
        assert_eq!(kv.get(&long, NOW), b"");
        kv.delete("");
    }

    #[test]
    fn an_expired_key_is_gone_and_a_new_set_replaces_the_expiry() {
        let mut kv = KvStore::new();
        kv.set("k", b"v", 10, NOW).unwrap();
        assert_eq!(kv.get("k", NOW + 9_999), b"v");
        assert_eq!(kv.get("k", NOW + 10_000), b"", "live only while the deadline is in the future");
        assert!(kv.list(0, 10, NOW + 10_000).is_empty());
        kv.set("k", b"v", 10, NOW).unwrap();
        kv.set("k", b"w", 0, NOW).unwrap();
        assert_eq!(kv.get("k", NOW + 1_000_000), b"w");
        kv.set("neg", b"v", -1, NOW).unwrap();
        assert_eq!(kv.get("neg", NOW), b"", "a negative expiry hides the key at once");
    }

    #[test]
    fn compare_and_set_follows_the_empty_value_rules() {
        let mut kv = KvStore::new();
        assert!(kv.compare_and_set("k", b"", b"1", NOW).unwrap(), "empty old: insert when absent");
        assert!(!kv.compare_and_set("k", b"", b"2", NOW).unwrap(), "not when present");
        assert!(!kv.compare_and_set("k", b"0", b"2", NOW).unwrap(), "a different value: false, no error");
        assert!(kv.compare_and_set("k", b"1", b"2", NOW).unwrap());
        assert_eq!(kv.get("k", NOW), b"2");
        assert!(!kv.compare_and_set("k", b"1", b"", NOW).unwrap(), "empty new: compare-and-delete, which fails here");
        assert!(kv.compare_and_set("k", b"2", b"", NOW).unwrap());
        assert_eq!(kv.get("k", NOW), b"");
        assert!(!kv.compare_and_set("k", b"", b"", NOW).unwrap(), "both empty: a delete of nothing");
        kv.set("e", b"old", 1, NOW).unwrap();
        assert!(!kv.compare_and_set("e", b"old", b"new", NOW + 1000).unwrap(), "an expired value does not match");
        assert!(kv.compare_and_set("e", b"", b"new", NOW + 1000).unwrap(), "an expired key counts as absent");
        assert_eq!(kv.get("e", NOW + 10_000_000), b"new", "a compare-and-set leaves no expiry");
    }

    #[test]
    fn compare_and_delete_needs_the_exact_live_value() {
        let mut kv = KvStore::new();
        kv.set("k", b"v", 0, NOW).unwrap();
        assert!(!kv.compare_and_delete("k", b"", NOW).unwrap(), "an empty old value never deletes");
        assert!(!kv.compare_and_delete("k", b"w", NOW).unwrap());
        assert!(!kv.compare_and_delete("absent", b"v", NOW).unwrap());
        assert!(kv.compare_and_delete("k", b"v", NOW).unwrap());
        assert_eq!(kv.get("k", NOW), b"");
    }

    #[test]
    fn set_with_options_is_a_plain_or_an_atomic_set() {
        let mut kv = KvStore::new();
        let error = kv.set_with_options("k", b"v", false, b"old", 0, NOW).unwrap_err();
        assert_eq!((error.id.as_str(), error.status_code), (INVALID_OPTIONS, 400));
        assert!(kv.set_with_options("k", b"v", false, b"", 0, NOW).unwrap());
        assert!(kv.set_with_options("k", b"", false, b"", 0, NOW).unwrap(), "a plain delete answers true");
        assert!(kv.set_with_options("k", b"1", true, b"", 5, NOW).unwrap(), "atomic insert");
        assert!(!kv.set_with_options("k", b"2", true, b"", 5, NOW).unwrap());
        assert!(kv.set_with_options("k", b"2", true, b"1", 5, NOW).unwrap());
        assert_eq!(kv.get("k", NOW + 4_999), b"2");
        assert_eq!(kv.get("k", NOW + 5_000), b"", "the atomic write's expiry applies");
        kv.set("d", b"x", 0, NOW).unwrap();
        assert!(kv.set_with_options("d", b"", true, b"x", 0, NOW).unwrap(), "atomic with an empty value deletes");
        assert_eq!(kv.get("d", NOW), b"");
    }

    #[test]
    fn lists_page_through_live_keys_in_order() {
        let mut kv = KvStore::new();
        for key in ["c", "a", "e", "b", "d"] {
            kv.set(key, b"v", 0, NOW).unwrap();
        }
        kv.set("bb", b"v", 1, NOW).unwrap();
        assert_eq!(kv.list(0, 2, NOW + 1000), ["a", "b"]);
        assert_eq!(kv.list(1, 2, NOW + 1000), ["c", "d"]);
        assert_eq!(kv.list(2, 2, NOW + 1000), ["e"]);
        assert!(kv.list(3, 2, NOW + 1000).is_empty());
        assert!(kv.list(-1, 2, NOW).is_empty());
        assert_eq!(kv.list(0, 3, NOW), ["a", "b", "bb"], "live before it expires");
        for key in 0..20 {
            kv.set(&format!("z{key:02}"), b"v", 0, NOW).unwrap();
        }
        assert_eq!(kv.list(5, 0, NOW).len(), DEFAULT_PAGE_SIZE, "no page size: the first 10");
        assert_eq!(kv.list(5, -3, NOW)[0], "a");
        kv.delete_all();
        assert!(kv.list(0, 100, NOW).is_empty());
    }
}
