//! What the fake server remembers, with the server's semantics, for the
//! API methods plugins use most; and the seeding and driving helpers that
//! build on it.
//!
//! This file is plain Rust, written by hand against Mattermost's plugin
//! contract and copied as it is into each SDK whose contract has every
//! method it answers. `impl State` answers a method by its Rust name:
//! `fn kv_get(&mut self, request: proto::KvGetRequest) ->
//! Result<proto::KvGetResponse, AppError>`; the generated fake server calls
//! it when a test has not answered that method itself. Error ids and
//! statuses are the server's (mattermost/mattermost: the gRPC API handlers,
//! the app layer and the stores); the generated code sends each error in
//! the form its handler uses.

// An `AppError` by value is the server's answer, once per failed call.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, HashMap};

use mmplugin_runtime::testing::kv::KvStore;
use mmplugin_runtime::testing::{Clock, Ids, LogLine, LogSource, Logs};
use serde_json::{Map, Value};

use super::{FakeServer, TestHost};
use crate::{AppError, Error, HookName, Plugin, proto};

/// The version the fake server reports.
pub const SERVER_VERSION: &str = "10.11.0";

/// The KV key under which the server keeps the id of the bot
/// `EnsureBotUser` made (Go's `pluginapi` uses the same key).
pub const BOT_ID_KEY: &str = "mmi_botid";

/// What `FakeServer::seed` made: a team, a channel in it, and a user who is
/// a member of both.
#[derive(Debug, Clone)]
pub struct Seed {
    /// The team `test-team`.
    pub team: proto::Team,
    /// The open channel `town-square` of that team.
    pub channel: proto::Channel,
    /// The user `alice`, a member of the team and the channel.
    pub user: proto::User,
}

/// Where slash commands and HTTP requests come from unless a test says
/// otherwise: the seeded user, channel and team.
#[derive(Debug, Clone, Default)]
struct Actor {
    user_id: String,
    channel_id: String,
    team_id: String,
}

/// The fake server's state.
pub(super) struct State {
    clock: Clock,
    ids: Ids,
    logs: Logs,
    plugin_id: String,
    kv: KvStore,
    /// The plugin's settings as the admin saved them.
    config: Map<String, Value>,
    users: BTreeMap<String, proto::User>,
    teams: BTreeMap<String, proto::Team>,
    channels: BTreeMap<String, proto::Channel>,
    /// (team id, user id) → member.
    team_members: BTreeMap<(String, String), proto::TeamMember>,
    /// (channel id, user id) → member.
    channel_members: BTreeMap<(String, String), proto::ChannelMember>,
    posts: BTreeMap<String, proto::Post>,
    /// Post ids in the order they were created.
    post_order: Vec<String>,
    reactions: Vec<proto::Reaction>,
    /// User id → the ephemeral posts they were sent.
    ephemeral: BTreeMap<String, Vec<proto::Post>>,
    bots: BTreeMap<String, proto::Bot>,
    /// User id → the profile image set through the API, as sent.
    profile_images: BTreeMap<String, Vec<u8>>,
    /// (team id, trigger) → command.
    commands: BTreeMap<(String, String), proto::Command>,
    cluster_events: Vec<(proto::PluginClusterEvent, Option<proto::PluginClusterEventSendOptions>)>,
    /// The WebSocket events the plugin published, in order.
    websocket_events: Vec<proto::PublishWebSocketEventRequest>,
    /// The server's configuration (`model.Config` as JSON).
    server_config: Value,
    /// The plugin's folder `GetBundlePath` answers, when a test set one.
    bundle_path: Option<String>,
    actor: Actor,
}

/// The server configuration the fake starts with: `model.Config`'s
/// defaults (server/public/model/config.go, `SetDefaults`) for what
/// plugins read most, on a server in developer mode, whose `SiteURL`
/// defaults to `http://localhost:8065` (a production server's default is
/// empty: set it with `FakeServer::set_server_config` to test that).
pub fn default_server_config() -> Value {
    serde_json::json!({
        "ServiceSettings": {
            "SiteURL": "http://localhost:8065",
            "ListenAddress": ":8065",
            "EnableDeveloper": true,
            "EnableCommands": true,
            "EnablePostUsernameOverride": false,
            "EnablePostIconOverride": false,
            "EnableBotAccountCreation": false,
        },
        "TeamSettings": {
            "SiteName": "Mattermost",
            "MaxUsersPerTeam": 50,
            "MaxChannelsPerTeam": 2000,
            "RestrictDirectMessage": "any",
        },
        "FileSettings": { "MaxFileSize": 104_857_600, "EnableFileAttachments": true },
        "PasswordSettings": { "MinimumLength": 8 },
        "LocalizationSettings": { "DefaultServerLocale": "en", "DefaultClientLocale": "en" },
        "PluginSettings": { "Enable": true, "EnableUploads": false, "Plugins": {} },
    })
}

/// `patch` merged into `target` (RFC 7396: objects merge key by key, `null` removes).
fn merge(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    target.remove(&key);
                } else {
                    merge(target.entry(key).or_insert(Value::Null), value);
                }
            }
        }
        (target, patch) => *target = patch,
    }
}

pub(super) fn app_error(id: &str, message: impl Into<String>, status_code: u16) -> AppError {
    AppError::new(id, message, status_code)
}

fn not_found(id: &str, what: &str, key: &str) -> AppError {
    app_error(id, format!("{what} {key:?} not found"), 404)
}

pub(super) fn required<T>(value: Option<T>, name: &str) -> Result<T, AppError> {
    value.ok_or_else(|| app_error("api.context.invalid_param.app_error", format!("{name} is required"), 400))
}

/// The page `page` (0-based) of `per_page` items, as the stores' `LIMIT
/// perPage OFFSET page*perPage`: a page size of 0 is an empty page, and a
/// negative one (a huge unsigned limit in Go) every item from the offset.
fn page<T: Clone>(items: impl Iterator<Item = T>, page: i32, per_page: i32) -> Vec<T> {
    let per_page = usize::try_from(per_page).unwrap_or(usize::MAX);
    let skip = usize::try_from(page.max(0)).unwrap_or(0).saturating_mul(per_page);
    items.skip(skip).take(per_page).collect()
}

/// `model.Team.IsValid`'s rules for a team's name: 2 to 64 characters of
/// `a-z`, `0-9` and `-` (or a `__` before the last), starting and ending
/// with a letter or digit, and not starting with a reserved word.
fn check_team_name(name: &str) -> Result<(), AppError> {
    const RESERVED: [&str; 17] = [
        "admin", "api", "channel", "claim", "error", "files", "help", "landing", "login", "mfa", "oauth", "plug",
        "plugins", "post", "signup", "boards", "playbooks",
    ];
    let invalid = |id: &str, why: &str| Err(app_error(id, format!("team name {name:?}: {why}"), 400));
    if !(2..=64).contains(&name.len()) {
        return invalid("model.team.is_valid.url.app_error", "2 to 64 characters");
    }
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let body_ok = name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    let underscores_ok = !name.contains('_') || (name.matches("__").count() == 1 && name.matches('_').count() == 2);
    if !edge_ok(name.chars().next()) || !edge_ok(name.chars().last()) || !body_ok || !underscores_ok {
        return invalid("model.team.is_valid.characters.app_error", "lowercase letters, digits and '-' only");
    }
    if RESERVED.iter().any(|word| name.starts_with(word)) {
        return invalid("model.team.is_valid.reserved.app_error", "starts with a reserved word");
    }
    Ok(())
}

/// `model.User.IsValid`'s rules for a username: 1 to 64 characters of
/// `a-z`, `0-9`, `.`, `-` and `_`, and none of the reserved names.
fn check_username(name: &str) -> Result<(), AppError> {
    let valid = (1..=64).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_'))
        && !["all", "channel", "matterbot", "system"].contains(&name);
    if valid {
        Ok(())
    } else {
        Err(app_error("model.user.is_valid.username.app_error", format!("invalid username {name:?}"), 400))
    }
}

/// The name of the direct channel between two users: their ids, the smaller first, joined by `__`.
pub fn direct_channel_name(a: &str, b: &str) -> String {
    if a <= b { format!("{a}__{b}") } else { format!("{b}__{a}") }
}

impl State {
    pub(super) fn new(clock: Clock, ids: Ids, logs: Logs) -> Self {
        Self {
            clock,
            ids,
            logs,
            plugin_id: super::DEFAULT_PLUGIN_ID.to_owned(),
            kv: KvStore::new(),
            config: Map::new(),
            users: BTreeMap::new(),
            teams: BTreeMap::new(),
            channels: BTreeMap::new(),
            team_members: BTreeMap::new(),
            channel_members: BTreeMap::new(),
            posts: BTreeMap::new(),
            post_order: Vec::new(),
            reactions: Vec::new(),
            ephemeral: BTreeMap::new(),
            bots: BTreeMap::new(),
            profile_images: BTreeMap::new(),
            commands: BTreeMap::new(),
            cluster_events: Vec::new(),
            websocket_events: Vec::new(),
            server_config: default_server_config(),
            bundle_path: None,
            actor: Actor::default(),
        }
    }

    fn now(&self) -> i64 {
        self.clock.now_millis()
    }

    fn new_id(&self) -> String {
        self.ids.next_id()
    }

    // ---- KV store -------------------------------------------------------

