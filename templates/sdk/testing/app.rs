//! The server's app layer, as the fake plays it: the API methods whose
//! answer on the server runs plugin hooks, and the hooks they run.
//!
//! This file is plain Rust, written by hand against Mattermost's plugin
//! contract and copied as it is into each SDK whose contract has what the
//! kit's state answers (`state.rs`, beside it). `impl App` answers a method
//! by its Rust name: `async fn create_post(&self, request:
//! proto::CreatePostRequest) -> Result<proto::CreatePostResponse,
//! AppError>`; the generated fake server calls it, instead of the state,
//! when a test has not answered that method itself.
//!
//! What each method runs comes from mattermost/mattermost's app layer, where
//! the plugin API's calls land (server/channels/app/plugin_api.go, then
//! post.go, channel.go, team.go, reaction.go, user.go, plugin_requests.go):
//!
//! - Hooks run for every active plugin that implements them, the plugin that
//!   made the call included (`Environment.RunMultiPluginHook` skips no
//!   caller): a plugin's own post runs its own `MessageWillBePosted`.
//! - The veto hooks (`MessageWillBePosted`, `MessageWillBeUpdated`) run
//!   inline, before the store write; the "has been" hooks after it, in the
//!   background (`a.Srv().Go`): the call answers without waiting for them.
//!   [`FakeServer::settle`](super::FakeServer::settle) waits for them.
//! - A plugin is active once `OnActivate` has answered, and no longer once
//!   its host stops it: calls made during `OnActivate` run none of its hooks.
//! - Which plugin: a call made by a [`TestHost`](super::TestHost)'s plugin
//!   (or through [`TestHost::api`](super::TestHost::api)) runs that host's
//!   hooks, the hooks of the node it runs on; a call through
//!   [`FakeServer::client`](super::FakeServer::client) runs the first
//!   started host's. Seeding (`add_user`, `add_to_channel`, …) writes the
//!   store directly and runs no hook.
//!
//! The rules, method by method with their server functions, are the
//! table of the kit's `server_rules` docs (`RULES.md` beside this crate's
//! `src/`).
//!
//! A chain that never ends (a hook whose API call runs the same hook
//! again, such as a post created in `MessageHasBeenPosted` for every post,
//! the plugin's own included) is cut [`MAX_HOOK_DEPTH`](super::MAX_HOOK_DEPTH)
//! hooks deep: the call that would go deeper fails (a veto hook's) or runs
//! no hook (a background one's), and the test fails with the reason
//! ([`FakeServer::runaway`](super::FakeServer::runaway)).

// An `AppError` by value is the server's answer, once per failed call.
#![allow(clippy::result_large_err)]

use std::future::Future;

use mmplugin_runtime::transport;
use tonic::{Response, Status};
use tracing::instrument::WithSubscriber as _;

use super::state::{app_error, required};
use super::{Attached, FakeServer, MAX_HOOK_DEPTH, PluginHooksClient, Transport};
use crate::{AppError, HookName, proto};

/// The reason that dismisses a post silently (`plugin.DismissPostError`).
pub const DISMISS_POST: &str = "plugin.message_will_be_posted.dismiss_post";

/// The fake server's app layer, answering one call.
pub(super) struct App<'a>(pub(super) &'a FakeServer);

