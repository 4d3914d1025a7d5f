//! The hooks the server runs for API calls, as the test kit plays them: a
//! plugin's tests reach its hooks through API calls (its own, or a test's),
//! not only by calling the hooks directly.
//!
//! Each rule rests on mattermost/mattermost's app layer, where the plugin
//! API's calls land (`server/channels/app/plugin_api.go`, then `post.go`
//! `CreatePost` / `UpdatePost` / `DeletePost`, `channel.go`
//! `AddChannelMember` / `LeaveChannel` / `CreateChannel`, `team.go`
//! `JoinUserToTeam` / `RemoveUserFromTeam`, `reaction.go`, `user.go`
//! `CreateUser`), and on `server/public/plugin/environment.go`
//! `RunMultiPluginHook`, which runs a hook for every active plugin,
//! the caller included. The kit's docs (`testing/app.rs`) keep the table.

use std::sync::{Arc, Mutex};

use mattermost_plugin::prelude::*;
use mattermost_plugin_testing::{DISMISS_POST, FakeServer, MAX_HOOK_DEPTH, TestHost};
use mattermost_plugin::{MessageWillBePostedDecision, MessageWillBeUpdatedDecision, proto};

/// A plugin that answers `echo …` posts with its bot, and writes down
/// every hook the server runs on it.
struct Echo {
    bot_id: String,
    /// Whether it skips its own bot's posts, as a Go plugin does. One that
    /// does not answers itself forever.
    skips_own_posts: bool,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Echo {
    fn note(&self, line: String) {
        self.seen.lock().unwrap().push(line);
    }
}

#[mattermost_plugin::plugin]
impl Plugin for Echo {
    async fn message_will_be_posted(
        &self,
        _cx: &Context,
        _pc: &proto::PluginContext,
        post: proto::Post,
    ) -> MessageWillBePostedDecision {
        self.note(format!("MessageWillBePosted {}", post.message));
        if post.message.contains("forbidden") {
            MessageWillBePostedDecision::Reject("no forbidden words".into())
        } else if post.message.contains("hush") {
            MessageWillBePostedDecision::Dismiss
        } else if post.message.contains("teh") {
            MessageWillBePostedDecision::Replace(Box::new(proto::Post { message: post.message.replace("teh", "the"), ..post }))
        } else {
            MessageWillBePostedDecision::Allow
        }
    }

    async fn message_has_been_posted(&self, cx: &Context, _pc: &proto::PluginContext, post: proto::Post) {
        self.note(format!("MessageHasBeenPosted {}", post.message));
        if self.skips_own_posts && post.user_id == self.bot_id {
            return;
        }
        if let Some(later) = post.message.strip_prefix("later ") {
            // Go's `go p.remind(…)`: the hook answers now, the reply comes
            // a minute later.
            let (api, bot_id, said) = (cx.api.clone(), self.bot_id.clone(), later.to_owned());
            cx.spawn(async move {
                tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                let reply =
                    proto::Post { user_id: bot_id, channel_id: post.channel_id, message: said, ..Default::default() };
                api.create_post(reply).await.expect("the reminder is posted");
            });
            return;
        }
        if let Some(said) = post.message.strip_prefix("echo ") {
            let reply = proto::Post {
                user_id: self.bot_id.clone(),
                channel_id: post.channel_id,
                message: format!("echo {said}"),
                ..Default::default()
            };
            if let Err(e) = cx.api.create_post(reply).await {
                self.note(format!("reply failed: {e}"));
            }
        }
    }

    async fn message_will_be_updated(
        &self,
        _cx: &Context,
        _pc: &proto::PluginContext,
        new_post: proto::Post,
        old_post: proto::Post,
    ) -> MessageWillBeUpdatedDecision {
        self.note(format!("MessageWillBeUpdated {} -> {}", old_post.message, new_post.message));
        if new_post.message.contains("forbidden") {
            MessageWillBeUpdatedDecision::Reject("no forbidden words".into())
        } else {
            MessageWillBeUpdatedDecision::Allow
        }
    }

    async fn message_has_been_updated(
        &self,
        _cx: &Context,
        _pc: &proto::PluginContext,
        new_post: proto::Post,
        old_post: proto::Post,
    ) {
        self.note(format!("MessageHasBeenUpdated {} -> {}", old_post.message, new_post.message));
    }