    pub(super) fn kv_set(&mut self, request: proto::KvSetRequest) -> Result<proto::KvSetResponse, AppError> {
        let now = self.now();
        self.kv.set(&request.key, &request.value, 0, now)?;
        Ok(proto::KvSetResponse::default())
    }

    pub(super) fn kv_set_with_expiry(
        &mut self,
        request: proto::KvSetWithExpiryRequest,
    ) -> Result<proto::KvSetWithExpiryResponse, AppError> {
        let now = self.now();
        self.kv.set(&request.key, &request.value, request.expire_in_seconds, now)?;
        Ok(proto::KvSetWithExpiryResponse::default())
    }

    pub(super) fn kv_compare_and_set(
        &mut self,
        request: proto::KvCompareAndSetRequest,
    ) -> Result<proto::KvCompareAndSetResponse, AppError> {
        let now = self.now();
        let success = self.kv.compare_and_set(&request.key, &request.old_value, &request.new_value, now)?;
        Ok(proto::KvCompareAndSetResponse { success, ..Default::default() })
    }

    pub(super) fn kv_compare_and_delete(
        &mut self,
        request: proto::KvCompareAndDeleteRequest,
    ) -> Result<proto::KvCompareAndDeleteResponse, AppError> {
        let now = self.now();
        let success = self.kv.compare_and_delete(&request.key, &request.old_value, now)?;
        Ok(proto::KvCompareAndDeleteResponse { success, ..Default::default() })
    }

    pub(super) fn kv_set_with_options(
        &mut self,
        request: proto::KvSetWithOptionsRequest,
    ) -> Result<proto::KvSetWithOptionsResponse, AppError> {
        let now = self.now();
        let options = request.options.unwrap_or_default();
        let success = self.kv.set_with_options(
            &request.key,
            &request.value,
            options.atomic,
            &options.old_value,
            options.expire_in_seconds,
            now,
        )?;
        Ok(proto::KvSetWithOptionsResponse { success, ..Default::default() })
    }

    pub(super) fn kv_get(&mut self, request: proto::KvGetRequest) -> Result<proto::KvGetResponse, AppError> {
        Ok(proto::KvGetResponse { value: self.kv.get(&request.key, self.now()), ..Default::default() })
    }

    pub(super) fn kv_delete(&mut self, request: proto::KvDeleteRequest) -> Result<proto::KvDeleteResponse, AppError> {
        self.kv.delete(&request.key);
        Ok(proto::KvDeleteResponse::default())
    }

    pub(super) fn kv_delete_all(
        &mut self,
        _request: proto::KvDeleteAllRequest,
    ) -> Result<proto::KvDeleteAllResponse, AppError> {
        self.kv.delete_all();
        Ok(proto::KvDeleteAllResponse::default())
    }

    pub(super) fn kv_list(&mut self, request: proto::KvListRequest) -> Result<proto::KvListResponse, AppError> {
        let keys = self.kv.list(i64::from(request.page), i64::from(request.per_page), self.now());
        Ok(proto::KvListResponse { keys, ..Default::default() })
    }

    // ---- Configuration and server ---------------------------------------

    pub(super) fn get_plugin_config(
        &mut self,
        _request: proto::GetPluginConfigRequest,
    ) -> Result<proto::GetPluginConfigResponse, AppError> {
        let config = crate::json::object_to_struct(self.config.clone());
        Ok(proto::GetPluginConfigResponse { config: Some(config), ..Default::default() })
    }

    /// Stores the plugin's settings (the app layer's `save_plugin_config`
    /// then runs `OnConfigurationChange`).
    pub(super) fn store_plugin_config(&mut self, config: Map<String, Value>) {
        self.config = config;
    }

    /// The settings as JSON with lowercased keys, as the server sends them
    /// to `LoadPluginConfiguration` (Go decodes them case-insensitively).
    pub(super) fn load_plugin_configuration(
        &mut self,
        _request: proto::LoadPluginConfigurationRequest,
    ) -> Result<proto::LoadPluginConfigurationResponse, AppError> {
        let lowered: Map<String, Value> = self.config.iter().map(|(k, v)| (k.to_lowercase(), v.clone())).collect();
        let config_json = crate::json::to_bytes(&Value::Object(lowered));
        Ok(proto::LoadPluginConfigurationResponse { config_json, ..Default::default() })
    }

    /// The server's configuration, as `GetConfig` answers it (the fake has
    /// no secrets to sanitize).
    pub(super) fn get_config(&mut self, _request: proto::GetConfigRequest) -> Result<proto::GetConfigResponse, AppError> {
        Ok(proto::GetConfigResponse { config_json: crate::json::to_bytes(&self.server_config), ..Default::default() })
    }

    pub(super) fn get_unsanitized_config(
        &mut self,
        _request: proto::GetUnsanitizedConfigRequest,
    ) -> Result<proto::GetUnsanitizedConfigResponse, AppError> {
        let config_json = crate::json::to_bytes(&self.server_config);
        Ok(proto::GetUnsanitizedConfigResponse { config_json, ..Default::default() })
    }

    pub(super) fn save_config(&mut self, request: proto::SaveConfigRequest) -> Result<proto::SaveConfigResponse, AppError> {
        let config: Value = serde_json::from_slice(&request.config_json)
            .map_err(|e| app_error("app.save_config.app_error", format!("the configuration is not JSON: {e}"), 400))?;
        if !config.is_object() {
            return Err(app_error("app.save_config.app_error", "the configuration is a JSON object", 400));
        }
        self.server_config = config;
        Ok(proto::SaveConfigResponse::default())
    }

    /// Recorded (`FakeServer::websocket_events`); the server never fails it.
    pub(super) fn publish_web_socket_event(
        &mut self,
        request: proto::PublishWebSocketEventRequest,
    ) -> Result<proto::PublishWebSocketEventResponse, AppError> {
        self.websocket_events.push(request);
        Ok(proto::PublishWebSocketEventResponse::default())
    }

    pub(super) fn get_server_version(
        &mut self,
        _request: proto::GetServerVersionRequest,
    ) -> Result<proto::GetServerVersionResponse, AppError> {
        Ok(proto::GetServerVersionResponse { version: SERVER_VERSION.to_owned(), ..Default::default() })
    }

    // ---- The plugin's bundle ---------------------------------------------

    /// The plugin's folder, where the server unpacked its bundle: the one
    /// `FakeServer::set_bundle_path` gave, else the folder the test runs
    /// in, which `cargo test` makes the package's root: a plugin project
    /// keeps its `plugin.json` and `assets/` there, as its bundle does.
    pub(super) fn get_bundle_path(
        &mut self,
        _request: proto::GetBundlePathRequest,
    ) -> Result<proto::GetBundlePathResponse, AppError> {
        let path = match &self.bundle_path {
            Some(path) => path.clone(),
            None => std::env::current_dir()
                .map_err(|e| app_error("app.plugin.bundle_path.app_error", e.to_string(), 500))?
                .display()
                .to_string(),
        };
        Ok(proto::GetBundlePathResponse { path, ..Default::default() })
    }

    // ---- Logs and cluster events -----------------------------------------

    fn log(&mut self, level: tracing::Level, message: String, pairs: Vec<proto::KeyValuePair>) {
        let fields = pairs
            .into_iter()
            .map(|pair| (pair.key, pair.value.map(crate::json::value_to_json).unwrap_or(Value::Null)))
            .collect();
        self.logs.push(LogLine { level, message, fields, source: LogSource::Api });
    }

    pub(super) fn log_debug(&mut self, request: proto::LogDebugRequest) -> Result<proto::LogDebugResponse, AppError> {
        self.log(tracing::Level::DEBUG, request.msg, request.key_value_pairs);
        Ok(proto::LogDebugResponse::default())
    }

    pub(super) fn log_info(&mut self, request: proto::LogInfoRequest) -> Result<proto::LogInfoResponse, AppError> {
        self.log(tracing::Level::INFO, request.msg, request.key_value_pairs);
        Ok(proto::LogInfoResponse::default())
    }

    pub(super) fn log_warn(&mut self, request: proto::LogWarnRequest) -> Result<proto::LogWarnResponse, AppError> {
        self.log(tracing::Level::WARN, request.msg, request.key_value_pairs);
        Ok(proto::LogWarnResponse::default())
    }

    pub(super) fn log_error(&mut self, request: proto::LogErrorRequest) -> Result<proto::LogErrorResponse, AppError> {
        self.log(tracing::Level::ERROR, request.msg, request.key_value_pairs);
        Ok(proto::LogErrorResponse::default())
    }

    /// Keeps a published cluster event (`FakeServer::cluster_events`).
    pub(super) fn keep_cluster_event(
        &mut self,
        event: proto::PluginClusterEvent,
        options: Option<proto::PluginClusterEventSendOptions>,
    ) {
        self.cluster_events.push((event, options));
    }

    // ---- Users ------------------------------------------------------------

    pub(super) fn user(&self, id: &str) -> Result<&proto::User, AppError> {
        self.users.get(id).ok_or_else(|| not_found("app.user.missing_account.const", "user", id))
    }

