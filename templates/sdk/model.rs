//! What Go's `model` package gives a plugin beyond the wire messages:
//! builders for the messages a plugin makes (posts, slash command answers,
//! commands), message attachments and interactive buttons in the server's
//! JSON shape, read from and written to a post's props, the small helpers
//! on users and channels, membership checks, ids and millisecond time.
//!
//! The helpers on wire messages are traits implemented for the `proto`
//! types, in the crate's `prelude`: with `use mattermost_plugin::prelude::*;`
//! `proto::CommandResponse::ephemeral("Done.")` and `user.display_name(…)`
//! read as they would if the messages had them.
//!
//! This file is plain Rust, written by hand against Mattermost's plugin
//! contract and copied as it is into each SDK whose contract has the API
//! methods it calls.
//!
//! What Go's `model` has and this does not, on purpose: the server's own
//! validation (`IsValid` on every type: the server runs it on what a
//! plugin sends and answers with its own error), the dialog types (open a
//! dialog through the API's `open_interactive_dialog` with its message).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use mmplugin_runtime::hashtags::parse_hashtags;
pub use mmplugin_runtime::ids::{is_valid_id, new_id};

use crate::api::{ChannelsApi as _, PluginApiClient, TeamsApi as _};
use crate::error::{Error, ErrorKind};
use crate::proto;

/// The time now in milliseconds since the Unix epoch: Go's
/// `model.GetMillis()`, the unit of every `*_at` field.
pub fn now_millis() -> i64 {
    millis(SystemTime::now())
}

/// `time` in milliseconds since the Unix epoch (negative before it).
pub fn millis(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

/// The time `millis` milliseconds after the Unix epoch: a `*_at` field as
/// a [`SystemTime`].
pub fn from_millis(millis: i64) -> SystemTime {
    let magnitude = Duration::from_millis(millis.unsigned_abs());
    if millis >= 0 { UNIX_EPOCH + magnitude } else { UNIX_EPOCH - magnitude }
}

/// The post prop that holds a post's message attachments.
pub const ATTACHMENTS_PROP: &str = "attachments";

/// A post built and read as Go's `model.Post` is. Implemented for
/// [`proto::Post`].
///
/// Props (attachments among them) are read and set on the posts a plugin
/// makes or fetches through the API: in `MessageWillBePosted` and the other
/// post hooks the gRPC host carries no props either way, so a post arrives
/// without them and a replacement is stored without any.
pub trait PostExt: Sized {
    /// A post of `message` in `channel_id`; add its author with
    /// [`PostExt::by`] (a plugin posts as its bot or as a user).
    fn new(channel_id: impl Into<String>, message: impl Into<String>) -> Self;
    /// The post, written by `user_id`.
    #[must_use]
    fn by(self, user_id: impl Into<String>) -> Self;
    /// The post, as a reply in the thread of `root_id`.
    #[must_use]
    fn in_thread(self, root_id: impl Into<String>) -> Self;
    /// The post, with the prop `key` set to `value` (any `serde` value).
    #[must_use]
    fn with_prop(mut self, key: &str, value: impl Serialize) -> Self {
        self.set_prop(key, value);
        self
    }
    /// The post, with these message attachments.
    #[must_use]
    fn with_attachments(mut self, attachments: Vec<Attachment>) -> Self {
        self.set_attachments(attachments);
        self
    }

    /// Replaces the message, and the hashtags with the new message's: the
    /// server parses them before `MessageWillBePosted` and
    /// `MessageWillBeUpdated` run, so a hook that rewrites the message
    /// sets them again (Go plugins call `model.ParseHashtags`).
    fn set_message(&mut self, message: impl Into<String>);

    /// The post's props as a JSON object (empty when it has none).
    fn props_json(&self) -> Map<String, Value>;
    /// Replaces the post's props with `props`.
    fn set_props_json(&mut self, props: Map<String, Value>);
    /// The prop `key` read as `T`: `None` when absent or `null`, an error
    /// when it does not fit `T`.
    fn prop<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        match self.props_json().remove(key) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => serde_json::from_value(value).map(Some).map_err(|source| Error::Json { field: "props", source }),
        }
    }
    /// Sets the prop `key` to `value`. A value that is not JSON (a map with
    /// keys that are not strings) is stored as `null`.
    fn set_prop(&mut self, key: &str, value: impl Serialize) {
        let mut props = self.props_json();
        props.insert(key.to_owned(), serde_json::to_value(value).unwrap_or(Value::Null));
        self.set_props_json(props);
    }
    /// The post's message attachments (its `attachments` prop); none when
    /// it has none or they are not attachments.
    fn attachments(&self) -> Vec<Attachment> {
        self.prop(ATTACHMENTS_PROP).ok().flatten().unwrap_or_default()
    }
    /// Sets the post's message attachments (its `attachments` prop).
    fn set_attachments(&mut self, attachments: Vec<Attachment>) {
        self.set_prop(ATTACHMENTS_PROP, attachments);
    }
}

