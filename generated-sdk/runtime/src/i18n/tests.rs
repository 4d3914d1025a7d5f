use super::*;

/// The example's messages: a flat English file and a German one with
/// plural forms, as a plugin ships them.
const EN: &str = r#"{
    "hello": "Hello, {{.Name}}!",
    "hellos": "Hello, {{.Name}}! (hello number {{.Count}})"
}"#;
const DE: &str = r#"{
    "hello": "Hallo, {{.Name}}!",
    "hellos": {
        "description": "Name: who is greeted; Count: the hellos so far",
        "hash": "sha1-0000000000000000000000000000000000000000",
        "one": "Hallo, {{.Name}}! ({{.Count}} Hallo bisher)",
        "other": "Hallo, {{ .Name }}! ({{ .Count }} Hallos bisher)"
    }
}"#;

const HELLO: Message = Message::new("hello", "Hello, {{.Name}}!");
const HELLOS: Message = Message::new("hellos", "Hello, {{.Name}}! (hello number {{.Count}})");

fn bundle(files: &[(&str, &str)]) -> Arc<Bundle> {
    let mut bundle = Bundle::new();
    for (name, json) in files {
        bundle.add_file(name, json.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    }
    Arc::new(bundle)
}

fn hello_bundle() -> Arc<Bundle> {
    bundle(&[("en.json", EN), ("de.json", DE)])
}

fn in_(bundle: &Arc<Bundle>, locales: &[&str]) -> Localizer {
    Localizer::new(Arc::clone(bundle), locales)
}

// ---- Both file forms, placeholders ------------------------------------------

#[test]
fn the_flat_and_the_nested_form_both_localize() {
    let bundle = hello_bundle();
    let (en, de) = (in_(&bundle, &["en"]), in_(&bundle, &["de"]));
    assert_eq!(en.localize(&HELLO, &[("Name", &"Ada")]), "Hello, Ada!");
    assert_eq!(de.localize(&HELLO, &[("Name", &"Ada")]), "Hallo, Ada!");
    assert_eq!(de.localize_count(&HELLOS, 1, &[("Name", &"Ada")]), "Hallo, Ada! (1 Hallo bisher)");
    assert_eq!(de.localize_count(&HELLOS, 7_u64, &[("Name", &"Ada")]), "Hallo, Ada! (7 Hallos bisher)");
    assert_eq!(en.localize_count(&HELLOS, 7_usize, &[("Name", &"Ada")]), "Hello, Ada! (hello number 7)");
    assert_eq!(bundle.languages().collect::<Vec<_>>(), ["en", "de"]);
    assert!(bundle.contains("de", "hellos") && !bundle.contains("de", "nope") && !bundle.contains("fr", "hello"));
}

#[test]
fn placeholders_take_any_displayable_value_and_a_missing_one_shows_as_in_go() {
    let bundle = bundle(&[("fr.json", r#"{"m": "{{.Who}} a {{.Age}} ans, {{.Unknown}}"}"#)]);
    let fr = in_(&bundle, &["fr"]);
    let message = Message::new("m", "{{.Who}} is {{.Age}}");
    assert_eq!(fr.localize(&message, &[("Who", &String::from("Ada")), ("Age", &36)]), "Ada a 36 ans, <no value>");
    // Values are matched by exact name, as Go's map keys are.
    assert_eq!(fr.localize(&message, &[("who", &"Ada")]), "<no value> a <no value> ans, <no value>");
}

#[test]
fn the_count_fills_count_and_plural_count_unless_given() {
    let message = Message::new("m", "{{.Count}}/{{.PluralCount}}");
    let en = in_(&Arc::new(Bundle::new()), &[]);
    assert_eq!(en.localize_count(&message, -3, &[]), "-3/-3");
    assert_eq!(en.localize_count(&message, 3, &[("Count", &"three")]), "three/3");
    assert_eq!(en.localize(&message, &[]), "<no value>/<no value>", "no count, no values");
}

// ---- Plural forms in several languages --------------------------------------

#[test]
fn each_language_picks_its_plural_forms() {
    let files = [
        ("en.json", r#"{"n": {"one": "one", "other": "other"}}"#),
        ("active.ru.json", r#"{"n": {"one": "one", "few": "few", "many": "many", "other": "other"}}"#),
        ("active.pl.json", r#"{"n": {"one": "one", "few": "few", "many": "many", "other": "other"}}"#),
        ("active.ja.json", r#"{"n": {"other": "other"}}"#),
        ("active.fr.json", r#"{"n": {"one": "one", "many": "many", "other": "other"}}"#),
        ("active.cs.json", r#"{"n": {"one": "one", "few": "few", "many": "many", "other": "other"}}"#),
        (
            "active.ar.json",
            r#"{"n": {"zero": "zero", "one": "one", "two": "two", "few": "few", "many": "many", "other": "other"}}"#,
        ),
    ];
    let bundle = bundle(&files);
    let message = Message::new("n", "code");
    let forms = |locale: &str, counts: &[i64]| -> Vec<String> {
        let localizer = in_(&bundle, &[locale]);
        assert_eq!(localizer.language(), locale);
        counts.iter().map(|n| localizer.localize_count(&message, *n, &[])).collect()
    };
    assert_eq!(forms("en", &[0, 1, 2]), ["other", "one", "other"]);
    assert_eq!(
        forms("ru", &[1, 2, 5, 11, 21, 22, 25, 111]),
        ["one", "few", "many", "many", "one", "few", "many", "many"]
    );
    assert_eq!(forms("pl", &[1, 2, 5, 12, 21, 22]), ["one", "few", "many", "many", "many", "few"]);
    assert_eq!(forms("ja", &[0, 1, 2]), ["other", "other", "other"]);
    assert_eq!(forms("fr", &[0, 1, 2, 1_000_000]), ["one", "one", "other", "many"]);
    assert_eq!(forms("cs", &[1, 3, 5]), ["one", "few", "other"]);
    assert_eq!(forms("ar", &[0, 1, 2, 3, 11, 100]), ["zero", "one", "two", "few", "many", "other"]);
}

#[test]
fn a_form_a_translation_lacks_falls_back_to_its_other_form() {
    // The translator gave Russian `one` and `other` only.
    let bundle = bundle(&[("ru.json", r#"{"n": {"one": "{{.Count}} файл", "other": "{{.Count}} файлов"}}"#)]);
    let ru = in_(&bundle, &["ru"]);
    let message = Message::new("n", "{{.Count}} files").one("{{.Count}} file");
    assert_eq!(ru.localize_count(&message, 21, &[]), "21 файл");
    assert_eq!(ru.localize_count(&message, 3, &[]), "3 файлов", "few: not given, so other");
}

#[test]
fn a_translation_without_the_form_nor_other_gives_way_to_english() {
    let bundle = bundle(&[("de.json", r#"{"n": {"one": "ein Ding"}}"#)]);
    let de = in_(&bundle, &["de"]);
    let message = Message::new("n", "{{.Count}} things").one("one thing");
    assert_eq!(de.localize_count(&message, 1, &[]), "ein Ding");
    assert_eq!(de.localize_count(&message, 2, &[]), "2 things");
}

// ---- Which language: the locale chain ---------------------------------------

#[test]
fn the_users_locale_then_the_servers_then_english() {
    let bundle = bundle(&[("de.json", DE), ("active.fr.json", r#"{"hello": "Bonjour, {{.Name}} !"}"#)]);
    let greet = |locales: &[&str]| in_(&bundle, locales).localize(&HELLO, &[("Name", &"Ada")]);
    assert_eq!(greet(&["fr", "de"]), "Bonjour, Ada !", "the user's");
    assert_eq!(greet(&["es", "de"]), "Hallo, Ada!", "no Spanish: the server's");
    assert_eq!(greet(&["", "de"]), "Hallo, Ada!", "no locale set: the server's");
    assert_eq!(greet(&["es", "it"]), "Hello, Ada!", "neither: English");
    assert_eq!(greet(&["not a tag!", "fr"]), "Bonjour, Ada !");
    assert_eq!(greet(&[]), "Hello, Ada!");
    // English is always a language: an English user on a German server
    // reads English, though no English file was loaded.
    assert_eq!(greet(&["en", "de"]), "Hello, Ada!");
    assert_eq!(greet(&["en-AU", "de"]), "Hello, Ada!");
}

#[test]
fn a_region_falls_back_to_its_language_and_scripts_are_kept_apart() {
    let bundle = bundle(&[
        ("pt.json", r#"{"hello": "Olá (pt)"}"#),
        ("pt-BR.json", r#"{"hello": "Olá (pt-BR)"}"#),
        ("zh-CN.json", r#"{"hello": "你好"}"#),
        ("de-AT.json", r#"{"hello": "Servus"}"#),
    ]);
    let language = |locale: &str| bundle.language_for(&[locale]).to_owned();
    assert_eq!(language("pt-BR"), "pt-BR");
    assert_eq!(language("pt-PT"), "pt", "the language without a region before another region");
    assert_eq!(language("pt_br"), "pt-BR");
    assert_eq!(language("de-DE"), "de-AT", "another region of the language");
    assert_eq!(language("de"), "de-AT");
    assert_eq!(language("zh-CN"), "zh-CN");
    assert_eq!(language("zh"), "zh-CN", "Chinese without a region is Simplified");
    assert_eq!(language("zh-TW"), "en", "Traditional Chinese is not served by Simplified");
    assert_eq!(in_(&bundle, &["pt-PT"]).localize(&HELLO, &[]), "Olá (pt)");
}

#[test]
fn languages_are_told_by_the_file_name_and_files_of_one_language_merge() {
    let bundle = bundle(&[
        ("assets/i18n/active.de.json", r#"{"a": "A1", "b": "B1"}"#),
        ("assets/i18n/de.json", r#"{"b": "B2"}"#),
        ("zh_TW.json", r#"{"a": "甲"}"#),
    ]);
    assert_eq!(bundle.languages().collect::<Vec<_>>(), ["en", "de", "zh-TW"]);
    let de = in_(&bundle, &["de"]);
    assert_eq!(de.localize(&Message::new("a", "-"), &[]), "A1");
    assert_eq!(de.localize(&Message::new("b", "-"), &[]), "B2", "the later file's message replaces");
    assert_eq!(in_(&bundle, &["zh-Hant-TW"]).language(), "zh-TW");
}

// ---- Missing ids: the code's message ---------------------------------------

#[test]
fn an_id_no_file_has_is_the_codes_message() {
    let bundle = hello_bundle();
    let de = in_(&bundle, &["de"]);
    let new_message = Message::new("new.feature", "{{.Count}} new features").one("A new feature");
    assert_eq!(de.localize_count(&new_message, 1, &[]), "A new feature", "English's rules for the English text");
    assert_eq!(de.localize_count(&new_message, 0, &[]), "0 new features");
    assert_eq!(de.localize(&new_message, &[]), "<no value> new features");
}

#[test]
fn an_id_only_the_english_file_has_is_the_english_files() {
    let bundle = bundle(&[("en.json", r#"{"m": "From en.json"}"#), ("de.json", "{}")]);
    let de = in_(&bundle, &["de"]);
    assert_eq!(de.language(), "de");
    assert_eq!(de.localize(&Message::new("m", "From the code"), &[]), "From en.json");
}

#[test]
fn the_codes_own_delimiters_and_unsupported_syntax() {
    let en = in_(&Arc::new(Bundle::new()), &[]);
    let braces = Message::new("braces", "Type {{ to open, [[.Name]]").delims("[[", "]]");
    assert_eq!(en.localize(&braces, &[("Name", &"Ada")]), "Type {{ to open, Ada");
    // The code's text is not checked until it is used: shown as it is.
    let logic = Message::new("logic", "{{if .X}}x{{end}}");
    assert_eq!(en.localize(&logic, &[("X", &true)]), "{{if .X}}x{{end}}");
    assert_eq!(logic.id(), "logic");
    assert_eq!((logic.text(PluralForm::Other), logic.text(PluralForm::One)), (Some("{{if .X}}x{{end}}"), None));
}

// ---- Errors name the file ---------------------------------------------------

#[test]
fn a_file_that_is_not_json_names_the_file_and_the_position() {
    let mut bundle = Bundle::new();
    let error = bundle.add_file("assets/i18n/de.json", b"{\"a\": \"x\",}").unwrap_err();
    assert!(
        matches!(&error, I18nError::Json { file, source } if file == "assets/i18n/de.json" && source.line() == 1 && source.column() == 11),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "assets/i18n/de.json: not valid JSON: trailing comma at line 1 column 11");
    assert!(bundle.languages().eq(["en"]), "nothing added");
}

#[test]
fn a_name_without_a_language_is_refused() {
    let error = Bundle::new().add_file("assets/i18n/messages.json", b"{}").unwrap_err();
    assert!(error.to_string().starts_with("assets/i18n/messages.json: the name gives no language"), "{error}");
    assert!(matches!(Bundle::new().add_file("json", b"{}"), Err(I18nError::FileName { .. })));
}

#[test]
fn a_template_beyond_placeholders_is_refused_naming_message_and_form() {
    let error = Bundle::new().add_file("ru.json", r#"{"n": {"few": "{{.Count | printf}}"}}"#.as_bytes()).unwrap_err();
    assert!(matches!(&error, I18nError::Template { id, form: PluralForm::Few, .. } if id == "n"), "{error:?}");
    assert!(error.to_string().starts_with("ru.json: message \"n\" (few): `{{.Count | printf}}`: pipelines"), "{error}");
}

// ---- A folder of files ------------------------------------------------------

#[test]
fn a_folder_is_read_in_name_order_skipping_goi18n_work_files_and_others() {
    let dir = std::env::temp_dir().join(format!("mmplugin-i18n-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
    write("de.json", r#"{"hello": "Hallo"}"#);
    write("active.de.json", r#"{"hello": "Hallo (active)", "bye": "Tschüss"}"#);
    write("translate.de.json", r#"{"hello": {"hash": "sha1-1", "other": "Hello"}}"#);
    write("README.md", "not messages");
    write("active.en.json", "");
    let bundle = Arc::new(Bundle::load_dir(&dir).unwrap());
    let de = in_(&bundle, &["de"]);
    assert_eq!(de.localize(&HELLO, &[]), "Hallo", "de.json after active.de.json");
    assert_eq!(de.localize(&Message::new("bye", "Bye"), &[]), "Tschüss");
    assert_eq!(bundle.languages().collect::<Vec<_>>(), ["en", "de"]);

    write("fr.json", "{\n  \"hello\": \"Bonjour\"\n  \"bye\": \"Au revoir\"\n}");
    let error = Bundle::load_dir(&dir).unwrap_err();
    let wanted = format!("{}: not valid JSON: expected `,` or `}}` at line 3 column 3", dir.join("fr.json").display());
    assert_eq!(error.to_string(), wanted);
    std::fs::remove_dir_all(&dir).unwrap();

    let missing = Bundle::load_dir(&dir).unwrap_err();
    assert!(
        matches!(&missing, I18nError::Io { path, source } if *path == dir && source.kind() == io::ErrorKind::NotFound)
    );
}

#[tokio::test]
async fn a_folder_loads_off_the_async_threads_too() {
    let error = Bundle::load_dir_async("/nonexistent/assets/i18n").await.unwrap_err();
    assert!(error.to_string().starts_with("/nonexistent/assets/i18n: "), "{error}");
}