    async fn message_has_been_deleted(&self, _cx: &Context, _pc: &proto::PluginContext, post: proto::Post) {
        self.note(format!("MessageHasBeenDeleted {}", post.message));
    }

    async fn reaction_has_been_added(&self, _cx: &Context, _pc: &proto::PluginContext, reaction: proto::Reaction) {
        self.note(format!("ReactionHasBeenAdded {}", reaction.emoji_name));
    }

    async fn reaction_has_been_removed(&self, _cx: &Context, _pc: &proto::PluginContext, reaction: proto::Reaction) {
        self.note(format!("ReactionHasBeenRemoved {}", reaction.emoji_name));
    }

    async fn user_has_been_created(&self, _cx: &Context, _pc: &proto::PluginContext, user: proto::User) {
        self.note(format!("UserHasBeenCreated {}", user.username));
    }

    async fn user_has_been_deactivated(&self, _cx: &Context, _pc: &proto::PluginContext, user: proto::User) {
        self.note(format!("UserHasBeenDeactivated {}", user.username));
    }

    async fn on_plugin_cluster_event(
        &self,
        _cx: &Context,
        _pc: &proto::PluginContext,
        event: proto::PluginClusterEvent,
    ) {
        self.note(format!("OnPluginClusterEvent {} {}", event.id, String::from_utf8_lossy(&event.data)));
    }

    async fn channel_has_been_created(&self, _cx: &Context, _pc: &proto::PluginContext, channel: proto::Channel) {
        self.note(format!("ChannelHasBeenCreated {}", channel.name));
    }

    async fn user_has_joined_channel(
        &self,
        _cx: &Context,
        _pc: &proto::PluginContext,
        member: proto::ChannelMember,
        actor: Option<proto::User>,
    ) {
        self.note(format!("UserHasJoinedChannel {} by {:?}", member.user_id, actor.map(|a| a.username)));
    }

    async fn user_has_left_channel(
        &self,
        _cx: &Context,
        _pc: &proto::PluginContext,
        member: proto::ChannelMember,
        actor: Option<proto::User>,
    ) {
        self.note(format!("UserHasLeftChannel {} by {:?}", member.user_id, actor.map(|a| a.username)));
    }

    async fn user_has_joined_team(
        &self,
        _cx: &Context,
        _pc: &proto::PluginContext,
        member: proto::TeamMember,
        actor: Option<proto::User>,
    ) {
        self.note(format!("UserHasJoinedTeam {} by {:?}", member.user_id, actor.map(|a| a.username)));
    }

    async fn user_has_left_team(
        &self,
        _cx: &Context,
        _pc: &proto::PluginContext,
        member: proto::TeamMember,
        actor: Option<proto::User>,
    ) {
        self.note(format!("UserHasLeftTeam {} by {:?}", member.user_id, actor.map(|a| a.username)));
    }
}

/// A server with alice in a channel, a bot user, and `Echo` started on it.
struct World {
    fake: FakeServer,
    host: TestHost<Echo>,
    alice: proto::User,
    channel: proto::Channel,
    team: proto::Team,
    bot: proto::User,
    seen: Arc<Mutex<Vec<String>>>,
}

async fn world(skips_own_posts: bool) -> World {
    let fake = FakeServer::new();
    let seed = fake.seed();
    let bot = fake.add_user("echobot");
    fake.add_to_channel(&seed.channel.id, &bot.id);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let plugin = Echo { bot_id: bot.id.clone(), skips_own_posts, seen: Arc::clone(&seen) };
    let host = TestHost::start(plugin, fake.clone()).await.expect("the plugin activates");
    World { fake, host, alice: seed.user, channel: seed.channel, team: seed.team, bot, seen }
}

impl World {
    fn post(&self, user: &proto::User, message: &str) -> proto::Post {
        proto::Post {
            user_id: user.id.clone(),
            channel_id: self.channel.id.clone(),
            message: message.into(),
            ..Default::default()
        }
    }

    /// The hooks run so far, once the background ones have ended.
    async fn seen(&self) -> Vec<String> {
        self.host.settle().await;
        std::mem::take(&mut *self.seen.lock().unwrap())
    }