impl PostExt for proto::Post {
    fn new(channel_id: impl Into<String>, message: impl Into<String>) -> Self {
        Self { channel_id: channel_id.into(), message: message.into(), ..Self::default() }
    }

    fn by(self, user_id: impl Into<String>) -> Self {
        Self { user_id: user_id.into(), ..self }
    }

    fn in_thread(self, root_id: impl Into<String>) -> Self {
        Self { root_id: root_id.into(), ..self }
    }

    fn set_message(&mut self, message: impl Into<String>) {
        self.message = message.into();
        self.hashtags = parse_hashtags(&self.message).0;
    }

    fn props_json(&self) -> Map<String, Value> {
        self.props.clone().map(mmplugin_runtime::json::struct_to_object).unwrap_or_default()
    }

    fn set_props_json(&mut self, props: Map<String, Value>) {
        self.props = Some(mmplugin_runtime::json::object_to_struct(props));
    }
}

/// A slash command's answer made as Go plugins make it. Implemented for
/// [`proto::CommandResponse`].
pub trait CommandResponseExt: Sized {
    /// An answer only the user who ran the command sees (`ephemeral`).
    fn ephemeral(text: impl Into<String>) -> Self;
    /// An answer posted in the channel for everyone (`in_channel`).
    fn in_channel(text: impl Into<String>) -> Self;
    /// An answer that sends the user's client to `url` (`goto_location`).
    fn go_to(url: impl Into<String>) -> Self;
    /// The answer, with message attachments on the reply post. They go in
    /// its props: the gRPC host drops the answer's own `attachments`.
    #[must_use]
    fn with_attachments(self, attachments: Vec<Attachment>) -> Self;
}

impl CommandResponseExt for proto::CommandResponse {
    fn ephemeral(text: impl Into<String>) -> Self {
        Self { response_type: "ephemeral".into(), text: text.into(), ..Self::default() }
    }

    fn in_channel(text: impl Into<String>) -> Self {
        Self { response_type: "in_channel".into(), text: text.into(), ..Self::default() }
    }

    fn go_to(url: impl Into<String>) -> Self {
        Self { goto_location: url.into(), ..Self::default() }
    }

    fn with_attachments(self, attachments: Vec<Attachment>) -> Self {
        let mut props = self.props.clone().map(mmplugin_runtime::json::struct_to_object).unwrap_or_default();
        props.insert(ATTACHMENTS_PROP.to_owned(), serde_json::to_value(attachments).unwrap_or(Value::Null));
        Self { props: Some(mmplugin_runtime::json::object_to_struct(props)), ..self }
    }
}

/// A slash command to register, made as Go plugins make it. Implemented
/// for [`proto::Command`].
pub trait CommandExt: Sized {
    /// The command `/trigger` (give `trigger` without the slash).
    fn new(trigger: impl Into<String>) -> Self;
    /// The command, with its name and description as the command list shows them.
    #[must_use]
    fn described(self, display_name: impl Into<String>, description: impl Into<String>) -> Self;
    /// The command, offered in autocomplete with this description and hint
    /// (`[name]`). The contract carries no richer autocomplete data.
    #[must_use]
    fn autocomplete(self, description: impl Into<String>, hint: impl Into<String>) -> Self;
}

impl CommandExt for proto::Command {
    fn new(trigger: impl Into<String>) -> Self {
        Self { trigger: trigger.into(), ..Self::default() }
    }

