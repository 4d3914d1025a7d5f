//! The one way the ported Go tests run a post through the plugin.
//!
//! The Go tests call the plugin's `MessageWillBePosted` (or
//! `MessageWillBeUpdated`) with a configuration holding some links, and look
//! at the message that comes back. Here the plugin is started on the SDK's
//! test kit with those links as its settings, and the post is made through
//! the fake server, which runs the hooks as the server does: what the tests
//! read is the post as stored.
#![allow(dead_code)] // Not every test file uses every function.

use autolink::link::Autolink;
use mattermost_plugin::prelude::*;
use mattermost_plugin::proto;
use mattermost_plugin_testing::{FakeServer, TestHost};
use serde_json::json;

/// Where a post is made: its channel's name and that channel's team's name
/// (empty for a channel outside teams).
#[derive(Clone, Copy, Debug)]
pub struct Place<'a> {
    pub channel: &'a str,
    pub team: &'a str,
}

/// The channel of the Go tests' `setupTestPlugin`: its team has an empty
/// name (the mocked `GetTeam` returns an empty team). On the kit it is a
/// direct channel, whose team is none: scoped links apply in neither.
pub const TEST_CHANNEL: Place<'static> = Place { channel: "thechannel_name", team: "" };

/// The plugin started with `links` (and `EnableOnUpdate`), and where its
/// tests post.
pub struct Started {
    pub fake: FakeServer,
    pub host: TestHost<autolink::Autolink>,
    channel: String,
    user: String,
}

/// Starts the plugin with `links` as its settings, for posts in `place`.
///
/// # Panics
/// When a link the Go test compiles does not compile here.
pub async fn start(links: Vec<Autolink>, place: Place<'_>) -> Started {
    let fake = FakeServer::new();
    let user = fake.add_user("author");
    let channel = if place.team.is_empty() {
        fake.direct_channel(&user.id, &fake.add_user("other").id)
    } else {
        let team = fake.add_team(&place.team.to_lowercase());
        fake.add_channel(&team.id, &place.channel.to_lowercase())
    };
    fake.set_plugin_config(json!({ "EnableOnUpdate": true, "links": links }));
    let host = TestHost::builder(autolink::Autolink::new()).fake(fake.clone()).start().await.expect("activates");
    for link in &host.plugin().config().links {
        let compiles = link.disabled || link.pattern.is_empty() || link.template.is_empty();
        assert!(compiles || link.is_compiled(), "link {:?} does not compile: {:?}", link.display_name(), host.logs());
    }
    Started { fake, host, channel: channel.id, user: user.id }
}

impl Started {
    /// A post of `message`, as stored.
    pub async fn post(&self, message: &str) -> String {
        let post = proto::Post::new(self.channel.as_str(), message).by(self.user.as_str());
        self.host.api().create_post(post).await.expect("the post is stored").message
    }

    /// A post of `old_message` edited to `new_message`, as stored.
    pub async fn update(&self, new_message: &str, old_message: &str) -> String {
        let post = proto::Post::new(self.channel.as_str(), old_message).by(self.user.as_str());
        let mut post = self.host.api().create_post(post).await.expect("the post is stored");
        post.message = new_message.to_owned();
        self.host.api().update_post(post).await.expect("the edit is stored").message
    }
}

/// `MessageWillBePosted` of a post holding `message`, in [`TEST_CHANNEL`].
pub async fn rewrite(links: Vec<Autolink>, message: &str) -> String {
    rewrite_in(links, message, TEST_CHANNEL).await
}

/// `MessageWillBePosted` of a post holding `message`, made in `place`.
pub async fn rewrite_in(links: Vec<Autolink>, message: &str, place: Place<'_>) -> String {
    start(links, place).await.post(message).await
}

/// `MessageWillBeUpdated` with `EnableOnUpdate` set: the post changes from
/// `old_message` (as the plugin left it when posted) to `new_message`; the
/// plugin rewrites the new post.
pub async fn update_in(links: Vec<Autolink>, new_message: &str, old_message: &str, place: Place<'_>) -> String {
    start(links, place).await.update(new_message, old_message).await
}