    fn messages(&self) -> Vec<String> {
        self.fake.posts().into_iter().map(|p| p.message).collect()
    }
}

fn app(error: &Error) -> &AppError {
    error.app().unwrap_or_else(|| panic!("not an application error: {error:?}"))
}

#[tokio::test]
async fn a_post_runs_message_will_be_posted_then_message_has_been_posted_after_the_save() {
    let w = world(true).await;
    let saved = w.host.api().create_post(w.post(&w.alice, "hello")).await.unwrap();
    assert_eq!(saved.message, "hello");
    assert_eq!(w.seen().await, ["MessageWillBePosted hello", "MessageHasBeenPosted hello"]);
    assert_eq!(w.messages(), ["hello"]);
}

#[tokio::test]
async fn a_rejected_post_fails_the_call_with_the_servers_error_and_is_not_stored() {
    let w = world(true).await;
    let error = w.host.api().create_post(w.post(&w.alice, "a forbidden word")).await.unwrap_err();
    let error = app(&error);
    assert_eq!(error.id, "Post rejected by plugin. no forbidden words");
    assert_eq!(error.status_code, 400);
    assert_eq!(w.seen().await, ["MessageWillBePosted a forbidden word"], "no MessageHasBeenPosted");
    assert!(w.messages().is_empty());

    let dismissed = w.host.api().create_post(w.post(&w.alice, "hush")).await.unwrap_err();
    assert_eq!(app(&dismissed).id, DISMISS_POST);
    assert!(w.messages().is_empty());
}

#[tokio::test]
async fn a_replacement_is_what_is_stored_and_what_message_has_been_posted_sees() {
    let w = world(true).await;
    let saved = w.host.api().create_post(w.post(&w.alice, "teh cat")).await.unwrap();
    assert_eq!(saved.message, "the cat");
    assert_eq!(w.seen().await, ["MessageWillBePosted teh cat", "MessageHasBeenPosted the cat"]);
    assert_eq!(w.messages(), ["the cat"]);
}

/// The plugin's own post runs its own hooks: its bot's forbidden reply is
/// refused by itself, and the reply runs `MessageHasBeenPosted`, which the
/// plugin must skip (the branch Go plugins have for their bot's posts).
#[tokio::test]
async fn a_plugins_own_post_runs_its_own_hooks_and_it_can_reject_it() {
    let w = world(true).await;
    w.host.api().create_post(w.post(&w.alice, "echo hi")).await.unwrap();
    assert_eq!(
        w.seen().await,
        [
            "MessageWillBePosted echo hi",
            "MessageHasBeenPosted echo hi",
            "MessageWillBePosted echo hi",
            "MessageHasBeenPosted echo hi",
        ],
        "alice's post, then the bot's reply through the same hooks (skipped by the plugin)"
    );
    let authors: Vec<String> = w.fake.posts().into_iter().map(|p| p.user_id).collect();
    assert_eq!(authors, [w.alice.id.clone(), w.bot.id.clone()]);

    w.host.api().create_post(w.post(&w.alice, "echo forbidden")).await.unwrap_err();
    assert!(w.seen().await.iter().all(|line| !line.starts_with("MessageHasBeenPosted")));
    let mine = w.post(&w.bot, "forbidden, by the bot itself");
    let refused = w.host.api().create_post(mine).await.unwrap_err();
    assert_eq!(app(&refused).id, "Post rejected by plugin. no forbidden words");
}

/// A plugin that answers its own posts loops forever on the server; the kit
/// cuts the chain and says why.
#[tokio::test]
async fn a_plugin_answering_its_own_posts_is_caught_looping() {
    let w = world(false).await;
    w.host.api().create_post(w.post(&w.alice, "echo again")).await.unwrap();
    let cut = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while w.fake.runaway().is_none() {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    });
    cut.await.expect("the chain is cut");
    let runaway = w.fake.clear_runaway().unwrap();
    assert!(runaway.starts_with("runaway hooks: CreatePost"), "{runaway}");
    assert!(runaway.contains(&format!("{MAX_HOOK_DEPTH} hooks deep")), "{runaway}");
    assert!(runaway.contains("never ends"), "{runaway}");
    w.fake.clear_runaway();
    let bot_posts = w.fake.posts().iter().filter(|p| p.user_id == w.bot.id).count();
    assert!((1..=MAX_HOOK_DEPTH as usize).contains(&bot_posts), "{bot_posts} replies before the cut");
}