    fn described(self, display_name: impl Into<String>, description: impl Into<String>) -> Self {
        Self { display_name: display_name.into(), description: description.into(), ..self }
    }

    fn autocomplete(self, description: impl Into<String>, hint: impl Into<String>) -> Self {
        Self { auto_complete: true, auto_complete_desc: description.into(), auto_complete_hint: hint.into(), ..self }
    }
}

/// How a user's name is shown: the server's `TeammateNameDisplay` setting
/// (Go's `model.ShowUsername`, `ShowNicknameFullName`, `ShowFullName`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NameFormat {
    /// The username (`username`).
    #[default]
    Username,
    /// The nickname, else the full name, else the username (`nickname_full_name`).
    NicknameFullName,
    /// The full name, else the username (`full_name`).
    FullName,
}

impl NameFormat {
    /// The format a `TeammateNameDisplay` setting names; anything else is
    /// [`NameFormat::Username`], as on the server.
    pub fn from_setting(setting: &str) -> Self {
        match setting {
            "nickname_full_name" => Self::NicknameFullName,
            "full_name" => Self::FullName,
            _ => Self::Username,
        }
    }
}

/// The role every guest account has.
pub const SYSTEM_GUEST_ROLE: &str = "system_guest";
/// The role every system administrator has.
pub const SYSTEM_ADMIN_ROLE: &str = "system_admin";

/// Go's helpers on `model.User`. Implemented for [`proto::User`].
pub trait UserExt {
    /// The first and last name, joined by a space, or whichever is set
    /// (Go's `GetFullName`).
    fn full_name(&self) -> String;
    /// The name to show for the user (Go's `GetDisplayName`).
    fn display_name(&self, format: NameFormat) -> String;
    /// Whether `role` is one of the user's space-separated roles (Go's
    /// `IsInRole`).
    fn has_role(&self, role: &str) -> bool;
    /// Whether the user is a guest (Go's `IsGuest`).
    fn is_guest(&self) -> bool {
        self.has_role(SYSTEM_GUEST_ROLE)
    }
    /// Whether the user is a system administrator (Go's `IsSystemAdmin`).
    fn is_system_admin(&self) -> bool {
        self.has_role(SYSTEM_ADMIN_ROLE)
    }
}

impl UserExt for proto::User {
    fn full_name(&self) -> String {
        match (self.first_name.as_str(), self.last_name.as_str()) {
            ("", last) => last.to_owned(),
            (first, "") => first.to_owned(),
            (first, last) => format!("{first} {last}"),
        }
    }

    fn display_name(&self, format: NameFormat) -> String {
        let full = self.full_name();
        let shown = match format {
            NameFormat::Username => "",
            NameFormat::NicknameFullName if !self.nickname.is_empty() => &self.nickname,
            NameFormat::NicknameFullName | NameFormat::FullName => &full,
        };
        if shown.is_empty() { self.username.clone() } else { shown.to_owned() }
    }

    fn has_role(&self, role: &str) -> bool {
        self.roles.split(' ').any(|r| r == role)
    }
}

/// Go's channel type checks. Implemented for [`proto::Channel`]; its
/// `r#type()` gives the type as the [`proto::ChannelType`] enum.
pub trait ChannelExt {
    /// Whether anyone on the team may find and join the channel.
    fn is_open(&self) -> bool;
    /// Whether the channel is private to its members.
    fn is_private(&self) -> bool;
    /// Whether the channel is a direct message between two users.
    fn is_direct(&self) -> bool;
    /// Whether the channel is a group message.
    fn is_group(&self) -> bool;
}

impl ChannelExt for proto::Channel {
    fn is_open(&self) -> bool {
        self.r#type() == proto::ChannelType::Open
    }

    fn is_private(&self) -> bool {
        self.r#type() == proto::ChannelType::Private
    }

    fn is_direct(&self) -> bool {
        self.r#type() == proto::ChannelType::Direct
    }

    fn is_group(&self) -> bool {
        self.r#type() == proto::ChannelType::Group
    }
}

impl PluginApiClient {
    /// Whether `user_id` is a member of the channel `channel_id`: the
    /// channel member lookup, with "not found" as `false`. Any other
    /// failure is the error.
    pub async fn is_channel_member(&self, channel_id: &str, user_id: &str) -> Result<bool, Error> {
        found(self.get_channel_member(channel_id, user_id).await)
    }