    /// `App.CreateUser`'s rules, then the user stored: no id given, a valid
    /// username, a password of at least 8 characters unless another service
    /// signs the user in, and the role `system_user` whatever was asked.
    pub(super) fn create_new_user(&mut self, mut user: proto::User) -> Result<proto::User, AppError> {
        if !user.id.is_empty() {
            return Err(app_error("app.user.save.existing.app_error", "a new user has no id yet", 400));
        }
        check_username(&user.username.trim().to_lowercase())?;
        if user.auth_service.is_empty() && user.password.chars().count() < 8 {
            return Err(app_error(
                "model.user.is_valid.pwd.app_error",
                "the password must be at least 8 characters",
                400,
            ));
        }
        "system_user".clone_into(&mut user.roles);
        self.insert_user(user)
    }

    pub(super) fn insert_user(&mut self, mut user: proto::User) -> Result<proto::User, AppError> {
        let username = user.username.trim().to_lowercase();
        if username.is_empty() {
            return Err(app_error("model.user.is_valid.username.app_error", "a user needs a username", 400));
        }
        if self.users.values().any(|u| u.username == username) {
            return Err(app_error(
                "app.user.save.username_exists.app_error",
                format!("an account with the username {username:?} already exists"),
                400,
            ));
        }
        if !user.email.is_empty() && self.users.values().any(|u| u.email.eq_ignore_ascii_case(&user.email)) {
            return Err(app_error(
                "app.user.save.email_exists.app_error",
                format!("an account with the email {:?} already exists", user.email),
                400,
            ));
        }
        let now = self.now();
        user.username = username;
        user.id = self.new_id();
        user.create_at = now;
        user.update_at = now;
        user.delete_at = 0;
        user.password = String::new();
        if user.roles.is_empty() {
            user.roles = "system_user".to_owned();
        }
        self.users.insert(user.id.clone(), user.clone());
        Ok(user)
    }

    pub(super) fn get_user(&mut self, request: proto::GetUserRequest) -> Result<proto::GetUserResponse, AppError> {
        let user = self.user(&request.user_id)?.clone();
        Ok(proto::GetUserResponse { user: Some(user), ..Default::default() })
    }

    /// The server decodes the image (PNG, JPEG, GIF, BMP, …) and refuses
    /// what it cannot with `api.user.upload_profile_user.decode.app_error`
    /// (400); the fake checks the format's signature and keeps the bytes as
    /// sent (the server scales them to a 128-pixel PNG).
    pub(super) fn set_profile_image(
        &mut self,
        request: proto::SetProfileImageRequest,
    ) -> Result<proto::SetProfileImageResponse, AppError> {
        self.user(&request.user_id)?;
        let data = &request.data;
        let image = data.starts_with(b"\x89PNG\r\n\x1a\n")
            || data.starts_with(&[0xff, 0xd8, 0xff])
            || data.starts_with(b"GIF8")
            || data.starts_with(b"BM");
        if !image {
            return Err(app_error("api.user.upload_profile_user.decode.app_error", "the image cannot be decoded", 400));
        }
        self.profile_images.insert(request.user_id, request.data);
        Ok(proto::SetProfileImageResponse::default())
    }

    /// The image set through the API; empty when none was (the server
    /// draws a default one then).
    pub(super) fn get_profile_image(
        &mut self,
        request: proto::GetProfileImageRequest,
    ) -> Result<proto::GetProfileImageResponse, AppError> {
        self.user(&request.user_id)?;
        let image = self.profile_images.get(&request.user_id).cloned().unwrap_or_default();
        Ok(proto::GetProfileImageResponse { image, ..Default::default() })
    }

    pub(super) fn get_user_by_username(
        &mut self,
        request: proto::GetUserByUsernameRequest,
    ) -> Result<proto::GetUserByUsernameResponse, AppError> {
        let name = request.name.to_lowercase();
        let user = self
            .users
            .values()
            .find(|u| u.username == name)
            .ok_or_else(|| not_found("app.user.get_by_username.app_error", "username", &request.name))?;
        Ok(proto::GetUserByUsernameResponse { user: Some(user.clone()), ..Default::default() })
    }

    pub(super) fn get_user_by_email(
        &mut self,
        request: proto::GetUserByEmailRequest,
    ) -> Result<proto::GetUserByEmailResponse, AppError> {
        let user = self
            .users
            .values()
            .find(|u| u.email.eq_ignore_ascii_case(&request.email))
            .ok_or_else(|| not_found("app.user.missing_account.const", "email", &request.email))?;
        Ok(proto::GetUserByEmailResponse { user: Some(user.clone()), ..Default::default() })
    }

    pub(super) fn get_users_by_ids(
        &mut self,
        request: proto::GetUsersByIdsRequest,
    ) -> Result<proto::GetUsersByIdsResponse, AppError> {
        // Unknown ids skipped, by username (`SqlUserStore.GetProfileByIds`).
        let mut users: Vec<proto::User> = request.user_ids.iter().filter_map(|id| self.users.get(id).cloned()).collect();
        users.sort_by(|a, b| a.username.cmp(&b.username));
        users.dedup_by(|a, b| a.id == b.id);
        Ok(proto::GetUsersByIdsResponse { users, ..Default::default() })
    }

    pub(super) fn get_users_in_channel(
        &mut self,
        request: proto::GetUsersInChannelRequest,
    ) -> Result<proto::GetUsersInChannelResponse, AppError> {
        // `username` and `status` (every user's status is the same here:
        // the fake keeps none) both sort by username; anything else is the
        // plugin API's 400.
        if !matches!(request.sort_by.as_str(), "username" | "status") {
            return Err(app_error(
                "plugin.api.get_users_in_channel",
                format!("sort_by must be \"username\" or \"status\", not {:?}", request.sort_by),
                400,
            ));
        }
        let members = self.channel_members.keys().filter(|(c, _)| *c == request.channel_id).map(|(_, u)| u.clone());
        let mut users: Vec<proto::User> = members.filter_map(|id| self.users.get(&id).cloned()).collect();
        users.sort_by(|a, b| a.username.cmp(&b.username));
        let users = page(users.into_iter(), request.page, request.per_page);
        Ok(proto::GetUsersInChannelResponse { users, ..Default::default() })
    }

    pub(super) fn update_user(
        &mut self,
        request: proto::UpdateUserRequest,
    ) -> Result<proto::UpdateUserResponse, AppError> {
        let mut user = required(request.user, "user")?;
        let stored = self.user(&user.id)?;
        // An untrusted update: what only the server changes is kept.
        user.create_at = stored.create_at;
        user.roles.clone_from(&stored.roles);
        user.delete_at = stored.delete_at;
        user.is_bot = stored.is_bot;
        user.username = user.username.trim().to_lowercase();
        let taken = |u: &proto::User| u.id != user.id && u.username == user.username;
        if self.users.values().any(taken) {
            return Err(app_error(
                "app.user.save.username_exists.app_error",
                format!("an account with the username {:?} already exists", user.username),
                400,
            ));
        }
        user.update_at = self.now();
        self.users.insert(user.id.clone(), user.clone());
        Ok(proto::UpdateUserResponse { user: Some(user), ..Default::default() })
    }

    /// Deactivates the user, as the server's `DeleteUser` does (the
    /// account stays, `delete_at` set); the user as it is now.
    pub(super) fn deactivate_user(&mut self, user_id: &str) -> Result<proto::User, AppError> {
        let now = self.now();
        let user = self
            .users
            .get_mut(user_id)
            .ok_or_else(|| not_found("app.user.missing_account.const", "user", user_id))?;
        user.delete_at = now;
        user.update_at = now;
        Ok(user.clone())
    }

    // ---- Teams ------------------------------------------------------------

    fn team(&self, id: &str) -> Result<&proto::Team, AppError> {
        self.teams.get(id).ok_or_else(|| not_found("app.team.get.find.app_error", "team", id))
    }

    /// `App.CreateTeam`: a valid name, then the team with its default
    /// channels `town-square` and `off-topic` (`TeamService.CreateTeam`).
    pub(super) fn create_team(
        &mut self,
        request: proto::CreateTeamRequest,
    ) -> Result<proto::CreateTeamResponse, AppError> {
        let team = required(request.team, "team")?;
        check_team_name(&team.name)?;
        if !team.id.is_empty() {
            return Err(app_error("app.team.save.existing.app_error", "a new team has no id yet", 400));
        }
        let team = self.insert_team(team)?;
        for (name, display_name) in [("town-square", "Town Square"), ("off-topic", "Off-Topic")] {
            self.insert_channel(proto::Channel {
                team_id: team.id.clone(),
                name: name.to_owned(),
                display_name: display_name.to_owned(),
                r#type: proto::ChannelType::Open as i32,
                ..Default::default()
            })?;
        }
        Ok(proto::CreateTeamResponse { team: Some(team), ..Default::default() })
    }

    /// Stores a team as it is (seeding): no default channels.
    fn insert_team(&mut self, mut team: proto::Team) -> Result<proto::Team, AppError> {
        if team.name.is_empty() {
            return Err(app_error("model.team.is_valid.name.app_error", "a team needs a name", 400));
        }
        if self.teams.values().any(|t| t.name == team.name) {
            return Err(app_error(
                "app.team.save.existing.app_error",
                format!("a team named {:?} exists", team.name),
                400,
            ));
        }
        let now = self.now();
        team.id = self.new_id();
        team.create_at = now;
        team.update_at = now;
        self.teams.insert(team.id.clone(), team.clone());
        Ok(team)
    }

