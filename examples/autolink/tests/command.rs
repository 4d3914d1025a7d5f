//! `/autolink`, every subcommand, run as an admin types it. The Go plugin
//! has no tests of its command; these pin the Go code's answers
//! (server/autolinkplugin/command.go), read from its source.

mod support;

use mattermost_plugin_testing::{FakeServer, TestHost};
use serde_json::{Value, json};
use support::start;

/// The plugin with `links` and the admin command on; a system admin
/// types the commands in the seeded channel, beside the seeded user.
struct Setup {
    fake: FakeServer,
    host: TestHost<autolink::Autolink>,
    admin: String,
    channel: String,
    user: String,
}

async fn admin(links: Value) -> Setup {
    let fake = FakeServer::new();
    let seed = fake.seed();
    let admin = fake.add_admin("root");
    fake.add_to_channel(&seed.channel.id, &admin.id);
    let host = start(&fake, json!({ "EnableAdminCommand": true, "links": links })).await;
    Setup { fake, host, admin: admin.id, channel: seed.channel.id, user: seed.user.id }
}

impl Setup {
    /// Runs `line` as the admin and returns the answer's text, checking
    /// that it is ephemeral.
    async fn run(&self, line: &str) -> String {
        let answer = self.host.command_from(&self.admin, &self.channel, line).await.expect("the command runs");
        assert_eq!(answer.response_type, "ephemeral", "{line}");
        answer.text
    }
}

fn visa() -> Value {
    json!({ "Name": "Visa", "Pattern": "(?P<card>4\\d{15})", "Template": "VISA" })
}

fn jira() -> Value {
    json!({ "Name": "Jira", "Pattern": "MM-(?P<id>\\d+)", "Template": "[MM-$id](https://jira/MM-$id)", "WordMatch": true })
}

#[tokio::test]
async fn the_command_is_registered_only_when_enabled() {
    let it = admin(json!([])).await;
    let commands = it.fake.commands();
    assert_eq!(commands.len(), 1);
    assert_eq!((commands[0].trigger.as_str(), commands[0].auto_complete_hint.as_str()), ("autolink", "[command]"));
    it.host.save_config(json!({ "EnableAdminCommand": false })).await.unwrap();
    it.host.settle().await;
    assert!(it.fake.commands().is_empty(), "unregistered when turned off");
}

#[tokio::test]
async fn a_user_who_is_not_an_admin_is_refused() {
    let it = admin(json!([])).await;
    let answer = it.host.command("/autolink list").await.unwrap();
    assert_eq!(
        answer.text,
        "`/autolink` commands can only be executed by a system administrator or `autolink` plugin admins."
    );
    assert_eq!(it.fake.count("SavePluginConfig"), 0);
}

#[tokio::test]
async fn help_and_unknown_subcommands_show_the_help() {
    let it = admin(json!([])).await;
    for line in
        ["/autolink", "/autolink help", "/autolink frobnicate", "/autolink delete", "/autolink set Visa Pattern"]
    {
        assert!(it.run(line).await.starts_with("###### Mattermost Autolink Plugin Administration"), "{line}");
    }
}

#[tokio::test]
async fn list_shows_links_sorted_by_name_and_finds_them() {
    let it = admin(json!([visa(), jira()])).await;
    let all = it.run("/autolink list").await;
    assert_eq!(
        all,
        "- 1: Jira\n  - Pattern: `MM-(?P<id>\\d+)`\n  - Template: `[MM-$id](https://jira/MM-$id)`\n  - WordMatch: `true`\n\
         - 2: Visa\n  - Pattern: `(?P<card>4\\d{15})`\n  - Template: `VISA`\n"
    );
    assert!(it.run("/autolink list Vi").await.starts_with("- 2: Visa"));
    assert!(it.run("/autolink list 1").await.starts_with("- 1: Jira"));
    assert_eq!(it.run("/autolink list 3").await, "3 is not a valid link number");
    assert_eq!(it.run("/autolink list Amex").await, "\"Amex\" not found");
    assert!(it.run("/autolink list Template jira/").await.starts_with("- 1: Jira"));
    assert!(it.run("/autolink list Pattern 4\\D").await.starts_with("- 2: Visa"));
    assert_eq!(it.run("/autolink list Pattern nothing").await, "\"nothing\" not found");

    let it = admin(json!([])).await;
    assert_eq!(it.run("/autolink list").await, "There are no links to list");
}

#[tokio::test]
async fn add_set_test_disable_enable_and_delete_a_link() {
    let it = admin(json!([])).await;
    assert_eq!(it.run("/autolink add Amex").await, "- 1: Amex\n  - Pattern: ``\n  - Template: ``\n");
    let set = it.run("/autolink set Amex Pattern   (?P<card>3[47]\\d{13})  ").await;
    assert!(set.contains("- Pattern: `(?P<card>3[47]\\d{13})`"), "{set}");
    it.run("/autolink set Amex Template AMEX-$card").await;
    let scoped = it.run("/autolink set Amex Scope team/town-square other").await;
    assert!(scoped.contains("- Scope: `[team/town-square other]`"), "{scoped}");
    let word = it.run("/autolink set 1 WordMatch on").await;
    assert!(word.contains("- WordMatch: `true`"), "{word}");
    assert_eq!(it.run("/autolink set Amex WordMatch maybe").await, "Not a bool, \"maybe\"");
    assert_eq!(
        it.run("/autolink set Amex Colour red").await,
        "\"Colour\" is not a supported field, must be one of [\"Name\" \"Disabled\" \"Pattern\" \"Template\" \"Scope\" \
         \"DisableNonWordPrefix\" \"DisableNonWordSuffix\" \"WordMatch\" \"ProcessBotPosts\"]"
    );
    // Saved as the Go plugin saves it, read back by OnConfigurationChange.
    let saved = &it.fake.plugin_config()["links"][0];
    assert_eq!(saved["Template"], "AMEX-$card");
    assert_eq!(saved["Scope"], json!(["team/town-square", "other"]));

    let tested = it.run("/autolink test Amex pay with 371449635398431 now").await;
    assert_eq!(
        tested,
        "- Original: `pay with 371449635398431 now`\n- Link Amex: changed to `pay with AMEX-371449635398431 now`\n"
    );
    assert_eq!(
        it.run("/autolink test Amex nothing here").await,
        "- Original: `nothing here`\n- Link Amex: _no change_\n"
    );

    let disabled = it.run("/autolink disable Amex").await;
    assert!(disabled.starts_with("- 1: ~~Amex~~ **Disabled**\n"), "{disabled}");
    assert_eq!(it.fake.plugin_config()["links"][0]["Disabled"], true);
    assert!(it.run("/autolink enable Amex").await.starts_with("- 1: Amex\n"));

    it.run("/autolink add Amex2").await;
    assert_eq!(it.run("/autolink delete Amex").await, "\"Amex\" matched more than one link: [\"Amex\" \"Amex2\"]");
    let removed = it.run("/autolink delete 2").await;
    assert!(removed.starts_with("removed: \n- Amex2\n"), "{removed}");
    assert_eq!(it.fake.plugin_config()["links"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_link_set_by_command_rewrites_the_next_post() {
    let it = admin(json!([])).await;
    it.run("/autolink add Ticket").await;
    it.run("/autolink set Ticket Pattern T-(?P<n>\\d+)").await;
    it.run("/autolink set Ticket Template [T-$n](https://t/$n)").await;
    let stored = support::post(&it.host, &it.channel, &it.user, "see T-42").await;
    assert_eq!(stored.message, "see [T-42](https://t/42)");
}
