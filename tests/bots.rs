//! `PluginApiClient::ensure_bot` as plugins call it: in `on_activate`, on
//! every node of a cluster at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use mattermost_plugin::bot::{Bot, ENSURE_BOT_LOCK};
use mattermost_plugin::cluster::LockError;
use mattermost_plugin_testing::FakeServer;
use mattermost_plugin::{AppError, Error, ErrorKind};

/// A PNG signature and the start of an image header: what the server's
/// image decoder recognises.
const ICON: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

#[tokio::test]
async fn a_bot_is_created_once_then_brought_up_to_date() {
    let fake = FakeServer::new();
    let api = fake.client();
    let first = api.ensure_bot(Bot::new("hellobot").display_name("Hello").description("Says hello")).await.unwrap();
    let again = api
        .ensure_bot(Bot::new("hellobot").display_name("Hello (Rust)").description("Says hello").profile_image(ICON))
        .await
        .unwrap();
    assert_eq!(first, again, "the same bot");
    let bots = fake.bots();
    assert_eq!(bots.len(), 1);
    assert_eq!((bots[0].user_id.as_str(), bots[0].display_name.as_str()), (first.as_str(), "Hello (Rust)"));
    assert_eq!(fake.profile_image(&first).as_deref(), Some(ICON), "the image is set on the bot's user");
    assert_eq!(fake.kv_value("mmi_botid"), first.as_bytes(), "the server keeps the bot's id where Go plugins have it");
    assert!(fake.kv_value(&format!("mutex_{ENSURE_BOT_LOCK}")).is_empty(), "the lock is let go");
}

#[tokio::test]
async fn an_image_the_server_cannot_decode_fails_with_its_error_and_lets_the_lock_go() {
    let fake = FakeServer::new();
    let api = fake.client();
    let error = api.ensure_bot(Bot::new("hellobot").profile_image(b"not an image".to_vec())).await.unwrap_err();
    let LockError::Api(error) = error else { panic!("an API error: {error:?}") };
    let app: &AppError = error.app().expect("the server's error");
    assert_eq!((app.id.as_str(), app.status_code), ("api.user.upload_profile_user.decode.app_error", 400));
    assert_eq!(error.kind(), ErrorKind::Validation);
    assert!(fake.kv_value(&format!("mutex_{ENSURE_BOT_LOCK}")).is_empty(), "the lock is let go after a failure");
    // The bot itself was made; the next try with a good image completes it.
    let id = api.ensure_bot(Bot::new("hellobot").profile_image(ICON)).await.unwrap();
    assert_eq!(fake.bots().len(), 1);
    assert_eq!(fake.profile_image(&id).as_deref(), Some(ICON));
}

/// The server's `EnsureBotUser` reads (is there a bot?) and then creates:
/// two calls at once can both find none, and the second create fails with
/// `app.user.save.username_exists.app_error`. Played here by an answer that
/// takes 20 ms between its read and its create. Raw concurrent calls hit
/// that race; `ensure_bot` on three nodes at once never does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_ensuring_the_bot_at_once_take_turns_and_agree() {
    let fake = FakeServer::new();
    // The bot's user account, which this answer "creates".
    let bot_user = fake.add_user("hellobot").id;
    let made = Arc::new(StdMutex::new(None::<String>));
    let (inside, most_inside) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    {
        let (made, inside, most_inside, bot_user) =
            (made.clone(), inside.clone(), most_inside.clone(), bot_user.clone());
        fake.on_ensure_bot_user(move |_request| {
            let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
            most_inside.fetch_max(now, Ordering::SeqCst);
            let existing = made.lock().unwrap().clone();
            let answer = match existing {
                Some(id) => Ok(id),
                None => {
                    std::thread::sleep(Duration::from_millis(20)); // between the read and the create
                    let mut made = made.lock().unwrap();
                    if made.is_some() {
                        Err(Error::from(AppError::new(
                            "app.user.save.username_exists.app_error",
                            "An account with that username already exists.",
                            400,
                        )))
                    } else {
                        *made = Some(bot_user.clone());
                        Ok(bot_user.clone())
                    }
                }
            };
            inside.fetch_sub(1, Ordering::SeqCst);
            answer
        });
    }

    // The hazard, shown: raw calls at once race.
    let raw: Vec<_> = (0..3)
        .map(|_| {
            let api = fake.client();
            tokio::spawn(async move {
                use mattermost_plugin::api::BotsApi as _;
                api.ensure_bot_user(mattermost_plugin::proto::Bot { username: "hellobot".into(), ..Default::default() })
                    .await
            })
        })
        .collect();
    let mut failed = 0;
    for call in raw {
        failed += usize::from(call.await.unwrap().is_err());
    }
    assert!(failed >= 1, "raw concurrent EnsureBotUser calls should collide in this simulation");

    // `ensure_bot`, three nodes at once, several times over.
    *made.lock().unwrap() = None;
    most_inside.store(0, Ordering::SeqCst);
    for round in 0..3 {
        let nodes: Vec<_> = (0..3)
            .map(|_| {
                let api = fake.client();
                tokio::spawn(async move { api.ensure_bot(Bot::new("hellobot").profile_image(ICON)).await })
            })
            .collect();
        for node in nodes {
            assert_eq!(node.await.unwrap().unwrap(), bot_user, "round {round}: every node gets the one bot");
        }
    }
    assert_eq!(most_inside.load(Ordering::SeqCst), 1, "never two EnsureBotUser calls at once");
    assert_eq!(fake.count("EnsureBotUser"), 3 + 9);
    assert_eq!(fake.profile_image(&bot_user).as_deref(), Some(ICON));
}