    pub(super) fn get_team(&mut self, request: proto::GetTeamRequest) -> Result<proto::GetTeamResponse, AppError> {
        let team = self.team(&request.team_id)?.clone();
        Ok(proto::GetTeamResponse { team: Some(team), ..Default::default() })
    }

    pub(super) fn get_team_by_name(
        &mut self,
        request: proto::GetTeamByNameRequest,
    ) -> Result<proto::GetTeamByNameResponse, AppError> {
        let team = self
            .teams
            .values()
            .find(|t| t.name == request.name)
            .ok_or_else(|| not_found("app.team.get_by_name.missing.app_error", "team", &request.name))?;
        Ok(proto::GetTeamByNameResponse { team: Some(team.clone()), ..Default::default() })
    }

    pub(super) fn get_teams(&mut self, _request: proto::GetTeamsRequest) -> Result<proto::GetTeamsResponse, AppError> {
        // By display name, archived teams too (`SqlTeamStore.GetAll`).
        let mut teams: Vec<proto::Team> = self.teams.values().cloned().collect();
        teams.sort_by(|a, b| a.display_name.cmp(&b.display_name));
        Ok(proto::GetTeamsResponse { teams, ..Default::default() })
    }

    pub(super) fn get_teams_for_user(
        &mut self,
        request: proto::GetTeamsForUserRequest,
    ) -> Result<proto::GetTeamsForUserResponse, AppError> {
        let teams = self
            .team_members
            .values()
            .filter(|m| m.user_id == request.user_id && m.delete_at == 0)
            .filter_map(|m| self.teams.get(&m.team_id).filter(|t| t.delete_at == 0).cloned())
            .collect();
        Ok(proto::GetTeamsForUserResponse { teams, ..Default::default() })
    }

    /// Makes the user a member of the team (again, for one who left);
    /// whether they were not one before.
    pub(super) fn join_team(&mut self, team_id: &str, user_id: &str) -> Result<(proto::TeamMember, bool), AppError> {
        self.team(team_id)?;
        self.user(user_id)?;
        let now = self.now();
        let key = (team_id.to_owned(), user_id.to_owned());
        let joined = self.team_members.get(&key).is_none_or(|m| m.delete_at != 0);
        let member =
            self.team_members.entry((team_id.to_owned(), user_id.to_owned())).or_insert_with(|| proto::TeamMember {
                team_id: team_id.to_owned(),
                user_id: user_id.to_owned(),
                roles: "team_user".to_owned(),
                scheme_user: true,
                create_at: now,
                ..Default::default()
            });
        member.delete_at = 0;
        Ok((member.clone(), joined))
    }

    pub(super) fn get_team_member(
        &mut self,
        request: proto::GetTeamMemberRequest,
    ) -> Result<proto::GetTeamMemberResponse, AppError> {
        let member = self
            .team_members
            .get(&(request.team_id.clone(), request.user_id.clone()))
            .ok_or_else(|| not_found("app.team.get_member.missing.app_error", "team member", &request.user_id))?;
        Ok(proto::GetTeamMemberResponse { team_member: Some(member.clone()), ..Default::default() })
    }

    pub(super) fn get_team_members(
        &mut self,
        request: proto::GetTeamMembersRequest,
    ) -> Result<proto::GetTeamMembersResponse, AppError> {
        let members = self.team_members.values().filter(|m| m.team_id == request.team_id && m.delete_at == 0).cloned();
        let team_members = page(members, request.page, request.per_page);
        Ok(proto::GetTeamMembersResponse { team_members, ..Default::default() })
    }

    /// Marks the member as left (`delete_at`), as `App.RemoveUserFromTeam`
    /// does; the member as it was. Their channels in the team are left too
    /// (the store removes those memberships, running no hook).
    pub(super) fn leave_team(&mut self, team_id: &str, user_id: &str) -> Result<proto::TeamMember, AppError> {
        self.team(team_id)?;
        self.user(user_id)?;
        let now = self.now();
        let key = (team_id.to_owned(), user_id.to_owned());
        let Some(member) = self.team_members.get_mut(&key).filter(|m| m.delete_at == 0) else {
            return Err(app_error(
                "api.team.remove_user_from_team.missing.app_error",
                format!("user {user_id:?} is not a member of team {team_id:?}"),
                400,
            ));
        };
        let before = member.clone();
        member.delete_at = now;
        let in_team: Vec<String> =
            self.channels.values().filter(|c| c.team_id == team_id).map(|c| c.id.clone()).collect();
        self.channel_members.retain(|(channel, user), _| user != user_id || !in_team.contains(channel));
        Ok(before)
    }

    // ---- Channels ---------------------------------------------------------

    fn channel(&self, id: &str) -> Result<&proto::Channel, AppError> {
        self.channels.get(id).ok_or_else(|| not_found("app.channel.get.existing.app_error", "channel", id))
    }

    pub(super) fn insert_channel(&mut self, mut channel: proto::Channel) -> Result<proto::Channel, AppError> {
        if channel.name.is_empty() {
            return Err(app_error("model.channel.is_valid.name.app_error", "a channel needs a name", 400));
        }
        let open_or_private = [proto::ChannelType::Open as i32, proto::ChannelType::Private as i32];
        if open_or_private.contains(&channel.r#type) {
            self.team(&channel.team_id)?;
        }
        if self.channels.values().any(|c| c.team_id == channel.team_id && c.name == channel.name) {
            return Err(app_error(
                "store.sql_channel.save_channel.exists.app_error",
                format!("a channel named {:?} exists in this team", channel.name),
                400,
            ));
        }
        let now = self.now();
        channel.id = self.new_id();
        channel.create_at = now;
        channel.update_at = now;
        if channel.display_name.is_empty() {
            channel.display_name.clone_from(&channel.name);
        }
        self.channels.insert(channel.id.clone(), channel.clone());
        Ok(channel)
    }

    pub(super) fn get_channel(
        &mut self,
        request: proto::GetChannelRequest,
    ) -> Result<proto::GetChannelResponse, AppError> {
        let channel = self.channel(&request.channel_id)?.clone();
        Ok(proto::GetChannelResponse { channel: Some(channel), ..Default::default() })
    }

    fn channel_by_name(&self, team_id: &str, name: &str, include_deleted: bool) -> Result<proto::Channel, AppError> {
        self.channels
            .values()
            .find(|c| c.team_id == team_id && c.name == name && (include_deleted || c.delete_at == 0))
            .cloned()
            .ok_or_else(|| not_found("app.channel.get_by_name.missing.app_error", "channel", name))
    }

    pub(super) fn get_channel_by_name(
        &mut self,
        request: proto::GetChannelByNameRequest,
    ) -> Result<proto::GetChannelByNameResponse, AppError> {
        let channel = self.channel_by_name(&request.team_id, &request.name, request.include_deleted)?;
        Ok(proto::GetChannelByNameResponse { channel: Some(channel), ..Default::default() })
    }

    pub(super) fn get_channel_by_name_for_team_name(
        &mut self,
        request: proto::GetChannelByNameForTeamNameRequest,
    ) -> Result<proto::GetChannelByNameForTeamNameResponse, AppError> {
        let team_id = self
            .teams
            .values()
            .find(|t| t.name == request.team_name)
            .map(|t| t.id.clone())
            .ok_or_else(|| not_found("app.team.get_by_name.missing.app_error", "team", &request.team_name))?;
        let channel = self.channel_by_name(&team_id, &request.channel_name, request.include_deleted)?;
        Ok(proto::GetChannelByNameForTeamNameResponse { channel: Some(channel), ..Default::default() })
    }

    /// The direct channel between two users, made on first use, both of
    /// them members; whether it was made now.
    pub(super) fn direct_channel(&mut self, a: &str, b: &str) -> Result<(proto::Channel, bool), AppError> {
        self.user(a)?;
        self.user(b)?;
        let name = direct_channel_name(a, b);
        if let Some(channel) = self.channels.values().find(|c| c.team_id.is_empty() && c.name == name) {
            return Ok((channel.clone(), false));
        }
        let channel = self.insert_channel(proto::Channel {
            name,
            r#type: proto::ChannelType::Direct as i32,
            creator_id: a.to_owned(),
            ..Default::default()
        })?;
        for user in [a, b] {
            self.join_channel(&channel.id, user)?;
        }
        Ok((channel, true))
    }

    fn join_channel(&mut self, channel_id: &str, user_id: &str) -> Result<proto::ChannelMember, AppError> {
        self.channel(channel_id)?;
        self.user(user_id)?;
        let now = self.now();
        let member = self.channel_members.entry((channel_id.to_owned(), user_id.to_owned())).or_insert_with(|| {
            proto::ChannelMember {
                channel_id: channel_id.to_owned(),
                user_id: user_id.to_owned(),
                roles: "channel_user".to_owned(),
                scheme_user: true,
                last_update_at: now,
                ..Default::default()
            }
        });
        Ok(member.clone())
    }

    pub(super) fn get_channel_member(
        &mut self,
        request: proto::GetChannelMemberRequest,
    ) -> Result<proto::GetChannelMemberResponse, AppError> {
        let member = self
            .channel_members
            .get(&(request.channel_id.clone(), request.user_id.clone()))
            .ok_or_else(|| not_found("app.channel.get_member.missing.app_error", "channel member", &request.user_id))?;
        Ok(proto::GetChannelMemberResponse { channel_member: Some(member.clone()), ..Default::default() })
    }

