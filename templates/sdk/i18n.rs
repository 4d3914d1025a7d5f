//! The plugin's own texts in each user's language: [`I18n`], the message
//! files of the plugin's bundle (`assets/i18n/*.json`, go-i18n's format, as
//! Go plugins ship them) and the server's default locale.
//!
//! ```ignore
//! use mattermost_plugin::i18n::{I18n, Message};
//!
//! // The code's texts are English, and what a user reads when no file has
//! // the id; `assets/i18n/de.json` translates them.
//! const GREETING: Message = Message::new("greeting", "Hello, {{.Name}}!");
//! const UNREAD: Message = Message::new("unread", "{{.Count}} unread posts").one("One unread post");
//!
//! // In on_configuration_change, which the SDK also runs at activation:
//! self.i18n.load(&cx.api).await?;
//! // In a hook, for the user it answers:
//! let t = self.i18n.for_user(&cx.api, &args.user_id).await;
//! let text = t.localize(&GREETING, &[("Name", &user.username)]);
//! let text = t.localize_count(&UNREAD, unread, &[]);
//! ```
//!
//! A user is answered in their locale (`User.locale`), else in the
//! server's default locale (`LocalizationSettings.DefaultServerLocale`),
//! else in English; a message no file of that language has is English's
//! file's, else the code's. Go's `pluginapi/i18n` does the same but for
//! the server's locale, which it uses only when the user cannot be read.
//! What is read of the files and of Go's templates is the runtime's
//! `mmplugin_runtime::i18n` (the `file` and `template` parts).
//!
//! This file is plain Rust, written by hand against Mattermost's plugin
//! contract and copied as it is into each SDK whose contract has the API
//! methods it calls.

use std::path::Path;
use std::sync::Arc;

pub use mmplugin_runtime::i18n::{
    Bundle, DEFAULT_LANGUAGE, I18nError, Localizer, Message, PluralCount, PluralForm, Values, plural_form,
};

use mmplugin_runtime::Current;

use crate::api::{ConfigApi as _, PluginApiClient, PluginsApi as _, UsersApi as _};
use crate::error::Error;

/// Where the message files are in the plugin's bundle, as in Go plugins
/// (`i18n.InitBundle(api, "assets/i18n")`).
pub const I18N_DIR: &str = "assets/i18n";

/// The plugin's translations and the server's default locale, shared by
/// its hooks: [`I18n::load`] reads (and reads again) both, and the hooks
/// take a [`Localizer`] for the user they answer, without a lock.
///
/// Until it is loaded, it answers every user in English, with the code's
/// texts.
#[derive(Debug, Default)]
pub struct I18n {
    bundle: Current<Bundle>,
    server_locale: Current<String>,
}

impl I18n {
    /// Nothing loaded: English, from the code's texts.
    pub fn new() -> Self {
        Self::default()
    }

    /// `bundle`, with `server_locale` as the server's default locale: for a
    /// plugin's unit tests, or messages loaded from elsewhere.
    pub fn with_bundle(bundle: Bundle, server_locale: impl Into<String>) -> Self {
        Self { bundle: Current::new(bundle), server_locale: Current::new(server_locale.into()) }
    }

    /// Loads the message files of the plugin's bundle (`assets/i18n/*.json`
    /// under `GetBundlePath`, read by [`Bundle::load_dir`]) and the
    /// server's default locale (`GetConfig`), in place of what was loaded.
    /// Call it in `on_configuration_change`: the SDK runs it at activation,
    /// and the server runs it after every change of its configuration, so
    /// a new default locale is seen at once.
    ///
    /// On an error nothing changes; the error names the file or the call.
    pub async fn load(&self, api: &PluginApiClient) -> Result<(), I18nError> {
        let bundle_path = api.get_bundle_path().await?;
        let bundle = Bundle::load_dir_async(Path::new(&bundle_path).join(I18N_DIR)).await?;
        let locale = api.server_locale().await?;
        self.bundle.set(bundle);
        self.server_locale.set(locale);
        Ok(())
    }

    /// The messages loaded.
    pub fn bundle(&self) -> Arc<Bundle> {
        self.bundle.get()
    }

    /// The server's default locale, as last loaded (empty before).
    pub fn server_locale(&self) -> String {
        String::clone(&self.server_locale.get())
    }

    /// The messages in `locale` (a user's `locale`), else in the server's
    /// default locale, else in English.
    pub fn for_locale(&self, locale: &str) -> Localizer {
        Localizer::new(self.bundle.get(), &[locale, &self.server_locale.get()])
    }

    /// The messages in the server's default locale, else in English: for
    /// what every user reads alike (a post in a channel, a bot's message).
    pub fn for_server(&self) -> Localizer {
        Localizer::new(self.bundle.get(), &[&self.server_locale.get()])
    }

    /// The messages in the locale of the user `user_id` (sends `GetUser`),
    /// else the server's, else English. A user who cannot be read is
    /// answered in the server's locale, and the error logged, as Go's
    /// `GetUserLocalizer` does. A hook that reads the user anyway takes
    /// [`I18n::for_locale`] with its `locale` instead.
    pub async fn for_user(&self, api: &PluginApiClient, user_id: &str) -> Localizer {
        match api.get_user(user_id).await {
            Ok(user) => self.for_locale(&user.locale),
            Err(e) => {
                tracing::warn!(user_id, "cannot read the user's locale, answering in the server's: {e}");
                self.for_server()
            }
        }
    }
}

impl PluginApiClient {
    /// The server's default locale, `LocalizationSettings.DefaultServerLocale`
    /// of its configuration (sends `GetConfig`); [`DEFAULT_LANGUAGE`] when
    /// the configuration has none.
    pub async fn server_locale(&self) -> Result<String, Error> {
        let config = self.get_config().await?;
        let locale = config.pointer("/LocalizationSettings/DefaultServerLocale").and_then(|l| l.as_str());
        Ok(locale.filter(|l| !l.is_empty()).unwrap_or(DEFAULT_LANGUAGE).to_owned())
    }
}
