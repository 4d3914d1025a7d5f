//! The plugin: rewrites posts as they are made (and edited, if the admin
//! says so), answers `/autolink`, and takes new links from other plugins
//! over HTTP.

use std::sync::Arc;

use mattermost_plugin::http::HttpRequest;
use mattermost_plugin::prelude::*;
use mattermost_plugin::{HttpResponse, MessageWillBePostedDecision, MessageWillBeUpdatedDecision, proto};

use crate::config::Config;
use crate::link::Autolink as Link;
use crate::{command, web};

/// The Autolink plugin. `main` serves it; tests drive it with the SDK's
/// test kit.
pub struct Autolink {
    /// The configuration of the moment, links compiled; shared with the
    /// HTTP routes.
    pub(crate) conf: Arc<Current<Config>>,
    web: axum::Router,
}

impl Autolink {
    /// The plugin, unconfigured until the SDK runs `on_configuration_change`.
    pub fn new() -> Self {
        let conf = Arc::new(Current::default());
        Self { web: web::router(Arc::clone(&conf)), conf }
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        self.conf.get()
    }

    /// The post's message rewritten by the links that apply to it, or
    /// `None` when none changes it.
    pub async fn process(&self, cx: &Context, post: &proto::Post) -> Option<String> {
        let conf = self.conf.get();
        let place = if conf.links.iter().any(|l| !l.scope.is_empty()) {
            resolve_scope(cx, &post.channel_id).await.unwrap_or_else(|e| {
                cx.log.error(format!("Failed to resolve scope: {e}"));
                Place::default()
            })
        } else {
            Place::default()
        };
        let links: Vec<&Link> = conf.links.iter().filter(|l| in_scope(&l.scope, &place)).collect();
        // The author is looked up only when a link that skips bots' posts
        // would change the message.
        let mut ask_author = false;
        let rewritten = rewrite(&post.message, &links, |l| {
            ask_author |= !l.process_bot_posts;
            true
        })?;
        if !ask_author {
            return Some(rewritten);
        }
        match cx.api.get_user(post.user_id.as_str()).await {
            Ok(author) if author.is_bot => rewrite(&post.message, &links, |l| l.process_bot_posts),
            Ok(_) => Some(rewritten),
            Err(e) => {
                // Rewriting a bot's post now and then beats never rewriting.
                cx.log.error(format!("failed to check if message for rewriting was send by a bot: {e}"));
                Some(rewritten)
            }
        }
    }

    /// The post with its message rewritten, if a link changed it.
    async fn rewritten(&self, cx: &Context, mut post: proto::Post) -> Option<proto::Post> {
        let message = self.process(cx, &post).await?;
        post.set_message(message);
        Some(post)
    }
}

impl Default for Autolink {
    fn default() -> Self {
        Self::new()
    }
}

#[mattermost_plugin::plugin]
impl Plugin for Autolink {
    async fn on_configuration_change(&self, cx: &Context) -> HookResult {
        let mut conf: Config = cx.api.settings().await?;
        conf.compile(cx);
        conf.resolve_admins(cx).await;
        let register = conf.enable_admin_command;
        self.conf.set(conf);
        // The command is (un)registered after the hook answers, as the Go
        // plugin does in a goroutine.
        let api = cx.api.clone();
        cx.spawn(async move {
            let _ = if register {
                api.register_command(command::definition()).await
            } else {
                api.unregister_command("", "autolink").await
            };
        });
        Ok(())
    }

    async fn message_will_be_posted(
        &self,
        cx: &Context,
        _pc: &proto::PluginContext,
        post: proto::Post,
    ) -> MessageWillBePostedDecision {
        match self.rewritten(cx, post).await {
            Some(post) => MessageWillBePostedDecision::Replace(Box::new(post)),
            None => MessageWillBePostedDecision::Allow,
        }
    }

    async fn message_will_be_updated(
        &self,
        cx: &Context,
        _pc: &proto::PluginContext,
        new_post: proto::Post,
        _old_post: proto::Post,
    ) -> MessageWillBeUpdatedDecision {
        if !self.conf.get().enable_on_update {
            return MessageWillBeUpdatedDecision::Allow;
        }
        match self.rewritten(cx, new_post).await {
            Some(post) => MessageWillBeUpdatedDecision::Replace(Box::new(post)),
            None => MessageWillBeUpdatedDecision::Allow,
        }
    }

    async fn execute_command(
        &self,
        cx: &Context,
        _pc: &proto::PluginContext,
        args: proto::CommandArgs,
    ) -> HookResult<proto::CommandResponse> {
        Ok(proto::CommandResponse::ephemeral(command::execute(cx, &self.conf, &args).await))
    }

    async fn serve_http(&self, _cx: &Context, request: HttpRequest) -> HttpResponse {
        mattermost_plugin::http::call(self.web.clone(), request).await
    }
}

/// Applies `links`, in order, to each run of the message's text (never
/// code or links); `Some` with the new message when one changed it. When
/// a link changes a run, `keep` decides whether its change stays.
pub fn rewrite(message: &str, links: &[&Link], mut keep: impl FnMut(&Link) -> bool) -> Option<String> {
    mattermost_plugin::markdown::rewrite_runs(message, |run| {
        let mut text = run.to_owned();
        for link in links {
            let replaced = link.replace(&text);
            if replaced != text && keep(link) {
                text = replaced;
            }
        }
        Some(text)
    })
}

/// Whether `user_id` may change the links: a system admin (a role named
/// `system_admin` anywhere in the roles, as the Go plugin checks), or one
/// of the plugin's admins.
pub async fn is_authorized_admin(cx: &Context, conf: &Config, user_id: &str) -> Result<bool, String> {
    let user = cx
        .api
        .get_user(user_id)
        .await
        .map_err(|e| format!("failed to obtain information about user `{user_id}`: {e}"))?;
    let authorized = user.roles.contains("system_admin") || conf.admin_user_ids.contains(user_id);
    if authorized {
        cx.log.info(format!("UserID `{user_id}` is authorized"));
    }
    Ok(authorized)
}

/// The channel and team names a post's channel has, for links with a scope.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Place {
    /// The channel's name.
    pub channel: String,
    /// Its team's name; empty for a direct or group channel.
    pub team: String,
}

/// The names of `channel_id` and its team.
pub async fn resolve_scope(cx: &Context, channel_id: &str) -> Result<Place, Error> {
    let channel = cx.api.get_channel(channel_id).await?;
    if channel.team_id.is_empty() {
        return Ok(Place { channel: channel.name, team: String::new() });
    }
    let team = cx.api.get_team(channel.team_id.as_str()).await?;
    Ok(Place { channel: channel.name, team: team.name })
}

/// Whether a link with `scope` (`team` or `team/channel` entries, any case)
/// applies in `place`. No scope applies everywhere; a scope never applies
/// outside a team.
pub fn in_scope(scope: &[String], place: &Place) -> bool {
    if scope.is_empty() {
        return true;
    }
    if place.team.is_empty() {
        return false;
    }
    let same = |a: &str, b: &str| a.to_lowercase() == b.to_lowercase();
    for entry in scope {
        if entry.is_empty() {
            return false;
        }
        let parts: Vec<&str> = entry.split('/').collect();
        match parts[..] {
            [team] if same(team, &place.team) => return true,
            [team, channel] if same(team, &place.team) && same(channel, &place.channel) => {
                return true;
            }
            _ => {}
        }
    }
    false
}