impl App<'_> {
    // ---- Hooks ------------------------------------------------------------

    /// The plugin whose `hook` this call runs, if one is active and
    /// implements it. A chain deeper than [`MAX_HOOK_DEPTH`] hooks is cut
    /// here: `Err` with the reason, also kept for the test.
    fn host_for(&self, hook: HookName, method: &str) -> Result<Option<Attached>, AppError> {
        let Some(host) = self.0.hooks_host().filter(|host| host.implements(hook)) else {
            return Ok(None);
        };
        self.not_too_deep(hook, method)?;
        Ok(Some(host))
    }

    /// `Ok` unless running `hook` for `method` would take a chain of hooks
    /// deeper than [`MAX_HOOK_DEPTH`]: then `Err` with the reason, also kept
    /// for the test.
    fn not_too_deep(&self, hook: HookName, method: &str) -> Result<(), AppError> {
        // A hook the fake runs is one in-process call deeper than the API
        // call that runs it, and an API call made in that hook one more.
        let depth = transport::hop().saturating_sub(1) / 2;
        if depth < MAX_HOOK_DEPTH {
            return Ok(());
        }
        let reason = format!(
            "runaway hooks: {method} was called from a hook the server ran for an API call made in a hook, \
             {depth} hooks deep, and would run {hook} once more. On the Mattermost server this chain never \
             ends: a plugin must not answer what its own calls cause (compare the post's user_id with its \
             bot's id, as Go plugins do)",
            hook = hook.as_str(),
        );
        self.0.shared.runaway.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get_or_insert(reason.clone());
        Err(app_error("testing.fake_server.runaway_hooks", reason, 508))
    }

    /// Runs `hook` in the background, as the server does after a store
    /// write (`a.Srv().Go`): the call answers without waiting for it.
    fn fire<F, Fut, R>(&self, hook: HookName, method: &str, call: F)
    where
        F: FnOnce(PluginHooksClient<Transport>, proto::PluginContext) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Response<R>, Status>> + Send + 'static,
    {
        // A cut chain is kept for the test; the call itself went through.
        let Ok(Some(host)) = self.host_for(hook, method) else { return };
        let run = async move {
            let answer = call(host.hooks.clone(), host.plugin_context.clone()).await;
            if let Err(status) = answer {
                tracing::error!(hook = hook.as_str(), "the hook failed: {}", status.message());
            }
        };
        // `Tasks::spawn` keeps the hop count, which the depth check reads.
        self.0.shared.busy.spawn(hook.as_str(), run.with_subscriber(host.dispatch));
    }

    /// `MessageWillBePosted`, inline: the post to store, or the call's error.
    async fn message_will_be_posted(&self, post: proto::Post) -> Result<proto::Post, AppError> {
        let Some(host) = self.host_for(HookName::MessageWillBePosted, "CreatePost")? else {
            return Ok(post);
        };
        let mut request = proto::MessageWillBePostedRequest {
            plugin_context: Some(host.plugin_context.clone()),
            post: Some(post.clone()),
            ..Default::default()
        };
        super::host::message_will_be_posted(&mut request);
        let mut hooks = host.hooks.clone();
        let answer = hooks.message_will_be_posted(request).with_subscriber(host.dispatch.clone()).await;
        // A failed call lets the post through (the host's hooks client).
        let Ok(answer) = answer.map(Response::into_inner) else { return Ok(post) };
        decide(answer.rejection_reason, answer.modified_post, post, "createPost")
    }

    /// `MessageWillBeUpdated`, inline: the post to store, or the call's error.
    async fn message_will_be_updated(&self, new: proto::Post, old: &proto::Post) -> Result<proto::Post, AppError> {
        let Some(host) = self.host_for(HookName::MessageWillBeUpdated, "UpdatePost")? else {
            return Ok(new);
        };
        let mut request = proto::MessageWillBeUpdatedRequest {
            plugin_context: Some(host.plugin_context.clone()),
            new_post: Some(new.clone()),
            old_post: Some(old.clone()),
            ..Default::default()
        };
        super::host::message_will_be_updated(&mut request);
        let mut hooks = host.hooks.clone();
        let answer = hooks.message_will_be_updated(request).with_subscriber(host.dispatch.clone()).await;
        let Ok(answer) = answer.map(Response::into_inner) else { return Ok(new) };
        decide(answer.rejection_reason, answer.modified_post, new, "UpdatePost")
    }

    // ---- Configuration ----------------------------------------------------

    /// `SavePluginConfig` (`PluginAPI.SavePluginConfig`, then
    /// `App.UpdateConfig`): stored, then the server's config listener
    /// (installed by `initPlugins` in server/channels/app/plugin.go) runs
    /// `OnConfigurationChange` on the active plugins, the caller's included,
    /// before the call answers. The hook's failure is logged, not returned.
    pub(super) async fn save_plugin_config(
        &self,
        request: proto::SavePluginConfigRequest,
    ) -> Result<proto::SavePluginConfigResponse, AppError> {
        let config = crate::json::struct_to_object(required(request.config, "config")?);
        self.0.state().store_plugin_config(config);
        if let Some(host) = self.host_for(HookName::OnConfigurationChange, "SavePluginConfig")? {
            let mut hooks = host.hooks.clone();
            let request = proto::OnConfigurationChangeRequest::default();
            let answer = hooks.on_configuration_change(request).with_subscriber(host.dispatch.clone()).await;
            let failure = match answer.map(Response::into_inner) {
                Err(status) => Some(status.message().to_owned()),
                Ok(answer) => answer.error.map(|e| e.message),
            };
            if let Some(failure) = failure {
                tracing::error!(hook = "OnConfigurationChange", "Plugin OnConfigurationChange hook failed: {failure}");
            }
        }
        Ok(proto::SavePluginConfigResponse::default())
    }

    // ---- Plugin to plugin HTTP ---------------------------------------------

    /// `PluginAPI.PluginHTTP` through `App.ServeInternalPluginRequest`: the
    /// request goes to the `ServeHTTP` of the active plugin on this server
    /// that the URL's first segment names (the caller's own copy first),
    /// with the path after it, one value per header, the caller's id in
    /// `Mattermost-Plugin-ID` and no user; the answer comes back whole, a
    /// repeated header's values joined with `, ` (`APIServer.PluginHTTP`).
    /// A URL that names no plugin is a 400, a plugin not on this server (or
    /// without `ServeHTTP`) a 404, as Go's `http.NotFound` writes it. The
    /// rules: `runtime/src/host_rules.md`, "The plugin API's answers".
    pub(super) async fn plugin_http(
        &self,
        request: proto::PluginHttpRequest,
    ) -> Result<proto::PluginHttpResponse, AppError> {
        use mmplugin_runtime::testing::http as server;
        let answer = |status_code: i32, body: &str| proto::PluginHttpResponse {
            status_code,
            body: body.as_bytes().to_vec(),
            ..Default::default()
        };
        let user_agent = request.headers.iter().find(|(name, _)| name.eq_ignore_ascii_case("User-Agent"));
        let context = proto::PluginContext {
            request_id: self.0.new_id(),
            user_agent: user_agent.map(|(_, agent)| agent.clone()).unwrap_or_default(),
            ..Default::default()
        };
        let body = bytes::Bytes::from(request.body);
        let sent = server::inter_plugin_messages::<sdk::http::Wire>(
            &self.caller_id(),
            context,
            &request.method,
            &request.url,
            &request.headers,
            body,
        );
        let (plugin_id, messages) = match sent {
            Ok(sent) => sent,
            Err(why) => return Ok(answer(400, &why)),
        };
        let Some(host) = self.plugin_for(&plugin_id, HookName::ServeHttp, "PluginHTTP")? else {
            return Ok(answer(404, "404 page not found\n"));
        };
        let mut hooks = host.hooks.clone();
        let response = async move {
            let stream = hooks.serve_http(server::request_stream(messages)).await.map(Response::into_inner);
            server::response::<sdk::http::Wire, _>(stream).await
        }
        .with_subscriber(host.dispatch.clone())
        .await;
        Ok(proto::PluginHttpResponse {
            status_code: i32::from(response.status().as_u16()),
            headers: server::joined_headers(response.headers()),
            body: response.body().to_vec(),
            ..Default::default()
        })
    }

    /// The id of the plugin making this call: the one on the caller's node,
    /// else (a test's own call) the first started.
    fn caller_id(&self) -> String {
        let hosts = self.0.shared.hosts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let caller = match self.0.node {
            Some(node) => hosts.iter().find(|host| host.node == node),
            None => hosts.first(),
        };
        caller.map_or_else(|| super::DEFAULT_PLUGIN_ID.to_owned(), |host| host.plugin_id.clone())
    }

    /// The active plugin `plugin_id` whose `hook` this call runs, if one
    /// implements it: the copy on the caller's node, else the first started.
    fn plugin_for(&self, plugin_id: &str, hook: HookName, method: &str) -> Result<Option<Attached>, AppError> {
        let host = {
            let hosts = self.0.shared.hosts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let named: Vec<&Attached> =
                hosts.iter().filter(|host| host.active && host.plugin_id == plugin_id && host.implements(hook)).collect();
            let own = named.iter().find(|host| Some(host.node) == self.0.node);
            own.or(named.first()).map(|host| (*host).clone())
        };
        let Some(host) = host else { return Ok(None) };
        self.not_too_deep(hook, method)?;
        Ok(Some(host))
    }

    // ---- Posts ------------------------------------------------------------

    /// `App.CreatePost` through `CreatePostMissingChannel`: checked,
    /// `MessageWillBePosted` (a rejection fails the call and stores
    /// nothing; a replacement is what is stored), saved, then
    /// `MessageHasBeenPosted` in the background.
    pub(super) async fn create_post(
        &self,
        request: proto::CreatePostRequest,
    ) -> Result<proto::CreatePostResponse, AppError> {
        let post = self.0.state().check_new_post(required(request.post, "post")?)?;
        let post = self.message_will_be_posted(post).await?;
        let post = self.0.state().save_post(post)?;
        let sent = post.clone();
        self.fire(HookName::MessageHasBeenPosted, "CreatePost", move |mut hooks, plugin_context| async move {
            let mut request = proto::MessageHasBeenPostedRequest {
                plugin_context: Some(plugin_context),
                post: Some(sent),
                ..Default::default()
            };
            super::host::message_has_been_posted(&mut request);
            hooks.message_has_been_posted(request).await
        });
        Ok(proto::CreatePostResponse { post: Some(post), ..Default::default() })
    }

    /// `App.UpdatePost`: `MessageWillBeUpdated` with the new and the old
    /// post, saved, then `MessageHasBeenUpdated` in the background.
    pub(super) async fn update_post(
        &self,
        request: proto::UpdatePostRequest,
    ) -> Result<proto::UpdatePostResponse, AppError> {
        let (new, old) = self.0.state().check_update(required(request.post, "post")?)?;
        let new = self.message_will_be_updated(new, &old).await?;
        let post = self.0.state().save_update(new)?;
        let sent = post.clone();
        self.fire(HookName::MessageHasBeenUpdated, "UpdatePost", move |mut hooks, plugin_context| async move {
            let mut request = proto::MessageHasBeenUpdatedRequest {
                plugin_context: Some(plugin_context),
                new_post: Some(sent),
                old_post: Some(old),
                ..Default::default()
            };
            super::host::message_has_been_updated(&mut request);
            hooks.message_has_been_updated(request).await
        });
        Ok(proto::UpdatePostResponse { post: Some(post), ..Default::default() })
    }

    /// `App.DeletePost`: deleted, then `MessageHasBeenDeleted` in the
    /// background with the post as it was.
    pub(super) async fn delete_post(
        &self,
        request: proto::DeletePostRequest,
    ) -> Result<proto::DeletePostResponse, AppError> {
        let post = self.0.state().remove_post(&request.post_id)?;
        self.fire(HookName::MessageHasBeenDeleted, "DeletePost", move |mut hooks, plugin_context| async move {
            let mut request = proto::MessageHasBeenDeletedRequest {
                plugin_context: Some(plugin_context),
                post: Some(post),
                ..Default::default()
            };
            super::host::message_has_been_deleted(&mut request);
            hooks.message_has_been_deleted(request).await
        });
        Ok(proto::DeletePostResponse::default())
    }

    // ---- Reactions --------------------------------------------------------

    /// `App.SaveReactionForPost`: saved, then `ReactionHasBeenAdded` in the background.
    pub(super) async fn add_reaction(
        &self,
        request: proto::AddReactionRequest,
    ) -> Result<proto::AddReactionResponse, AppError> {
        let reaction = self.0.state().save_reaction(required(request.reaction, "reaction")?)?;
        let sent = reaction.clone();
        self.fire(HookName::ReactionHasBeenAdded, "AddReaction", move |mut hooks, plugin_context| async move {
            let request = proto::ReactionHasBeenAddedRequest {
                plugin_context: Some(plugin_context),
                reaction: Some(sent),
                ..Default::default()
            };
            hooks.reaction_has_been_added(request).await
        });
        Ok(proto::AddReactionResponse { reaction: Some(reaction), ..Default::default() })
    }

    /// `App.DeleteReactionForPost`: removed, then `ReactionHasBeenRemoved`
    /// in the background with the reaction as given.
    pub(super) async fn remove_reaction(
        &self,
        request: proto::RemoveReactionRequest,
    ) -> Result<proto::RemoveReactionResponse, AppError> {
        let reaction = required(request.reaction, "reaction")?;
        self.0.state().delete_reaction(&reaction)?;
        self.fire(HookName::ReactionHasBeenRemoved, "RemoveReaction", move |mut hooks, plugin_context| async move {
            let request = proto::ReactionHasBeenRemovedRequest {
                plugin_context: Some(plugin_context),
                reaction: Some(reaction),
                ..Default::default()
            };
            hooks.reaction_has_been_removed(request).await
        });
        Ok(proto::RemoveReactionResponse::default())
    }

    // ---- Users and channels -----------------------------------------------

    /// `App.CreateUser`: saved, then `UserHasBeenCreated` in the background.
    pub(super) async fn create_user(
        &self,
        request: proto::CreateUserRequest,
    ) -> Result<proto::CreateUserResponse, AppError> {
        let user = self.0.state().create_new_user(required(request.user, "user")?)?;
        self.user_has_been_created(&user, "CreateUser");
        Ok(proto::CreateUserResponse { user: Some(user), ..Default::default() })
    }

    fn user_has_been_created(&self, user: &proto::User, method: &str) {
        let sent = user.clone();
        self.fire(HookName::UserHasBeenCreated, method, move |mut hooks, plugin_context| async move {
            let request = proto::UserHasBeenCreatedRequest {
                plugin_context: Some(plugin_context),
                user: Some(sent),
                ..Default::default()
            };
            hooks.user_has_been_created(request).await
        });
    }

    /// `App.UpdateActive(false)`: deactivated, then `UserHasBeenDeactivated`
    /// in the background.
    pub(super) async fn delete_user(
        &self,
        request: proto::DeleteUserRequest,
    ) -> Result<proto::DeleteUserResponse, AppError> {
        let user = self.0.state().deactivate_user(&request.user_id)?;
        self.user_has_been_deactivated(user, "DeleteUser");
        Ok(proto::DeleteUserResponse::default())
    }

    fn user_has_been_deactivated(&self, user: proto::User, method: &str) {
        self.fire(HookName::UserHasBeenDeactivated, method, move |mut hooks, plugin_context| async move {
            let request = proto::UserHasBeenDeactivatedRequest {
                plugin_context: Some(plugin_context),
                user: Some(user),
                ..Default::default()
            };
            hooks.user_has_been_deactivated(request).await
        });
    }

    /// `App.CreateChannel` (no member added): saved, then
    /// `ChannelHasBeenCreated` in the background.
    pub(super) async fn create_channel(
        &self,
        request: proto::CreateChannelRequest,
    ) -> Result<proto::CreateChannelResponse, AppError> {
        let channel = self.0.state().insert_channel(required(request.channel, "channel")?)?;
        self.channel_has_been_created(&channel, "CreateChannel");
        Ok(proto::CreateChannelResponse { channel: Some(channel), ..Default::default() })
    }

    fn channel_has_been_created(&self, channel: &proto::Channel, method: &str) {
        let sent = channel.clone();
        self.fire(HookName::ChannelHasBeenCreated, method, move |mut hooks, plugin_context| async move {
            let mut request = proto::ChannelHasBeenCreatedRequest {
                plugin_context: Some(plugin_context),
                channel: Some(sent),
                ..Default::default()
            };
            super::host::channel_has_been_created(&mut request);
            hooks.channel_has_been_created(request).await
        });
    }

    /// `App.GetOrCreateDirectChannel`: a new direct channel runs
    /// `ChannelHasBeenCreated` (its members join without
    /// `UserHasJoinedChannel`); an existing one runs nothing.
    pub(super) async fn get_direct_channel(
        &self,
        request: proto::GetDirectChannelRequest,
    ) -> Result<proto::GetDirectChannelResponse, AppError> {
        let (channel, created) = self.0.state().direct_channel(&request.user_id_1, &request.user_id_2)?;
        if created {
            self.channel_has_been_created(&channel, "GetDirectChannel");
        }
        Ok(proto::GetDirectChannelResponse { channel: Some(channel), ..Default::default() })
    }

    /// `App.AddChannelMember` with no requestor: `UserHasJoinedChannel`
    /// with no actor, then the join message, unless the user was a member
    /// already.
    pub(super) async fn add_channel_member(
        &self,
        request: proto::AddChannelMemberRequest,
    ) -> Result<proto::AddChannelMemberResponse, AppError> {
        let (member, joined) = self.0.state().add_member(&request.channel_id, &request.user_id)?;
        if joined {
            self.user_has_joined_channel(&member, None, "AddChannelMember");
            self.joined_message(&member, None, "AddChannelMember").await;
        }
        Ok(proto::AddChannelMemberResponse { channel_member: Some(member), ..Default::default() })
    }

    /// `App.AddChannelMember` as `as_user_id`: `UserHasJoinedChannel` with
    /// that user as the actor (even when it is the user who joins), then the
    /// join message, or the "added by" one in the background when another
    /// user added them.
    pub(super) async fn add_user_to_channel(
        &self,
        request: proto::AddUserToChannelRequest,
    ) -> Result<proto::AddUserToChannelResponse, AppError> {
        let actor = self.0.state().user(&request.as_user_id)?.clone();
        let (member, joined) = self.0.state().add_member(&request.channel_id, &request.user_id)?;
        if joined {
            self.user_has_joined_channel(&member, Some(actor.clone()), "AddUserToChannel");
            self.joined_message(&member, Some(actor), "AddUserToChannel").await;
        }
        Ok(proto::AddUserToChannelResponse { channel_member: Some(member), ..Default::default() })
    }

    /// The system message of a join, as the server posts it through
    /// `App.CreatePost` (so `MessageWillBePosted` and `MessageHasBeenPosted`
    /// run for it): `postJoinChannelMessage` inline for a user who joined
    /// (or was added by themselves), `PostAddToChannelMessage` in the
    /// background for one another user added. Its failure is logged, not
    /// the call's.
    async fn joined_message(&self, member: &proto::ChannelMember, actor: Option<proto::User>, method: &'static str) {
        let Ok(user) = self.0.state().user(&member.user_id).cloned() else { return };
        match actor.filter(|actor| actor.id != user.id) {
            None => {
                let post = system_post(
                    &member.channel_id,
                    &user.id,
                    SYSTEM_JOIN_CHANNEL,
                    format!("{} joined the channel.", user.username),
                    [("username", user.username.clone())],
                );
                self.system_message(post, method).await;
            }
            Some(actor) => {
                let post = system_post(
                    &member.channel_id,
                    &actor.id,
                    SYSTEM_ADD_TO_CHANNEL,
                    format!("{} added to the channel by {}.", user.username, actor.username),
                    [
                        ("userId", actor.id.clone()),
                        ("username", actor.username.clone()),
                        ("addedUserId", user.id.clone()),
                        ("addedUsername", user.username.clone()),
                    ],
                );
                self.system_message_later(post, method);
            }
        }
    }

    /// A system message stored as `App.CreatePost` stores any post:
    /// `MessageWillBePosted` inline (a rejection is logged), saved,
    /// `MessageHasBeenPosted` in the background.
    async fn system_message(&self, post: proto::Post, method: &str) {
        let post = match self.message_will_be_posted(post).await {
            Ok(post) => post,
            Err(refused) => {
                tracing::warn!(method, "the server's system message was refused: {refused}");
                return;
            }
        };
        let Ok(post) = self.0.state().save_post(post) else { return };
        self.fire(HookName::MessageHasBeenPosted, method, move |mut hooks, plugin_context| async move {
            let mut request = proto::MessageHasBeenPostedRequest {
                plugin_context: Some(plugin_context),
                post: Some(post),
                ..Default::default()
            };
            super::host::message_has_been_posted(&mut request);
            hooks.message_has_been_posted(request).await
        });
    }

    /// [`Self::system_message`], in the background (`a.Srv().Go`).
    fn system_message_later(&self, post: proto::Post, method: &'static str) {
        let fake = self.0.clone();
        self.0.shared.busy.spawn(method, async move { App(&fake).system_message(post, method).await });
    }

    fn user_has_joined_channel(&self, member: &proto::ChannelMember, actor: Option<proto::User>, method: &str) {
        let sent = member.clone();
        self.fire(HookName::UserHasJoinedChannel, method, move |mut hooks, plugin_context| async move {
            let request = proto::UserHasJoinedChannelRequest {
                plugin_context: Some(plugin_context),
                channel_member: Some(sent),
                actor,
                ..Default::default()
            };
            hooks.user_has_joined_channel(request).await
        });
    }

    /// `App.LeaveChannel`: removed, then `UserHasLeftChannel` with the
    /// leaving user as the actor.
    pub(super) async fn delete_channel_member(
        &self,
        request: proto::DeleteChannelMemberRequest,
    ) -> Result<proto::DeleteChannelMemberResponse, AppError> {
        let (member, actor) = {
            let mut state = self.0.state();
            let member = state.leave_channel(&request.channel_id, &request.user_id)?;
            (member, state.user(&request.user_id).ok().cloned())
        };
        if let Some(user) = &actor {
            // The leave message, in the background (`postLeaveChannelMessage`).
            let post = system_post(
                &member.channel_id,
                &user.id,
                SYSTEM_LEAVE_CHANNEL,
                format!("{} left the channel.", user.username),
                [("username", user.username.clone())],
            );
            self.system_message_later(post, "DeleteChannelMember");
        }
        self.fire(HookName::UserHasLeftChannel, "DeleteChannelMember", move |mut hooks, plugin_context| async move {
            let request = proto::UserHasLeftChannelRequest {
                plugin_context: Some(plugin_context),
                channel_member: Some(member),
                actor,
                ..Default::default()
            };
            hooks.user_has_left_channel(request).await
        });
        Ok(proto::DeleteChannelMemberResponse::default())
    }

    /// `App.UpdateBotActive`: deactivating an active bot runs
    /// `UserHasBeenDeactivated` in the background (through `UpdateActive`).
    pub(super) async fn update_bot_active(
        &self,
        request: proto::UpdateBotActiveRequest,
    ) -> Result<proto::UpdateBotActiveResponse, AppError> {
        let (bot, deactivated) = self.0.state().set_bot_active(&request.bot_user_id, request.active)?;
        if let Some(user) = deactivated {
            self.user_has_been_deactivated(user, "UpdateBotActive");
        }
        Ok(proto::UpdateBotActiveResponse { bot: Some(bot), ..Default::default() })
    }

    // ---- Cluster ----------------------------------------------------------

    /// `PluginAPI.PublishPluginClusterEvent`: kept for the test, and sent to
    /// the plugin's copies on the other nodes (the hosts started on clones
    /// of this server; the one named by `target_id`, if any), whose server
    /// runs `OnPluginClusterEvent` with an empty plugin context
    /// (`Server.clusterPluginEventHandler`). A single node sends nothing.
    pub(super) async fn publish_plugin_cluster_event(
        &self,
        request: proto::PublishPluginClusterEventRequest,
    ) -> Result<proto::PublishPluginClusterEventResponse, AppError> {
        let event = required(request.event, "event")?;
        let target = request.opts.as_ref().map(|o| o.target_id.clone()).unwrap_or_default();
        self.0.state().keep_cluster_event(event.clone(), request.opts);
        let sender = self.0.hooks_host().map(|host| host.node);
        let hosts = self.0.shared.hosts.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let receivers = hosts.into_iter().filter(|host| {
            host.active
                && Some(host.node) != sender
                && host.implements(HookName::OnPluginClusterEvent)
                && (target.is_empty() || target == super::node_id(host.node))
        });
        for host in receivers {
            let event = event.clone();
            let mut hooks = host.hooks.clone();
            let run = async move {
                let request = proto::OnPluginClusterEventRequest { event: Some(event), ..Default::default() };
                if let Err(status) = hooks.on_plugin_cluster_event(request).await {
                    tracing::error!(hook = "OnPluginClusterEvent", "the hook failed: {}", status.message());
                }
            };
            self.0.shared.busy.spawn("OnPluginClusterEvent", run.with_subscriber(host.dispatch));
        }
        Ok(proto::PublishPluginClusterEventResponse::default())
    }

    // ---- Teams ------------------------------------------------------------

    /// `App.AddTeamMember`: `UserHasJoinedTeam` with no actor, unless the
    /// user was a member already (one who left is a member again).
    pub(super) async fn create_team_member(
        &self,
        request: proto::CreateTeamMemberRequest,
    ) -> Result<proto::CreateTeamMemberResponse, AppError> {
        let (member, joined) = self.0.state().join_team(&request.team_id, &request.user_id)?;
        if joined {
            let sent = member.clone();
            self.fire(HookName::UserHasJoinedTeam, "CreateTeamMember", move |mut hooks, plugin_context| async move {
                let request = proto::UserHasJoinedTeamRequest {
                    plugin_context: Some(plugin_context),
                    team_member: Some(sent),
                    ..Default::default()
                };
                hooks.user_has_joined_team(request).await
            });
        }
        Ok(proto::CreateTeamMemberResponse { team_member: Some(member), ..Default::default() })
    }

    /// `App.RemoveUserFromTeam`: the member marked as left (`delete_at`),
    /// then `UserHasLeftTeam` with the requestor, if any, as the actor.
    pub(super) async fn delete_team_member(
        &self,
        request: proto::DeleteTeamMemberRequest,
    ) -> Result<proto::DeleteTeamMemberResponse, AppError> {
        let (member, actor) = {
            let mut state = self.0.state();
            let member = state.leave_team(&request.team_id, &request.user_id)?;
            (member, state.user(&request.requestor_id).ok().cloned())
        };
        self.fire(HookName::UserHasLeftTeam, "DeleteTeamMember", move |mut hooks, plugin_context| async move {
            let request = proto::UserHasLeftTeamRequest {
                plugin_context: Some(plugin_context),
                team_member: Some(member),
                actor,
                ..Default::default()
            };
            hooks.user_has_left_team(request).await
        });
        Ok(proto::DeleteTeamMemberResponse::default())
    }
}

