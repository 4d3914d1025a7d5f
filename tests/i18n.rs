//! The SDK's `i18n` module on a real Go plugin's message file, unchanged:
//! Matterpoll's Russian `assets/i18n/active.ru.json` (the fixture's source,
//! commit and license are in `tests/fixtures/i18n/README.md`), loaded from
//! a bundle folder the fake server's `GetBundlePath` points at, as a
//! plugin loads it on the server.

use std::sync::Arc;

use mattermost_plugin::i18n::{Bundle, I18N_DIR, I18n, Localizer, Message};
use mattermost_plugin::prelude::*;
use mattermost_plugin::proto;
use mattermost_plugin_testing::FakeServer;
use serde_json::json;

const RUSSIAN: &[u8] = include_bytes!("fixtures/i18n/active.ru.json");

// Matterpoll's messages as its Go code declares them (ids and English texts).
const ANSWER_HEADING: Message = Message::new("rhs.card.poll.answer.heading", "{{.Answer}} ({{.Count}} votes)")
    .one("{{.Answer}} ({{.Count}} vote)")
    .few("{{.Answer}} ({{.Count}} votes)")
    .many("{{.Answer}} ({{.Count}} votes)");
const TOTAL_VOTES: Message =
    Message::new("poll.message.totalVotesMulti", "**Total votes**: {{.TotalVotes}} ({{ .TotalVoters }} voters)")
        .one("**Total votes**: {{.TotalVotes}} ({{ .TotalVoters }} voter)");
const INVALID_INPUT: Message = Message::new("command.error.invalidInput", "Invalid input: {{.Error}}");
const NOT_IN_THE_FILE: Message = Message::new("poll.new.feature", "{{.Count}} new things").one("One new thing");

#[test]
fn the_file_loads_unchanged_with_every_message() {
    let mut bundle = Bundle::new();
    let messages = bundle.add_file("assets/i18n/active.ru.json", RUSSIAN).unwrap();
    let ids = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(RUSSIAN).unwrap().len();
    assert_eq!((messages, ids), (59, 59), "one message per top-level id");
    assert_eq!(bundle.languages().collect::<Vec<_>>(), ["en", "ru"]);
    assert!(bundle.contains("ru", "rhs.card.poll.answer.heading"));
}

#[test]
fn its_plural_messages_take_russians_one_few_and_many() {
    let mut bundle = Bundle::new();
    bundle.add_file("active.ru.json", RUSSIAN).unwrap();
    let ru = Localizer::new(Arc::new(bundle), &["ru"]);
    let heading = |count: i64| ru.localize_count(&ANSWER_HEADING, count, &[("Answer", &"Да")]);
    assert_eq!(heading(1), "Да (1 ответ)");
    assert_eq!(heading(21), "Да (21 ответ)");
    assert_eq!(heading(3), "Да (3 ответа)");
    assert_eq!(heading(5), "Да (5 ответов)");
    assert_eq!(heading(11), "Да (11 ответов)");
    // Go passes the count as PluralCount and in the template data: here
    // the values name what the text shows, the count picks the form.
    let total = |voters: i64| ru.localize_count(&TOTAL_VOTES, voters, &[("TotalVotes", &7), ("TotalVoters", &voters)]);
    assert_eq!(total(2), "**Всего ответов**: 7 (2 человека)");
    assert_eq!(total(5), "**Всего ответов**: 7 (5 человек)");
    assert_eq!(ru.localize(&INVALID_INPUT, &[("Error", &"нет вопроса")]), "Некорректный ввод: нет вопроса");
    // An id the translation lacks: the code's English, by English's rules.
    assert_eq!(ru.localize_count(&NOT_IN_THE_FILE, 1, &[]), "One new thing");
    // Other languages: English, from the code.
    let en = Localizer::new(ru_bundle(), &["de"]);
    assert_eq!(en.localize_count(&ANSWER_HEADING, 3, &[("Answer", &"Yes")]), "Yes (3 votes)");
}

fn ru_bundle() -> Arc<Bundle> {
    let mut bundle = Bundle::new();
    bundle.add_file("active.ru.json", RUSSIAN).unwrap();
    Arc::new(bundle)
}

/// The way a plugin loads it: `GetBundlePath`, then `assets/i18n/` under
/// it; a Russian user reads Russian, others the server's language.
#[tokio::test]
async fn a_plugin_loads_it_from_its_bundle_and_answers_a_russian_user_in_russian() {
    let bundle = tempfile::tempdir().unwrap();
    let folder = bundle.path().join(I18N_DIR);
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("active.ru.json"), RUSSIAN).unwrap();
    let fake = FakeServer::new();
    fake.set_bundle_path(bundle.path());
    let ivan = fake.add_user("ivan");
    let client = fake.client();
    client.update_user(proto::User { locale: "ru".into(), ..ivan.clone() }).await.unwrap();
    let ada = fake.add_user("ada");

    let i18n = I18n::new();
    assert_eq!(i18n.for_user(&client, &ivan.id).await.language(), "en", "nothing loaded yet");
    i18n.load(&client).await.unwrap();
    assert_eq!((i18n.bundle().languages().count(), i18n.server_locale().as_str()), (2, "en"));
    let heading = i18n.for_user(&client, &ivan.id).await.localize_count(&ANSWER_HEADING, 22, &[("Answer", &"Да")]);
    assert_eq!(heading, "Да (22 ответа)");
    let heading = i18n.for_user(&client, &ada.id).await.localize_count(&ANSWER_HEADING, 22, &[("Answer", &"Yes")]);
    assert_eq!(heading, "Yes (22 votes)");

    // A Russian server answers a user it cannot read in Russian.
    fake.set_server_config(json!({ "LocalizationSettings": { "DefaultServerLocale": "ru" } }));
    i18n.load(&client).await.unwrap();
    assert_eq!(i18n.for_user(&client, "nobody").await.language(), "ru");
    assert_eq!(i18n.for_server().language(), "ru");
    assert_eq!(i18n.for_locale("en").language(), "en");

    // A broken file: the error names it, and what was loaded stays.
    std::fs::write(folder.join("active.de.json"), "{\"a\": }").unwrap();
    let error = i18n.load(&client).await.unwrap_err();
    assert!(error.to_string().starts_with(&format!("{}: not valid JSON", folder.join("active.de.json").display())));
    assert_eq!(i18n.bundle().languages().collect::<Vec<_>>(), ["en", "ru"]);
}