    pub(super) fn get_channel_members(
        &mut self,
        request: proto::GetChannelMembersRequest,
    ) -> Result<proto::GetChannelMembersResponse, AppError> {
        let members = self.channel_members.values().filter(|m| m.channel_id == request.channel_id).cloned();
        let channel_members = page(members, request.page, request.per_page);
        Ok(proto::GetChannelMembersResponse { channel_members, ..Default::default() })
    }

    /// `App.AddChannelMember`'s checks, then the member; whether the user
    /// joined now (an existing member is answered as is).
    pub(super) fn add_member(&mut self, channel_id: &str, user_id: &str) -> Result<(proto::ChannelMember, bool), AppError> {
        let key = (channel_id.to_owned(), user_id.to_owned());
        if let Some(member) = self.channel_members.get(&key) {
            return Ok((member.clone(), false));
        }
        let channel = self.channel(channel_id)?.clone();
        if self.user(user_id)?.delete_at != 0 {
            return Err(app_error("app.channel.add_member.deleted_user.app_error", "the user is deactivated", 403));
        }
        let open_or_private = [proto::ChannelType::Open as i32, proto::ChannelType::Private as i32];
        if !open_or_private.contains(&channel.r#type) {
            return Err(app_error(
                "api.channel.add_user_to_channel.type.app_error",
                "only open and private channels take members",
                400,
            ));
        }
        match self.team_members.get(&(channel.team_id.clone(), user_id.to_owned())) {
            None => return Err(not_found("app.team.get_member.missing.app_error", "team member", user_id)),
            Some(m) if m.delete_at != 0 => {
                return Err(app_error(
                    "api.channel.add_user.to.channel.failed.deleted.app_error",
                    "the user left the channel's team",
                    400,
                ));
            }
            Some(_) => {}
        }
        Ok((self.join_channel(channel_id, user_id)?, true))
    }

    /// `App.LeaveChannel`'s checks, then the member removed (channel
    /// memberships are deleted, not marked); the member as it was.
    pub(super) fn leave_channel(&mut self, channel_id: &str, user_id: &str) -> Result<proto::ChannelMember, AppError> {
        let channel = self.channel(channel_id)?.clone();
        self.user(user_id)?;
        let direct_or_group = [proto::ChannelType::Direct as i32, proto::ChannelType::Group as i32];
        if direct_or_group.contains(&channel.r#type) {
            return Err(app_error("api.channel.leave.direct.app_error", "a direct or group channel cannot be left", 400));
        }
        let private = channel.r#type == proto::ChannelType::Private as i32;
        let member = self.channel_members.contains_key(&(channel_id.to_owned(), user_id.to_owned()));
        if private && member && self.channel_members.keys().filter(|(c, _)| c == channel_id).count() == 1 {
            return Err(app_error(
                "api.channel.leave.last_member.app_error",
                "the last member of a private channel cannot leave it",
                400,
            ));
        }
        if channel.name == "town-square" {
            return Err(app_error(
                "api.channel.remove.default.app_error",
                "nobody can leave the team's default channel, town-square",
                400,
            ));
        }
        self.channel_members
            .remove(&(channel_id.to_owned(), user_id.to_owned()))
            .ok_or_else(|| not_found("app.channel.get_member.missing.app_error", "channel member", user_id))
    }

    // ---- Posts ------------------------------------------------------------

    fn post(&self, id: &str) -> Result<&proto::Post, AppError> {
        self.posts.get(id).filter(|p| p.delete_at == 0).ok_or_else(|| not_found("app.post.get.app_error", "post", id))
    }

    /// `App.CreatePostMissingChannel`'s checks, before any hook: the
    /// channel (archived ones too) and the user exist, and so does the
    /// root of a reply, in the same channel. The post as the hooks see it,
    /// with the prop `from_plugin` the plugin API adds.
    pub(super) fn check_new_post(&mut self, mut post: proto::Post) -> Result<proto::Post, AppError> {
        if post.channel_id.is_empty() {
            return Err(app_error("model.post.is_valid.channel_id.app_error", "a post needs a channel", 400));
        }
        self.channel(&post.channel_id)?;
        self.user(&post.user_id)?;
        if !post.root_id.is_empty() {
            let root = self.post(&post.root_id).map_err(|_| {
                app_error("api.post.create_post.root_id.app_error", "the post's root_id is not a post", 400)
            })?;
            if root.channel_id != post.channel_id {
                return Err(app_error(
                    "api.post.create_post.channel_root_id.app_error",
                    "the post's root is in another channel",
                    500,
                ));
            }
        }
        // `App.CreatePost` parses the hashtags before the plugins' hooks run.
        post.hashtags = mmplugin_runtime::hashtags::parse_hashtags(&post.message).0;
        let mut props = post.props.take().map(crate::json::struct_to_object).unwrap_or_default();
        props.insert("from_plugin".to_owned(), Value::String("true".to_owned()));
        post.props = Some(crate::json::object_to_struct(props));
        Ok(post)
    }

    /// Stores a new post, as the hooks left it: a new id, `create_at` =
    /// `update_at` = now (or the `create_at` given), the channel's and the
    /// thread's counts updated.
    pub(super) fn save_post(&mut self, mut post: proto::Post) -> Result<proto::Post, AppError> {
        self.channel(&post.channel_id)?;
        let now = self.now();
        post.id = self.new_id();
        post.original_id = String::new();
        if post.create_at == 0 {
            post.create_at = now;
        }
        post.update_at = post.create_at;
        post.delete_at = 0;
        if let Some(channel) = self.channels.get_mut(&post.channel_id) {
            channel.last_post_at = post.create_at;
            channel.total_msg_count += 1;
        }
        if !post.root_id.is_empty()
            && let Some(root) = self.posts.get_mut(&post.root_id)
        {
            root.reply_count += 1;
            root.last_reply_at = post.create_at;
        }
        self.post_order.push(post.id.clone());
        self.posts.insert(post.id.clone(), post.clone());
        Ok(post)
    }

    pub(super) fn get_post(&mut self, request: proto::GetPostRequest) -> Result<proto::GetPostResponse, AppError> {
        let post = self.post(&request.post_id)?.clone();
        Ok(proto::GetPostResponse { post: Some(post), ..Default::default() })
    }