/// The type of the message the server posts when a user joins a channel.
pub const SYSTEM_JOIN_CHANNEL: &str = "system_join_channel";
/// … when a user leaves one.
pub const SYSTEM_LEAVE_CHANNEL: &str = "system_leave_channel";
/// … when another user adds a user to one.
pub const SYSTEM_ADD_TO_CHANNEL: &str = "system_add_to_channel";

/// A system message of `kind` in `channel_id`, by `user_id`, with `props`
/// (the server's English texts of `api.channel.join_channel.post_and_forget`,
/// `api.channel.leave.left` and `api.channel.add_member.added`).
fn system_post<const N: usize>(
    channel_id: &str,
    user_id: &str,
    kind: &str,
    message: String,
    props: [(&str, String); N],
) -> proto::Post {
    let props = props.into_iter().map(|(k, v)| (k.to_owned(), serde_json::Value::String(v))).collect();
    proto::Post {
        channel_id: channel_id.to_owned(),
        user_id: user_id.to_owned(),
        r#type: kind.to_owned(),
        message,
        props: Some(crate::json::object_to_struct(props)),
        ..Default::default()
    }
}

/// What a veto hook's answer makes of `post`: rejected (the server's
/// error: the id is the text "Post rejected by plugin. <reason>", or the
/// dismiss reason itself; status 400), replaced, or kept.
fn decide(
    reason: String,
    replacement: Option<proto::Post>,
    post: proto::Post,
    where_: &str,
) -> Result<proto::Post, AppError> {
    if reason.is_empty() {
        // The host reads a replacement back without props or metadata.
        return Ok(replacement.map_or(post, |mut replacement| {
            super::host::post(&mut replacement);
            replacement
        }));
    }
    let id = if reason == DISMISS_POST { reason } else { format!("Post rejected by plugin. {reason}") };
    let mut error = app_error(&id, id.clone(), 400);
    where_.clone_into(&mut error.where_);
    Err(error)
}
