//! The plugin's bot, made sure of: [`PluginApiClient::ensure_bot`].
//!
//! This file is plain Rust, written by hand against Mattermost's plugin
//! contract and copied as it is into each SDK whose contract has the API
//! methods it calls and the cluster lock ([`crate::cluster`]).

use std::time::Duration;

use crate::api::UsersApi as _;
use crate::api::BotsApi as _;
use crate::cluster::LockError;
use crate::api::PluginApiClient;
use crate::proto;

/// The cluster lock every node takes around [`PluginApiClient::ensure_bot`].
pub const ENSURE_BOT_LOCK: &str = "mmplugin_ensure_bot";

/// How long [`PluginApiClient::ensure_bot`] waits for another node's
/// `ensure_bot` to finish.
pub const ENSURE_BOT_WAIT: Duration = Duration::from_secs(30);

/// The bot a plugin wants: its username, what it shows, and optionally a
/// profile image.
///
/// ```ignore
/// let bot_id = cx.api.ensure_bot(Bot::new("hellobot").display_name("Hello").profile_image(ICON_PNG)).await?;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bot {
    username: String,
    display_name: String,
    description: String,
    profile_image: Option<Vec<u8>>,
}

impl Bot {
    /// A bot with this username (lowercase letters, digits, `.`, `-`, `_`).
    pub fn new(username: impl Into<String>) -> Self {
        Self { username: username.into(), ..Self::default() }
    }

    /// The name shown for the bot.
    pub fn display_name(mut self, display_name: impl Into<String>) -> Self {
        self.display_name = display_name.into();
        self
    }

    /// What the bot does, in a few words.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// The bot's profile image: an encoded image file (PNG, JPEG, GIF, …),
    /// set each time the bot is ensured.
    pub fn profile_image(mut self, image: impl Into<Vec<u8>>) -> Self {
        self.profile_image = Some(image.into());
        self
    }
}

impl PluginApiClient {
    /// Makes sure the plugin's bot exists as `bot` describes, and answers its
    /// user id: created the first time, brought up to date (username,
    /// display name, description, profile image) after. Idempotent, and safe
    /// when every node of a cluster runs it at once (as they do in
    /// `on_activate`): the server's `EnsureBotUser` is a read then a create,
    /// so two nodes could both try to create the bot and one fail; here the
    /// nodes take turns under a cluster lock, and the later ones find the
    /// bot made.
    ///
    /// The server keeps the bot's id in the plugin's KV store (`mmi_botid`),
    /// as it does for Go plugins.
    pub async fn ensure_bot(&self, bot: Bot) -> Result<String, LockError> {
        let held = self.mutex(ENSURE_BOT_LOCK).lock(ENSURE_BOT_WAIT).await?;
        let wanted = proto::Bot {
            username: bot.username,
            display_name: bot.display_name,
            description: bot.description,
            ..Default::default()
        };
        let result = async {
            let id = self.ensure_bot_user(wanted).await?;
            if let Some(image) = bot.profile_image {
                self.set_profile_image(id.as_str(), image).await?;
            }
            Ok::<_, crate::error::Error>(id)
        }
        .await;
        // Let the next node in at once (dropping would release it too, in
        // the background).
        let _ = held.unlock().await;
        Ok(result?)
    }
}