    /// `App.UpdatePost`'s merge, before any hook: the new post (its
    /// message, props, file ids, pinned and reactions flags; the rest kept
    /// from the stored one) and the stored one.
    pub(super) fn check_update(&mut self, post: proto::Post) -> Result<(proto::Post, proto::Post), AppError> {
        let old = self.post(&post.id)?.clone();
        if old.r#type.starts_with("system_") {
            return Err(app_error("api.post.update_post.system_message.app_error", "a system message cannot be edited", 400));
        }
        if self.channel(&old.channel_id)?.delete_at != 0 {
            return Err(app_error(
                "api.post.update_post.can_not_update_post_in_deleted.error",
                "the post's channel is archived",
                400,
            ));
        }
        let new = proto::Post {
            message: post.message,
            props: post.props,
            file_ids: post.file_ids,
            is_pinned: post.is_pinned,
            has_reactions: post.has_reactions,
            ..old.clone()
        };
        // `App.UpdatePost` parses a changed message's hashtags before the
        // plugins' `MessageWillBeUpdated` runs.
        let new = if new.message == old.message {
            new
        } else {
            proto::Post { hashtags: mmplugin_runtime::hashtags::parse_hashtags(&new.message).0, ..new }
        };
        Ok((new, old))
    }

    /// Stores an updated post, as the hooks left it: `update_at` and
    /// `edit_at` now; its place (channel, thread, author, creation) kept.
    pub(super) fn save_update(&mut self, mut post: proto::Post) -> Result<proto::Post, AppError> {
        let stored = self.post(&post.id)?.clone();
        let now = self.now();
        post.create_at = stored.create_at;
        post.channel_id = stored.channel_id;
        post.root_id = stored.root_id;
        post.user_id = stored.user_id;
        post.update_at = now;
        post.edit_at = now;
        self.posts.insert(post.id.clone(), post.clone());
        Ok(post)
    }

    /// Marks the post deleted: it reads as not found from then on. The post
    /// as it was. A post already deleted (or never there) is the server's
    /// 400 (`GetSingle` fails first).
    pub(super) fn remove_post(&mut self, post_id: &str) -> Result<proto::Post, AppError> {
        let before = self.post(post_id).map_err(|_| app_error("app.post.get.app_error", "no such post", 400))?.clone();
        if self.channel(&before.channel_id)?.delete_at != 0 {
            return Err(app_error(
                "api.post.delete_post.can_not_delete_post_in_deleted.error",
                "the post's channel is archived",
                400,
            ));
        }
        let now = self.now();
        // The post and its replies (`SqlPostStore.Delete`: `Id = ? OR RootId = ?`).
        for post in self.posts.values_mut().filter(|p| p.id == post_id || p.root_id == post_id) {
            if post.delete_at == 0 {
                post.delete_at = now;
                post.update_at = now;
            }
        }
        Ok(before)
    }

    /// The thread of a post (of its root, for a reply): the requested post
    /// first in `order`, then the rest in the order they were created.
    pub(super) fn get_post_thread(
        &mut self,
        request: proto::GetPostThreadRequest,
    ) -> Result<proto::GetPostThreadResponse, AppError> {
        let post = self.post(&request.post_id)?;
        let root = if post.root_id.is_empty() { post.id.clone() } else { post.root_id.clone() };
        let mut order = vec![request.post_id.clone()];
        let mut posts = HashMap::new();
        for id in &self.post_order {
            let Ok(p) = self.post(id) else { continue };
            if p.id == root || p.root_id == root {
                if *id != request.post_id {
                    order.push(id.clone());
                }
                posts.insert(id.clone(), p.clone());
            }
        }
        let post_list = proto::PostList { order, posts, ..Default::default() };
        Ok(proto::GetPostThreadResponse { post_list: Some(post_list), ..Default::default() })
    }

    /// A channel's posts, newest first.
    pub(super) fn get_posts_for_channel(
        &mut self,
        request: proto::GetPostsForChannelRequest,
    ) -> Result<proto::GetPostsForChannelResponse, AppError> {
        self.channel(&request.channel_id)?;
        if request.per_page > 1000 {
            return Err(app_error("app.post.get_posts.app_error", "at most 1000 posts a page", 400));
        }
        let ids =
            self.post_order.iter().rev().filter(|id| self.post(id).is_ok_and(|p| p.channel_id == request.channel_id));
        let order = page(ids.cloned(), request.page, request.per_page);
        let posts = order.iter().filter_map(|id| Some((id.clone(), self.posts.get(id)?.clone()))).collect();
        let post_list = proto::PostList { order, posts, ..Default::default() };
        Ok(proto::GetPostsForChannelResponse { post_list: Some(post_list), ..Default::default() })
    }

    /// An ephemeral post is not stored, only shown to one user: the fake
    /// keeps it per user (`FakeServer::ephemeral_posts`).
    pub(super) fn send_ephemeral_post(
        &mut self,
        request: proto::SendEphemeralPostRequest,
    ) -> Result<proto::SendEphemeralPostResponse, AppError> {
        let mut post = request.post.unwrap_or_default();
        if post.id.is_empty() {
            post.id = self.new_id();
        }
        if post.create_at == 0 {
            post.create_at = self.now();
        }
        post.r#type = "system_ephemeral".to_owned();
        self.ephemeral.entry(request.user_id).or_default().push(post.clone());
        Ok(proto::SendEphemeralPostResponse { post: Some(post), ..Default::default() })
    }

    pub(super) fn update_ephemeral_post(
        &mut self,
        request: proto::UpdateEphemeralPostRequest,
    ) -> Result<proto::UpdateEphemeralPostResponse, AppError> {
        let mut post = request.post.unwrap_or_default();
        post.r#type = "system_ephemeral".to_owned();
        post.update_at = self.now();
        let posts = self.ephemeral.entry(request.user_id).or_default();
        match posts.iter_mut().find(|p| p.id == post.id) {
            Some(stored) => *stored = post.clone(),
            None => posts.push(post.clone()),
        }
        Ok(proto::UpdateEphemeralPostResponse { post: Some(post), ..Default::default() })
    }

    pub(super) fn delete_ephemeral_post(
        &mut self,
        request: proto::DeleteEphemeralPostRequest,
    ) -> Result<proto::DeleteEphemeralPostResponse, AppError> {
        if let Some(posts) = self.ephemeral.get_mut(&request.user_id) {
            posts.retain(|p| p.id != request.post_id);
        }
        Ok(proto::DeleteEphemeralPostResponse::default())
    }

    /// Saves a reaction (once per user, post and emoji) as the server's
    /// `SaveReactionForPost` does: on a post that exists, by a user that does.
    pub(super) fn save_reaction(&mut self, mut reaction: proto::Reaction) -> Result<proto::Reaction, AppError> {
        let channel_id = self.post(&reaction.post_id)?.channel_id.clone();
        if self.channel(&channel_id)?.delete_at != 0 {
            return Err(app_error("api.reaction.save.archived_channel.app_error", "the post's channel is archived", 403));
        }
        self.user(&reaction.user_id)?;
        let now = self.now();
        reaction.create_at = now;
        reaction.update_at = now;
        reaction.channel_id = Some(channel_id);
        let same = |r: &proto::Reaction| {
            r.post_id == reaction.post_id && r.user_id == reaction.user_id && r.emoji_name == reaction.emoji_name
        };
        if !self.reactions.iter().any(same) {
            self.reactions.push(reaction.clone());
        }
        if let Some(post) = self.posts.get_mut(&reaction.post_id) {
            post.has_reactions = true;
        }
        Ok(reaction)
    }

    /// Removes a reaction from a post that exists.
    pub(super) fn delete_reaction(&mut self, reaction: &proto::Reaction) -> Result<(), AppError> {
        let channel_id = self.post(&reaction.post_id)?.channel_id.clone();
        if self.channel(&channel_id)?.delete_at != 0 {
            return Err(app_error("api.reaction.delete.archived_channel.app_error", "the post's channel is archived", 403));
        }
        self.reactions.retain(|r| {
            !(r.post_id == reaction.post_id && r.user_id == reaction.user_id && r.emoji_name == reaction.emoji_name)
        });
        let left = self.reactions.iter().any(|r| r.post_id == reaction.post_id);
        if let Some(post) = self.posts.get_mut(&reaction.post_id) {
            post.has_reactions = left;
        }
        Ok(())
    }

    pub(super) fn get_reactions(
        &mut self,
        request: proto::GetReactionsRequest,
    ) -> Result<proto::GetReactionsResponse, AppError> {
        let reactions = self.reactions.iter().filter(|r| r.post_id == request.post_id).cloned().collect();
        Ok(proto::GetReactionsResponse { reactions, ..Default::default() })
    }

    // ---- Bots -------------------------------------------------------------

    fn bot(&self, user_id: &str) -> Result<&proto::Bot, AppError> {
        self.bots.get(user_id).ok_or_else(|| not_found("store.sql_bot.get.missing.app_error", "bot", user_id))
    }

    fn insert_bot(&mut self, mut bot: proto::Bot) -> Result<proto::Bot, AppError> {
        let user = self.insert_user(proto::User {
            email: format!("{}@localhost", bot.username.to_lowercase()),
            username: bot.username.clone(),
            nickname: bot.display_name.clone(),
            first_name: bot.display_name.clone(),
            is_bot: true,
            bot_description: bot.description.clone(),
            roles: "system_user".to_owned(),
            ..Default::default()
        })?;
        bot.user_id = user.id;
        bot.username = user.username;
        bot.create_at = user.create_at;
        bot.update_at = user.create_at;
        bot.delete_at = 0;
        self.bots.insert(bot.user_id.clone(), bot.clone());
        Ok(bot)
    }

    pub(super) fn create_bot(
        &mut self,
        request: proto::CreateBotRequest,
    ) -> Result<proto::CreateBotResponse, AppError> {
        let mut bot = required(request.bot, "bot")?;
        if bot.owner_id.is_empty() {
            bot.owner_id.clone_from(&self.plugin_id);
        }
        let bot = self.insert_bot(bot)?;
        Ok(proto::CreateBotResponse { bot: Some(bot), ..Default::default() })
    }

    pub(super) fn get_bot(&mut self, request: proto::GetBotRequest) -> Result<proto::GetBotResponse, AppError> {
        let bot = self.bot(&request.bot_user_id)?;
        if bot.delete_at != 0 && !request.include_deleted {
            return Err(not_found("store.sql_bot.get.missing.app_error", "bot", &request.bot_user_id));
        }
        Ok(proto::GetBotResponse { bot: Some(bot.clone()), ..Default::default() })
    }

    pub(super) fn get_bots(&mut self, request: proto::GetBotsRequest) -> Result<proto::GetBotsResponse, AppError> {
        let options = request.options.unwrap_or_default();
        let bots = self
            .bots
            .values()
            .filter(|b| options.owner_id.is_empty() || b.owner_id == options.owner_id)
            .filter(|b| options.include_deleted || b.delete_at == 0)
            .cloned();
        // By creation, then username (`SqlBotStore.GetAll`).
        let mut bots: Vec<proto::Bot> = bots.collect();
        bots.sort_by(|a, b| (a.create_at, &a.username).cmp(&(b.create_at, &b.username)));
        let bots = page(bots.into_iter(), options.page, options.per_page);
        Ok(proto::GetBotsResponse { bots, ..Default::default() })
    }

    pub(super) fn patch_bot(&mut self, request: proto::PatchBotRequest) -> Result<proto::PatchBotResponse, AppError> {
        let patch = required(request.bot_patch, "bot_patch")?;
        self.bot(&request.bot_user_id)?;
        let now = self.now();
        if let Some(username) = &patch.username {
            let taken = self.users.values().any(|u| u.username == *username && u.id != request.bot_user_id);
            if taken {
                return Err(app_error(
                    "app.user.save.username_exists.app_error",
                    format!("an account with the username {username:?} already exists"),
                    400,
                ));
            }
        }
        let bot = self.bots.get_mut(&request.bot_user_id).expect("checked above");
        if let Some(username) = patch.username {
            bot.username = username;
        }
        if let Some(display_name) = patch.display_name {
            bot.display_name = display_name;
        }
        if let Some(description) = patch.description {
            bot.description = description;
        }
        bot.update_at = now;
        let bot = bot.clone();
        if let Some(user) = self.users.get_mut(&bot.user_id) {
            user.username.clone_from(&bot.username);
            user.nickname.clone_from(&bot.display_name);
            user.bot_description.clone_from(&bot.description);
            user.update_at = now;
        }
        Ok(proto::PatchBotResponse { bot: Some(bot), ..Default::default() })
    }

    /// Activates or deactivates a bot and its user; the bot, its user, and
    /// whether the user was deactivated now (it was active before).
    pub(super) fn set_bot_active(
        &mut self,
        bot_user_id: &str,
        active: bool,
    ) -> Result<(proto::Bot, Option<proto::User>), AppError> {
        let was_active = self.bot(bot_user_id)?.delete_at == 0;
        let now = self.now();
        let delete_at = if active { 0 } else { now };
        let bot = self.bots.get_mut(bot_user_id).expect("checked above");
        bot.delete_at = delete_at;
        bot.update_at = now;
        let bot = bot.clone();
        let deactivated = match self.users.get_mut(&bot.user_id) {
            Some(user) => {
                user.delete_at = delete_at;
                (was_active && !active).then(|| user.clone())
            }
            None => None,
        };
        Ok((bot, deactivated))
    }

    pub(super) fn permanent_delete_bot(
        &mut self,
        request: proto::PermanentDeleteBotRequest,
    ) -> Result<proto::PermanentDeleteBotResponse, AppError> {
        self.bot(&request.bot_user_id)?;
        self.bots.remove(&request.bot_user_id);
        self.users.remove(&request.bot_user_id);
        Ok(proto::PermanentDeleteBotResponse::default())
    }

    /// The server's `EnsureBot`: the bot whose id the plugin's KV store
    /// keeps under `mmi_botid`, updated to this username, display name and
    /// description; else the user of this username (a bot's id is then
    /// kept); else a new bot owned by the plugin, its id kept.
    pub(super) fn ensure_bot_user(
        &mut self,
        request: proto::EnsureBotUserRequest,
    ) -> Result<proto::EnsureBotUserResponse, AppError> {
        let mut bot = required(request.bot, "bot")?;
        if bot.username.is_empty() {
            return Err(app_error("plugin_api.bot.ensure.username", "the bot needs a username", 500));
        }
        bot.owner_id.clone_from(&self.plugin_id);
        let now = self.now();
        let kept = String::from_utf8(self.kv.get(BOT_ID_KEY, now)).unwrap_or_default();
        if self.bots.contains_key(&kept) {
            let patch = proto::BotPatch {
                username: Some(bot.username),
                display_name: Some(bot.display_name),
                description: Some(bot.description),
            };
            self.patch_bot(proto::PatchBotRequest { bot_user_id: kept.clone(), bot_patch: Some(patch) })?;
            return Ok(proto::EnsureBotUserResponse { bot_user_id: kept, ..Default::default() });
        }
        let username = bot.username.to_lowercase();
        if let Some(user) = self.users.values().find(|u| u.username == username) {
            let id = user.id.clone();
            if user.is_bot {
                self.kv.set(BOT_ID_KEY, id.as_bytes(), 0, now)?;
            }
            return Ok(proto::EnsureBotUserResponse { bot_user_id: id, ..Default::default() });
        }
        let bot = self.insert_bot(bot)?;
        self.kv.set(BOT_ID_KEY, bot.user_id.as_bytes(), 0, now)?;
        Ok(proto::EnsureBotUserResponse { bot_user_id: bot.user_id, ..Default::default() })
    }

    // ---- Slash commands ---------------------------------------------------

    pub(super) fn register_command(
        &mut self,
        request: proto::RegisterCommandRequest,
    ) -> Result<proto::RegisterCommandResponse, AppError> {
        let mut command = required(request.command, "command")?;
        command.trigger = command.trigger.trim_start_matches('/').to_lowercase();
        if command.trigger.is_empty() || command.trigger.contains(' ') {
            return Err(app_error(
                "model.command.is_valid.trigger.app_error",
                "a command needs a one-word trigger",
                400,
            ));
        }
        command.plugin_id.clone_from(&self.plugin_id);
        self.commands.insert((command.team_id.clone(), command.trigger.clone()), command);
        Ok(proto::RegisterCommandResponse::default())
    }

    pub(super) fn unregister_command(
        &mut self,
        request: proto::UnregisterCommandRequest,
    ) -> Result<proto::UnregisterCommandResponse, AppError> {
        let trigger = request.trigger.trim_start_matches('/').to_lowercase();
        self.commands.remove(&(request.team_id, trigger));
        Ok(proto::UnregisterCommandResponse::default())
    }

    /// The server's checks before a slash command reaches a plugin, and the
    /// arguments it fills: the user exists and may use the channel
    /// (`use_slash_commands`: a member's channel role has it; a system
    /// admin has every permission), the team is the channel's unless the
    /// channel is direct or a group, the site URL is the server's.
    fn check_command(&self, args: &mut proto::CommandArgs) -> Result<(), AppError> {
        let user = self.user(&args.user_id)?;
        let channel = self.channel(&args.channel_id)?;
        let member = self.channel_members.contains_key(&(channel.id.clone(), user.id.clone()));
        let admin = user.roles.split_whitespace().any(|role| role == "system_admin");
        if !member && !admin {
            return Err(app_error(
                "api.context.permissions.app_error",
                format!("user {:?} may not use slash commands in channel {:?}", user.username, channel.name),
                403,
            ));
        }
        if !channel.team_id.is_empty() {
            args.team_id.clone_from(&channel.team_id);
        }
        let site_url = self.server_config.pointer("/ServiceSettings/SiteURL").and_then(Value::as_str);
        args.site_url = site_url.unwrap_or_default().to_owned();
        Ok(())
    }

    /// The command registered for `trigger`, for all teams or for `team_id`.
    fn command(&self, team_id: &str, trigger: &str) -> Option<&proto::Command> {
        self.commands
            .get(&(team_id.to_owned(), trigger.to_owned()))
            .or_else(|| self.commands.get(&(String::new(), trigger.to_owned())))
    }
}

