//! The plugin's configuration: the three System Console settings and the
//! `links`, a list kept in the same settings block (the admin edits it in
//! config.json or with `/autolink`).

use std::collections::HashSet;

use mattermost_plugin::prelude::*;
use serde::{Deserialize, Serialize};

use crate::link::Autolink;

/// The settings block, as stored: keys as Go's plugin wrote them. The SDK
/// reads it case-insensitively at every depth, as Go's `encoding/json`
/// does, so `"Links"` or a link's `"pattern"` read the same.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Whether `/autolink` is registered.
    #[serde(rename = "enableadmincommand")]
    pub enable_admin_command: bool,
    /// Whether edited posts are rewritten too.
    #[serde(rename = "enableonupdate")]
    pub enable_on_update: bool,
    /// Comma-separated ids of users who may run `/autolink`, beside system admins.
    #[serde(rename = "pluginadmins")]
    pub plugin_admins: String,
    /// The links, in the order they apply.
    pub links: Vec<Autolink>,
    /// The ids of `plugin_admins` that name existing users.
    #[serde(skip)]
    pub admin_user_ids: HashSet<String>,
}

impl Config {
    /// Compiles each link; a link that does not compile is logged and left
    /// out of the rewriting, as in the Go plugin.
    pub fn compile(&mut self, cx: &Context) {
        for link in &mut self.links {
            if let Err(e) = link.compile() {
                cx.log.error(format!("Error creating autolinker: link {:?}: {e}", link.display_name()));
            }
        }
    }

    /// Reads `plugin_admins` into `admin_user_ids`, keeping only users that
    /// exist: a failure only leaves that user out, so system admins can
    /// always manage the plugin.
    pub async fn resolve_admins(&mut self, cx: &Context) {
        self.admin_user_ids.clear();
        for id in self.plugin_admins.split(',').map(str::trim).filter(|id| !id.is_empty()) {
            match cx.api.get_user(id).await {
                Ok(_) => {
                    self.admin_user_ids.insert(id.to_owned());
                }
                Err(e) => cx.log.warn(format!("Error occurred while verifying userID {id}: {e}")),
            }
        }
    }

    /// The links sorted by display name, as `/autolink` lists and numbers them.
    pub fn sorted_links(&self) -> Vec<Autolink> {
        let mut links = self.links.clone();
        links.sort_by(|a, b| a.display_name().cmp(b.display_name()));
        links
    }

    /// The block as `SavePluginConfig` stores it.
    pub fn to_map(&self) -> serde_json::Map<String, serde_json::Value> {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        }
    }
}