/// Work a hook starts with `cx.spawn` runs after it answers; `settle` waits
/// for it, on tokio's paused clock without waiting the minute.
#[tokio::test(start_paused = true)]
async fn work_a_hook_spawned_is_waited_for_and_ends_with_the_plugin() {
    let w = world(true).await;
    w.host.api().create_post(w.post(&w.alice, "later call mum")).await.unwrap();
    assert_eq!(w.messages(), ["later call mum"], "the reminder is not there yet");
    w.host.settle().await;
    assert_eq!(w.messages(), ["later call mum", "call mum"]);
    assert_eq!(w.fake.posts()[1].user_id, w.bot.id);

    // Stopping the plugin cancels what it still has running.
    w.host.api().create_post(w.post(&w.alice, "later never")).await.unwrap();
    while w.host.spawned() == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    let World { host, fake, .. } = w;
    host.deactivate().await.unwrap();
    fake.settle().await;
    let messages: Vec<String> = fake.posts().into_iter().map(|p| p.message).collect();
    assert_eq!(messages, ["later call mum", "call mum", "later never"], "the second reminder never came");
}

/// Dropping the host, or settling, fails the test when a runaway was not cleared.
#[tokio::test]
#[should_panic(expected = "runaway hooks")]
async fn settling_fails_the_test_after_a_runaway() {
    let w = world(false).await;
    w.host.api().create_post(w.post(&w.alice, "echo loop")).await.unwrap();
    for _ in 0..200 {
        w.host.settle().await;
    }
}

#[tokio::test]
async fn an_update_runs_message_will_be_updated_with_the_old_post_and_can_be_rejected() {
    let w = world(true).await;
    let post = w.host.api().create_post(w.post(&w.alice, "first")).await.unwrap();
    w.seen().await;
    let edited = w.host.api().update_post(proto::Post { message: "second".into(), ..post.clone() }).await.unwrap();
    assert_eq!(edited.message, "second");
    assert_eq!(w.seen().await, ["MessageWillBeUpdated first -> second", "MessageHasBeenUpdated first -> second"]);

    let refused = w.host.api().update_post(proto::Post { message: "forbidden".into(), ..edited }).await.unwrap_err();
    assert_eq!(app(&refused).id, "Post rejected by plugin. no forbidden words");
    assert_eq!(w.messages(), ["second"], "the stored post is unchanged");
}

#[tokio::test]
async fn a_delete_runs_message_has_been_deleted_with_the_post_as_it_was() {
    let w = world(true).await;
    let post = w.host.api().create_post(w.post(&w.alice, "bye")).await.unwrap();
    w.seen().await;
    w.host.api().delete_post(&post.id).await.unwrap();
    assert_eq!(w.seen().await, ["MessageHasBeenDeleted bye"]);
    let again = w.host.api().delete_post(&post.id).await.unwrap_err();
    assert_eq!(app(&again).status_code, 400, "the server's GetSingle fails first");
}

#[tokio::test]
async fn reactions_run_their_hooks() {
    let w = world(true).await;
    let post = w.host.api().create_post(w.post(&w.alice, "nice")).await.unwrap();
    w.seen().await;
    let reaction = proto::Reaction {
        user_id: w.alice.id.clone(),
        post_id: post.id.clone(),
        emoji_name: "tada".into(),
        ..Default::default()
    };
    w.host.api().add_reaction(reaction.clone()).await.unwrap();
    w.host.api().remove_reaction(reaction).await.unwrap();
    assert_eq!(w.seen().await, ["ReactionHasBeenAdded tada", "ReactionHasBeenRemoved tada"]);
}