/// Seeding the server and reading what the plugin left in it.
impl FakeServer {
    /// The plugin's settings, saved as an admin saves them in the System
    /// Console: under lowercased keys (`{"BlockedWord": "x"}` is stored as
    /// `blockedword`), whatever case the manifest declares. `GetPluginConfig`
    /// answers them as stored, so a plugin must look keys up without regard
    /// to case (or read `LoadPluginConfiguration`, lowercased too, as Go's
    /// case-insensitive decoding does). Under a [`TestHost`], use
    /// [`TestHost::save_config`] so the plugin hears of the change.
    ///
    /// # Panics
    /// When `config` is neither an object nor `null`.
    pub fn set_plugin_config(&self, config: Value) -> &Self {
        self.state().config = match config {
            Value::Object(map) => map.into_iter().map(|(key, value)| (key.to_lowercase(), value)).collect(),
            Value::Null => Map::new(),
            other => panic!("plugin settings are a JSON object, not {other}"),
        };
        self
    }

    /// The plugin's settings as stored now.
    pub fn plugin_config(&self) -> Map<String, Value> {
        self.state().config.clone()
    }

    /// A team, a channel in it and a user in both, in one line; the user,
    /// channel and team are then where [`TestHost::command`] and
    /// [`TestHost::http_as_seeded_user`] act from.
    pub fn seed(&self) -> Seed {
        let team = self.add_team("test-team");
        let channel = self.add_channel(&team.id, "town-square");
        let user = self.add_user("alice");
        self.add_to_channel(&channel.id, &user.id);
        self.state().actor =
            Actor { user_id: user.id.clone(), channel_id: channel.id.clone(), team_id: team.id.clone() };
        Seed { team, channel, user }
    }

    /// A new user, `{username}@example.com`.
    ///
    /// # Panics
    /// When the username is taken or empty.
    pub fn add_user(&self, username: &str) -> proto::User {
        let user = proto::User {
            username: username.to_owned(),
            email: format!("{username}@example.com"),
            first_name: username.to_owned(),
            locale: "en".to_owned(),
            ..Default::default()
        };
        self.state().insert_user(user).unwrap_or_else(|e| panic!("add_user({username:?}): {e}"))
    }