    /// Whether `user_id` is a member of the team `team_id` (and has not
    /// left it): the team member lookup, with "not found" as `false`.
    pub async fn is_team_member(&self, team_id: &str, user_id: &str) -> Result<bool, Error> {
        match self.get_team_member(team_id, user_id).await {
            Ok(member) => Ok(member.delete_at == 0),
            Err(e) => found::<()>(Err(e)),
        }
    }
}

/// A lookup's answer as "is there one": not found is `false`.
fn found<T>(lookup: Result<T, Error>) -> Result<bool, Error> {
    match lookup {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// A message attachment, in the JSON shape the server stores in a post's
/// `attachments` prop (Go's `model.SlackAttachment`). Build one with
/// struct update syntax: `Attachment { text: "…".into(), ..Default::default() }`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Attachment {
    /// An id the server numbers attachments with.
    #[serde(skip_serializing_if = "is_zero")]
    pub id: i64,
    /// Plain text shown where the attachment cannot be.
    pub fallback: String,
    /// The colour of the left border: a hex colour or `good`, `warning`, `danger`.
    pub color: String,
    /// Text above the attachment.
    pub pretext: String,
    /// The author's name.
    pub author_name: String,
    /// A link on the author's name.
    pub author_link: String,
    /// The author's icon URL.
    pub author_icon: String,
    /// The title.
    pub title: String,
    /// A link on the title.
    pub title_link: String,
    /// The body (Markdown).
    pub text: String,
    /// A table of fields.
    pub fields: Vec<AttachmentField>,
    /// An image shown in the attachment.
    pub image_url: String,
    /// A thumbnail shown beside the text.
    pub thumb_url: String,
    /// The footer.
    pub footer: String,
    /// The footer's icon URL.
    pub footer_icon: String,
    /// A time shown in the footer: seconds as a number or a string.
    #[serde(rename = "ts", skip_serializing_if = "Value::is_null")]
    pub timestamp: Value,
    /// Buttons and menus.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<Action>,
}

/// One field of an attachment's table (Go's `model.SlackAttachmentField`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AttachmentField {
    /// The field's title.
    pub title: String,
    /// Its value: text, or any JSON.
    pub value: Value,
    /// Whether it fits beside another field.
    pub short: bool,
}

/// A button or menu on an attachment (Go's `model.PostAction`). Clicking
/// it makes the server send an [`ActionRequest`] to `integration.url`,
/// such as the plugin's own `/plugins/{id}/…` route.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Action {
    /// The action's id; the server makes one when empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// `button` or `select` ([`Action::button`], [`Action::select`]).
    #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// The button's text or the menu's placeholder.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Whether it is shown greyed out.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
    /// `default`, `primary`, `success`, `good`, `warning`, `danger` or a hex colour.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub style: String,
    /// A menu filled by the server: `users` or `channels`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub data_source: String,
    /// A menu's options.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<ActionOption>,
    /// The option a menu shows first.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub default_option: String,
    /// Where a click goes and what travels with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integration: Option<ActionIntegration>,
    /// Set by the server.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cookie: String,
}

impl Action {
    /// A button named `name` whose click is sent to `url` with `context`.
    pub fn button(name: impl Into<String>, url: impl Into<String>, context: Map<String, Value>) -> Self {
        Self {
            kind: "button".into(),
            name: name.into(),
            integration: Some(ActionIntegration { url: url.into(), context }),
            ..Self::default()
        }
    }

    /// A menu of `options` whose choice is sent to `url` with `context`.
    pub fn select(
        name: impl Into<String>,
        options: Vec<ActionOption>,
        url: impl Into<String>,
        context: Map<String, Value>,
    ) -> Self {
        Self { kind: "select".into(), options, ..Self::button(name, url, context) }
    }
}

/// One option of a menu (Go's `model.PostActionOptions`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ActionOption {
    /// What the menu shows.
    pub text: String,
    /// What the request carries.
    pub value: String,
}

/// Where an action's click is sent (Go's `model.PostActionIntegration`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ActionIntegration {
    /// The URL: absolute, or `/plugins/{id}/…` for a plugin's own route.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub url: String,
    /// Data sent back with the click; never shown to users.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub context: Map<String, Value>,
}

