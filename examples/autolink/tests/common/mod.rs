//! The one way the ported Go tests run a post through the plugin.
//!
//! The Go tests call the plugin's `MessageWillBePosted` (or
//! `MessageWillBeUpdated`) with a configuration holding some links, and look
//! at the message that comes back. These functions stand for those calls.
//! They are implemented here with the library's pure functions: each link is
//! compiled, the links out of scope for the place of the post are dropped,
//! the author is never a bot, and the message comes back unchanged when
//! nothing was rewritten. They can be re-implemented on the plugin itself
//! without touching the tests.
#![allow(dead_code)] // Not every test file uses every function.

use autolink::link::Autolink;

/// Where a post is made: its channel's name and that channel's team's name
/// (empty for a channel outside teams).
#[derive(Clone, Copy, Debug)]
pub struct Place<'a> {
    pub channel: &'a str,
    pub team: &'a str,
}

/// The channel of the Go tests' `setupTestPlugin`: its team has an empty
/// name (the mocked `GetTeam` returns an empty team).
pub const TEST_CHANNEL: Place<'static> = Place { channel: "thechannel_name", team: "" };

/// `MessageWillBePosted` of a post holding `message`, in [`TEST_CHANNEL`].
pub async fn rewrite(links: Vec<Autolink>, message: &str) -> String {
    rewrite_in(links, message, TEST_CHANNEL).await
}

/// `MessageWillBePosted` of a post holding `message`, made in `place`.
pub async fn rewrite_in(links: Vec<Autolink>, message: &str, place: Place<'_>) -> String {
    process(links, message, place)
}

/// `MessageWillBeUpdated` with `EnableOnUpdate` set: the post changes from
/// `old_message` to `new_message`; the plugin rewrites the new post and
/// returns its message (the old post is not looked at).
pub async fn update_in(links: Vec<Autolink>, new_message: &str, old_message: &str, place: Place<'_>) -> String {
    let _ = old_message;
    process(links, new_message, place)
}

fn process(mut links: Vec<Autolink>, message: &str, place: Place<'_>) -> String {
    for link in &mut links {
        if let Err(e) = link.compile() {
            panic!("link {:?} does not compile: {e}", link.display_name());
        }
    }
    let links: Vec<&Autolink> = links.iter().filter(|l| in_scope(&l.scope, place)).collect();
    autolink::rewrite(message, &links, |_| true).unwrap_or_else(|| message.to_owned())
}

/// Whether a link with `scope` applies in `place` (the Go plugin's
/// `inScope`).
fn in_scope(scope: &[String], place: Place<'_>) -> bool {
    if scope.is_empty() {
        return true;
    }
    if place.team.is_empty() {
        return false;
    }
    let same = |a: &str, b: &str| a.to_lowercase() == b.to_lowercase();
    for entry in scope {
        let parts: Vec<&str> = entry.split('/').collect();
        match parts[..] {
            [""] => return false,
            [team] if same(team, place.team) => return true,
            [team, channel] if same(team, place.team) && same(channel, place.channel) => {
                return true;
            }
            _ => {}
        }
    }
    false
}
