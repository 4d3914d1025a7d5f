//! The SDK's `model` helpers, used as a plugin author uses them, against the
//! test kit's fake server: a post with attachments made through the API and
//! read back, membership checks, ids and names.

use mattermost_plugin::model::{Action, Attachment, NameFormat, is_valid_id, new_id};
use mattermost_plugin::prelude::*;
use mattermost_plugin::proto;
use mattermost_plugin_testing::FakeServer;
use serde_json::json;

#[tokio::test]
async fn a_post_with_a_button_is_stored_and_read_back_in_the_servers_shape() {
    let fake = FakeServer::new();
    let seed = fake.seed();
    let api = fake.client();
    let serde_json::Value::Object(context) = json!({ "release": "v2.1" }) else { unreachable!() };
    let attachment = Attachment {
        text: "v2.1 is ready".into(),
        actions: vec![Action::button("Deploy", "/plugins/com.example.x/deploy", context)],
        ..Attachment::default()
    };
    let post = proto::Post::new(seed.channel.id.as_str(), "Deploy?")
        .by(seed.user.id.as_str())
        .with_attachments(vec![attachment.clone()]);
    let stored = api.create_post(post).await.unwrap();
    let read = api.get_post(stored.id.as_str()).await.unwrap();
    assert_eq!(read.attachments(), vec![attachment]);
    let props = serde_json::Value::Object(read.props_json());
    assert_eq!(props["attachments"][0]["actions"][0]["integration"]["url"], "/plugins/com.example.x/deploy");
    assert_eq!(read.prop::<String>("from_plugin").unwrap().as_deref(), Some("true"), "the server's own prop");
}

#[tokio::test]
async fn membership_checks_read_not_found_as_no() {
    let fake = FakeServer::new();
    let seed = fake.seed();
    let outsider = fake.add_user("outsider");
    let api = fake.client();
    assert!(api.is_channel_member(&seed.channel.id, &seed.user.id).await.unwrap());
    assert!(!api.is_channel_member(&seed.channel.id, &outsider.id).await.unwrap());
    assert!(api.is_team_member(&seed.team.id, &seed.user.id).await.unwrap());
    assert!(!api.is_team_member(&seed.team.id, &outsider.id).await.unwrap());
    // Any other failure is the error, not a "no".
    fake.fail_next("GetChannelMember", 1, AppError::new("app.channel.get_member.app_error", "db down", 500));
    assert!(api.is_channel_member(&seed.channel.id, &seed.user.id).await.is_err());
}

#[tokio::test]
async fn ids_and_names_as_the_server_makes_them() {
    let fake = FakeServer::new();
    let user = fake.client().get_user(fake.add_user("jo").id).await.unwrap();
    assert!(is_valid_id(&user.id), "the kit's ids are the server's shape");
    let id = new_id();
    assert!(is_valid_id(&id) && id.len() == 26 && id != new_id());
    assert_eq!(user.display_name(NameFormat::FullName), "jo", "no full name: the username");
    assert!(!user.is_guest() && !user.is_system_admin());
    assert!(fake.add_admin("root").is_system_admin());
}