    /// A new open team.
    ///
    /// # Panics
    /// When the name is taken or empty.
    pub fn add_team(&self, name: &str) -> proto::Team {
        let team =
            proto::Team { name: name.to_owned(), display_name: name.to_owned(), r#type: 0, ..Default::default() };
        self.state().insert_team(team).unwrap_or_else(|e| panic!("add_team({name:?}): {e}"))
    }

    /// A new open channel in `team_id`.
    ///
    /// # Panics
    /// When the team does not exist or the name is taken.
    pub fn add_channel(&self, team_id: &str, name: &str) -> proto::Channel {
        let channel = proto::Channel {
            team_id: team_id.to_owned(),
            name: name.to_owned(),
            r#type: proto::ChannelType::Open as i32,
            ..Default::default()
        };
        self.state().insert_channel(channel).unwrap_or_else(|e| panic!("add_channel({name:?}): {e}"))
    }

    /// Makes `user_id` a member of the channel, and of its team.
    ///
    /// # Panics
    /// When the channel or the user does not exist.
    pub fn add_to_channel(&self, channel_id: &str, user_id: &str) {
        let mut state = self.state();
        let team_id = state.channel(channel_id).map(|c| c.team_id.clone()).unwrap_or_default();
        if !team_id.is_empty() {
            state.join_team(&team_id, user_id).unwrap_or_else(|e| panic!("add_to_channel: {e}"));
        }
        state.join_channel(channel_id, user_id).unwrap_or_else(|e| panic!("add_to_channel: {e}"));
    }

    /// The value under `key` in the plugin's KV store (empty when none).
    pub fn kv_value(&self, key: &str) -> Vec<u8> {
        let state = self.state();
        state.kv.get(key, state.now())
    }

    /// The live keys of the plugin's KV store, in order.
    pub fn kv_keys(&self) -> Vec<String> {
        let state = self.state();
        state.kv.list(0, i64::MAX, state.now())
    }

    /// The stored posts not deleted, in the order they were created.
    pub fn posts(&self) -> Vec<proto::Post> {
        let state = self.state();
        state.post_order.iter().filter_map(|id| state.post(id).ok().cloned()).collect()
    }

    /// The ephemeral posts sent to `user_id`, in order.
    pub fn ephemeral_posts(&self, user_id: &str) -> Vec<proto::Post> {
        self.state().ephemeral.get(user_id).cloned().unwrap_or_default()
    }

    /// The reactions on `post_id`.
    pub fn reactions(&self, post_id: &str) -> Vec<proto::Reaction> {
        self.state().reactions.iter().filter(|r| r.post_id == post_id).cloned().collect()
    }

    /// The bots, by user id.
    pub fn bots(&self) -> Vec<proto::Bot> {
        self.state().bots.values().cloned().collect()
    }

    /// The profile image set for this user through the API, if any.
    pub fn profile_image(&self, user_id: &str) -> Option<Vec<u8>> {
        self.state().profile_images.get(user_id).cloned()
    }

    /// The user of this id, if any.
    pub fn user(&self, id: &str) -> Option<proto::User> {
        self.state().users.get(id).cloned()
    }

    /// The slash commands registered, by team and trigger.
    pub fn commands(&self) -> Vec<proto::Command> {
        self.state().commands.values().cloned().collect()
    }

    /// The WebSocket events the plugin published (`PublishWebSocketEvent`),
    /// in order: the event name as the plugin gave it (the server sends it
    /// as `custom_<plugin id>_<event>`), its payload and its audience.
    pub fn websocket_events(&self) -> Vec<proto::PublishWebSocketEventRequest> {
        self.state().websocket_events.clone()
    }

    /// Merges `patch` into the server's configuration (a JSON merge patch:
    /// `json!({"ServiceSettings": {"SiteURL": ""}})` changes one setting).
    /// The fake starts with [`default_server_config`].
    pub fn set_server_config(&self, patch: Value) -> &Self {
        merge(&mut self.state().server_config, patch);
        self
    }

    /// The plugin's folder, as `GetBundlePath` answers it from now on: a
    /// test of a plugin that reads files of its bundle (`assets/i18n/`)
    /// points it at a folder laid out as the bundle is. Without it, the
    /// answer is the folder the test runs in (under `cargo test`, the
    /// package's root).
    pub fn set_bundle_path(&self, path: impl AsRef<std::path::Path>) -> &Self {
        self.state().bundle_path = Some(path.as_ref().display().to_string());
        self
    }

    /// The server's configuration now, as `GetConfig` answers it.
    pub fn server_config(&self) -> Value {
        self.state().server_config.clone()
    }

    /// A new user with the role `system_admin` (and `system_user`), as
    /// [`FakeServer::add_user`] makes one otherwise.
    ///
    /// # Panics
    /// When the username is taken or empty.
    pub fn add_admin(&self, username: &str) -> proto::User {
        let mut user = self.add_user(username);
        user.roles = "system_user system_admin".to_owned();
        self.state().users.insert(user.id.clone(), user.clone());
        user
    }

    /// A new private channel in `team_id`, with `members` in it (and in
    /// its team).
    ///
    /// # Panics
    /// When the team or a user does not exist, or the name is taken.
    pub fn add_private_channel(&self, team_id: &str, name: &str, members: &[&str]) -> proto::Channel {
        let channel = proto::Channel {
            team_id: team_id.to_owned(),
            name: name.to_owned(),
            r#type: proto::ChannelType::Private as i32,
            ..Default::default()
        };
        let channel =
            self.state().insert_channel(channel).unwrap_or_else(|e| panic!("add_private_channel({name:?}): {e}"));
        for user in members {
            self.add_to_channel(&channel.id, user);
        }
        channel
    }

    /// The direct channel between two users, made (both members) if needed.
    ///
    /// # Panics
    /// When a user does not exist.
    pub fn direct_channel(&self, a: &str, b: &str) -> proto::Channel {
        self.state().direct_channel(a, b).unwrap_or_else(|e| panic!("direct_channel: {e}")).0
    }

    /// The cluster events the plugin published, with their send options, in order.
    pub fn cluster_events(&self) -> Vec<(proto::PluginClusterEvent, Option<proto::PluginClusterEventSendOptions>)> {
        self.state().cluster_events.clone()
    }

    fn set_plugin_id(&self, id: &str) {
        id.clone_into(&mut self.state().plugin_id);
    }
}

/// Slash commands, settings and requests from the seeded user.
impl<P: Plugin> TestHost<P> {
    /// Gives the fake server the host's plugin id (the owner of its bots
    /// and commands).
    pub(super) fn adopt(&self) {
        self.fake.set_plugin_id(&self.plugin_id);
    }

    /// Runs a slash command line (`/hello world`) as the seeded user types
    /// it in the seeded channel ([`FakeServer::seed`]); see [`Self::command_as`].
    pub async fn command(&self, line: &str) -> Result<proto::CommandResponse, Error> {
        let actor = self.fake.state().actor.clone();
        let args = proto::CommandArgs {
            user_id: actor.user_id,
            channel_id: actor.channel_id,
            team_id: actor.team_id,
            command: line.to_owned(),
            ..Default::default()
        };
        self.command_as(args).await
    }

    /// Runs a slash command as the server does (the REST handler
    /// `executeCommand` and `App.ExecuteCommand`): the user must exist and
    /// may use the channel (a member, or a system admin: otherwise the
    /// server's 403, `api.context.permissions.app_error`); the team is the
    /// channel's (for a direct channel, the one given) and the site URL the
    /// server's; only a trigger the plugin registered reaches
    /// `ExecuteCommand` (another is the server's 404,
    /// `api.command.execute_command.not_found.app_error`). The hook's error
    /// is returned as an error, its response as the answer.
    ///
    /// As through the real host, the plugin gets only the arguments the host
    /// sends (no `t`, `user_mention`, `channel_mention`), and the answer is
    /// what the server reads of the plugin's: no `type`, no `attachments`
    /// (`runtime/src/host_rules.md`, "What the host converts and loses").
    pub async fn command_as(&self, mut args: proto::CommandArgs) -> Result<proto::CommandResponse, Error> {
        self.fake.state().check_command(&mut args)?;
        let trigger = args.command.split_whitespace().next().unwrap_or("").trim_start_matches('/');
        let trigger = trigger.to_lowercase();
        if self.fake.state().command(&args.team_id, &trigger).is_none() {
            return Err(Error::from(AppError::new(
                "api.command.execute_command.not_found.app_error",
                format!("Command with a trigger of '/{trigger}' not found."),
                404,
            )));
        }
        let answer = self.execute_command(args).await?;
        crate::error::check(answer.error)?;
        Ok(super::host::command_response(answer.response.unwrap_or_default()))
    }

    /// Runs a slash command line as `user_id` types it in `channel_id` (see
    /// [`Self::command_as`]): another user, another channel, one call.
    pub async fn command_from(
        &self,
        user_id: &str,
        channel_id: &str,
        line: &str,
    ) -> Result<proto::CommandResponse, Error> {
        let team_id = self.fake.state().actor.team_id.clone();
        let args = proto::CommandArgs {
            user_id: user_id.to_owned(),
            channel_id: channel_id.to_owned(),
            team_id,
            command: line.to_owned(),
            ..Default::default()
        };
        self.command_as(args).await
    }

    /// `/plugins/{id}{path}`: the URL a client sends to this plugin's
    /// `path` (`host.url("/note")`), for [`Self::http_as`].
    pub fn url(&self, path: &str) -> String {
        format!("/plugins/{}{path}", self.plugin_id)
    }

    /// Saves the plugin's settings as an admin does, and tells the plugin
    /// (`OnConfigurationChange`, if it implements it), as the server does
    /// after a save. The hook's error, if any, is returned.
    pub async fn save_config(&self, config: Value) -> Result<(), Error> {
        self.fake.set_plugin_config(config);
        if self.is_implemented(HookName::OnConfigurationChange) {
            let answer = self.on_configuration_change().await?;
            crate::error::check(answer.error)?;
        }
        Ok(())
    }

    /// Sends `request` (to `/plugins/{id}/…`) as the seeded user, logged in.
    pub async fn http_as_seeded_user(
        &self,
        request: http::Request<impl Into<bytes::Bytes>>,
    ) -> http::Response<bytes::Bytes> {
        let user_id = self.fake.state().actor.user_id.clone();
        self.http_as(Some(&user_id).filter(|id| !id.is_empty()).map(String::as_str), request).await
    }
}