/// What the server sends to an action's URL when a user clicks it (Go's
/// `model.PostActionIntegrationRequest`): read it from the request body
/// (`Json<ActionRequest>` in axum).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ActionRequest {
    /// Who clicked.
    pub user_id: String,
    /// Their username.
    pub user_name: String,
    /// The channel of the post.
    pub channel_id: String,
    /// The channel's name.
    pub channel_name: String,
    /// The team of the channel.
    pub team_id: String,
    /// The team's name.
    #[serde(rename = "team_domain")]
    pub team_name: String,
    /// The post clicked on.
    pub post_id: String,
    /// A trigger id to open a dialog with.
    pub trigger_id: String,
    /// `button` or `select`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A menu's data source.
    pub data_source: String,
    /// The action's `integration.context`, and for a menu the choice
    /// (`selected_option`).
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub context: Map<String, Value>,
}

/// What a plugin answers an [`ActionRequest`] with (Go's
/// `model.PostActionIntegrationResponse`), as JSON.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ActionResponse {
    /// A new version of the post clicked on, in the REST API's JSON shape
    /// (`message`, `props`, …); `None` leaves the post as it is.
    pub update: Option<Value>,
    /// A message only the user who clicked sees.
    pub ephemeral_text: String,
    /// Skip the Slack-compatible handling of the text.
    pub skip_slack_parsing: bool,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachments_round_trip_through_a_posts_props_in_the_servers_shape() {
        let mut context = Map::new();
        context.insert("id".into(), Value::from("42"));
        let attachment = Attachment {
            text: "Deploy?".into(),
            actions: vec![Action::button("Yes", "/plugins/x/deploy", context)],
            ..Attachment::default()
        };
        let post = proto::Post::new("c1", "hi").by("u1").with_attachments(vec![attachment.clone()]);
        assert_eq!(post.attachments(), vec![attachment]);
        let props = serde_json::Value::Object(post.props_json());
        assert_eq!(props["attachments"][0]["actions"][0]["type"], "button");
        assert_eq!(props["attachments"][0]["actions"][0]["integration"]["context"]["id"], "42");
        assert!(props["attachments"][0]["actions"][0].get("options").is_none(), "empty parts are left out as Go does");
    }

    #[test]
    fn a_commands_attachments_travel_in_its_props() {
        let answer = proto::CommandResponse::in_channel("done")
            .with_attachments(vec![Attachment { text: "details".into(), ..Attachment::default() }]);
        assert_eq!(answer.response_type, "in_channel");
        assert!(answer.attachments.is_empty(), "the field the host drops stays empty");
        let props = answer.props.map(mmplugin_runtime::json::struct_to_object).unwrap_or_default();
        assert_eq!(props["attachments"][0]["text"], "details");
    }

    #[test]
    fn display_names_follow_gos_rules() {
        let user = proto::User { username: "jo".into(), first_name: "Jo".into(), last_name: "Ng".into(), ..Default::default() };
        assert_eq!(user.display_name(NameFormat::Username), "jo");
        assert_eq!(user.display_name(NameFormat::FullName), "Jo Ng");
        assert_eq!(user.display_name(NameFormat::NicknameFullName), "Jo Ng");
        let nick = proto::User { nickname: "J".into(), ..user.clone() };
        assert_eq!(nick.display_name(NameFormat::NicknameFullName), "J");
        let bare = proto::User { username: "jo".into(), ..Default::default() };
        assert_eq!(bare.display_name(NameFormat::FullName), "jo");
        assert_eq!(NameFormat::from_setting("full_name"), NameFormat::FullName);
        let guest = proto::User { roles: "system_guest".into(), ..Default::default() };
        assert!(guest.is_guest() && !guest.is_system_admin());
        let admin = proto::User { roles: "system_user system_admin".into(), ..Default::default() };
        assert!(admin.is_system_admin() && !admin.has_role("system"));
    }

    #[test]
    fn millisecond_time_round_trips() {
        let at = from_millis(1_700_000_000_123);
        assert_eq!(millis(at), 1_700_000_000_123);
        assert_eq!(millis(from_millis(-5)), -5);
        assert!(now_millis() > 1_700_000_000_000);
    }
}