/// Joins and leaves, with the actor the server gives: none for a plugin's
/// `AddChannelMember`, the `as_user_id` user for `AddUserToChannel`, the
/// leaving user for `DeleteChannelMember`, the requestor for
/// `DeleteTeamMember`; and nothing for someone who was a member already.
#[tokio::test]
async fn joins_and_leaves_run_their_hooks_with_the_servers_actor() {
    let w = world(true).await;
    let bob = w.fake.add_user("bob");
    let api = w.host.api();
    api.create_team_member(&w.team.id, &bob.id).await.unwrap();
    api.create_team_member(&w.team.id, &bob.id).await.unwrap();
    assert_eq!(w.seen().await, [format!("UserHasJoinedTeam {} by None", bob.id)], "once: then a member already");

    let general = w.fake.add_channel(&w.team.id, "general");
    api.add_channel_member(&general.id, &bob.id).await.unwrap();
    api.delete_channel_member(&general.id, &bob.id).await.unwrap();
    api.add_user_to_channel(&general.id, &bob.id, &w.alice.id).await.unwrap();
    let seen = w.seen().await;
    let members: Vec<&String> = seen.iter().filter(|line| line.starts_with("User")).collect();
    assert_eq!(
        members,
        [
            &format!("UserHasJoinedChannel {} by None", bob.id),
            &format!("UserHasLeftChannel {} by Some(\"bob\")", bob.id),
            &format!("UserHasJoinedChannel {} by Some(\"alice\")", bob.id),
        ]
    );
    // The server's system messages for each, posted through CreatePost's
    // path: the plugin's post hooks saw them too.
    let mut posted: Vec<(String, String)> = w
        .fake
        .posts()
        .into_iter()
        .filter(|p| p.channel_id == general.id)
        .map(|p| (p.r#type, p.message))
        .collect();
    posted.sort();
    assert_eq!(
        posted,
        [
            ("system_add_to_channel".to_owned(), "bob added to the channel by alice.".to_owned()),
            ("system_join_channel".to_owned(), "bob joined the channel.".to_owned()),
            ("system_leave_channel".to_owned(), "bob left the channel.".to_owned()),
        ]
    );
    for message in ["bob joined the channel.", "bob left the channel.", "bob added to the channel by alice."] {
        assert!(seen.contains(&format!("MessageWillBePosted {message}")), "{message}: {seen:?}");
        assert!(seen.contains(&format!("MessageHasBeenPosted {message}")), "{message}: {seen:?}");
    }

    api.delete_team_member(&w.team.id, &bob.id, &w.alice.id).await.unwrap();
    assert_eq!(w.seen().await, [format!("UserHasLeftTeam {} by Some(\"alice\")", bob.id)]);
    // SqlTeamStore.GetMember has no DeleteAt filter: the member who left is
    // answered, marked.
    let left = api.get_team_member(&w.team.id, &bob.id).await.unwrap();
    assert!(left.delete_at > 0);
    // Leaving the team left its channels too (no hook: the store removes them).
    let gone = api.get_channel_member(&general.id, &bob.id).await.unwrap_err();
    assert_eq!(gone.kind(), ErrorKind::NotFound);
    // Nobody leaves town-square.
    let refused = api.delete_channel_member(&w.channel.id, &w.alice.id).await.unwrap_err();
    assert_eq!(app(&refused).id, "api.channel.remove.default.app_error");
}

#[tokio::test]
async fn creating_users_and_channels_runs_their_hooks() {
    let w = world(true).await;
    let api = w.host.api();
    let carol = proto::User { username: "carol".into(), email: "carol@example.com".into(), ..Default::default() };
    let no_password = api.create_user(carol.clone()).await.unwrap_err();
    assert_eq!(app(&no_password).id, "model.user.is_valid.pwd.app_error");
    let admin = proto::User { password: "long enough".into(), roles: "system_admin".into(), ..carol };
    let carol = api.create_user(admin).await.unwrap();
    assert_eq!(carol.roles, "system_user", "the server decides the roles");
    assert!(carol.password.is_empty(), "never sent back");
    let channel = proto::Channel {
        team_id: w.team.id.clone(),
        name: "plans".into(),
        r#type: proto::ChannelType::Open as i32,
        ..Default::default()
    };
    api.create_channel(channel).await.unwrap();
    let direct = api.get_direct_channel(&w.alice.id, &carol.id).await.unwrap();
    api.get_direct_channel(&carol.id, &w.alice.id).await.unwrap();
    assert_eq!(
        w.seen().await,
        [
            "UserHasBeenCreated carol".to_owned(),
            "ChannelHasBeenCreated plans".to_owned(),
            format!("ChannelHasBeenCreated {}", direct.name),
        ],
        "the direct channel's hook once, when it is made"
    );
}

/// Deactivating a user, or an active bot, runs `UserHasBeenDeactivated`
/// (`App.UpdateActive`); a bot deactivated again runs nothing.
#[tokio::test]
async fn deactivations_run_user_has_been_deactivated() {
    let w = world(true).await;
    let api = w.host.api();
    api.delete_user(&w.alice.id).await.unwrap();
    let bot = api.create_bot(proto::Bot { username: "helper".into(), ..Default::default() }).await.unwrap();
    api.update_bot_active(&bot.user_id, false).await.unwrap();
    api.update_bot_active(&bot.user_id, false).await.unwrap();
    assert_eq!(w.seen().await, ["UserHasBeenDeactivated alice", "UserHasBeenDeactivated helper"]);
    assert!(api.get_user(&w.alice.id).await.unwrap().delete_at > 0, "deactivated, not removed");
}

/// A cluster event a plugin publishes runs `OnPluginClusterEvent` on its
/// copies on the other nodes, not on its own; `target_id` picks one node.
#[tokio::test]
async fn cluster_events_reach_the_other_nodes() {
    let fake = FakeServer::new();
    let mut nodes = Vec::new();
    for _ in 0..3 {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let plugin = Echo { bot_id: String::new(), skips_own_posts: true, seen: Arc::clone(&seen) };
        nodes.push((TestHost::start(plugin, fake.clone()).await.unwrap(), seen));
    }
    let event = |data: &str| proto::PluginClusterEvent { id: "refresh".into(), data: data.as_bytes().to_vec() };
    nodes[0].0.api().publish_plugin_cluster_event(event("all"), Default::default()).await.unwrap();
    let to_two = proto::PluginClusterEventSendOptions { send_type: "reliable".into(), target_id: nodes[2].0.node_id() };
    nodes[1].0.api().publish_plugin_cluster_event(event("only two"), to_two).await.unwrap();
    fake.settle().await;
    let seen: Vec<Vec<String>> = nodes.iter().map(|(_, seen)| seen.lock().unwrap().clone()).collect();
    assert!(seen[0].is_empty(), "the sender's own node gets nothing: {:?}", seen[0]);
    assert_eq!(seen[1], ["OnPluginClusterEvent refresh all"]);
    assert_eq!(seen[2], ["OnPluginClusterEvent refresh all", "OnPluginClusterEvent refresh only two"]);
    assert_eq!(fake.cluster_events().len(), 2, "both kept for the test");
}

/// Calls made while `OnActivate` runs reach no hook of the plugin: the
/// server runs the hooks of active plugins only.
#[tokio::test]
async fn a_plugin_is_not_active_before_it_has_activated_nor_after_it_stopped() {
    let w = world(true).await;
    let api = w.host.api();
    let post = w.post(&w.alice, "after the stop");
    let World { host, seen, fake, .. } = w;
    host.deactivate().await.unwrap();
    api.create_post(post).await.unwrap();
    fake.settle().await;
    assert!(seen.lock().unwrap().is_empty(), "{:?}", seen.lock().unwrap());
}

/// A deep handler on a thread with a 2 MiB stack (a `#[tokio::test]`'s
/// thread's own size), in a debug build: a post whose hook posts, whose
/// hook posts again, each through async helpers of its own. Every call to
/// the fake server and every hook it runs starts on a task of its own,
/// so the stack holds one hop at a time, never the whole chain.
#[test]
fn a_deep_chain_of_hooks_and_calls_runs_on_a_2_mib_thread() {
    const STACK: usize = 2 * 1024 * 1024;
    let ran = std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let w = world(true).await;
                for round in 0..3 {
                    w.host.api().create_post(w.post(&w.alice, &format!("echo {round}"))).await.unwrap();
                    let thread = w.host.api().get_posts_for_channel(&w.channel.id, 0, 10).await.unwrap();
                    deep(&w, 12, &thread.order[0]).await;
                }
                w.host.settle().await;
                w.messages().len()
            })
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(ran, 6, "three posts and their replies (each edited twelve times)");
}

/// `levels` nested async calls, each with a frame of its own, editing the
/// post at the bottom (which runs the update hooks).
fn deep<'a>(w: &'a World, levels: u32, post_id: &'a str) -> std::pin::Pin<Box<dyn Future<Output = ()> + 'a>> {
    Box::pin(async move {
        let padding = [levels as u8; 2048];
        if levels == 0 {
            return;
        }
        let post = w.host.api().get_post(post_id).await.unwrap();
        let edited = proto::Post { message: format!("{} {}", post.message, padding[0]), ..post };
        w.host.api().update_post(edited).await.unwrap();
        deep(w, levels - 1, post_id).await;
    })
}
