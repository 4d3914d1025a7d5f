//! The plugin's KV store with typed values, and its settings read into a
//! struct: [`PluginApiClient::kv`] and [`PluginApiClient::settings`]. What
//! the nodes of a cluster share through the store (a lock, jobs) is in
//! [`crate::cluster`].
//!
//! This file is plain Rust, written by hand against Mattermost's plugin
//! contract and copied as it is into each SDK whose contract has the API
//! methods it calls; the typed store itself is the runtime's
//! (`mmplugin_runtime::kv`), which names no contract type.

use std::future::Future;

use serde::de::DeserializeOwned;

pub use mmplugin_runtime::kv::{KvBackend, KvError, LIST_PAGE, RetryPolicy};

use crate::api::{ConfigApi as _, KvStoreApi as _};
use crate::api::PluginApiClient;
use crate::error::Error;
use crate::proto;

/// The plugin's KV store, typed: any `serde` value, stored as JSON (as Go's
/// `pluginapi` stores it), with an atomic [`Kv::update`]
/// (`mmplugin_runtime::kv::Kv`). Get one with [`PluginApiClient::kv`].
///
/// ```ignore
/// let kv = cx.api.kv();
/// kv.set("greeting", &Greeting { text: "hi".into() }).await?;
/// let hellos = kv.update("hellos", |n: Option<u64>| Some(n.unwrap_or(0) + 1)).await?;
/// ```
pub type Kv = mmplugin_runtime::kv::Kv<PluginApiClient>;

impl KvBackend for PluginApiClient {
    fn kv_get_raw(&self, key: String) -> impl Future<Output = Result<Vec<u8>, Error>> + Send {
        self.kv_get(key)
    }

    fn kv_set_raw(
        &self,
        key: String,
        value: Vec<u8>,
        atomic: bool,
        old: Vec<u8>,
        expire_in_seconds: i64,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        let options = proto::PluginKvSetOptions { atomic, old_value: old, expire_in_seconds };
        self.kv_set_with_options(key, value, options)
    }

    fn kv_delete_raw(&self, key: String) -> impl Future<Output = Result<(), Error>> + Send {
        self.kv_delete(key)
    }

    fn kv_list_raw(&self, page: i32, per_page: i32) -> impl Future<Output = Result<Vec<String>, Error>> + Send {
        self.kv_list(page, per_page)
    }
}

impl PluginApiClient {
    /// The plugin's KV store with typed values.
    pub fn kv(&self) -> Kv {
        Kv::new(self.clone())
    }

    /// The plugin's settings, read into `T` (write `T` with `mmplugin-gen
    /// settings plugin.json`) as Go's `LoadPluginConfiguration` reads them:
    /// keys matched to fields in any case, at every depth (the System
    /// Console stores them lowercased; a list of objects in config.json
    /// keeps its own case); nothing configured is `T::default()`. A value
    /// of the wrong type is [`Error::Json`] naming the setting. Sends
    /// `GetPluginConfig`.
    pub async fn settings<T: DeserializeOwned + Default>(&self) -> Result<T, Error> {
        let config = self.get_plugin_config().await?;
        mmplugin_runtime::settings::from_config(serde_json::Value::Object(config))
            .map_err(|e| Error::Json { field: "settings", source: e.source })
    }
}
