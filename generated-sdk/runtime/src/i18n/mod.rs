//! A plugin's own texts in the user's language, from the message files Go
//! plugins already ship: go-i18n v2's JSON files in the bundle's
//! `assets/i18n/` (`en.json`, `de.json`, `active.pt-BR.json`), read as they
//! are.
//!
//! - [`Bundle`]: the messages of every file, by language
//!   ([`Bundle::load_dir`], [`Bundle::add_file`]). A file's language is
//!   the tag in its name (`active.de.json` → `de`). English (`en`) is the
//!   default language, always there: the texts the code gives are English.
//! - [`Message`]: a message as the code gives it, its id and English texts
//!   (`Message::new("hello", "Hello, {{.Name}}!").one(…)`), usable in a
//!   `const`. The code's texts are what a user reads when no file has the
//!   id, as with Go's `LocalizeDefaultMessage`.
//! - [`Localizer`]: a bundle in one language, picked from a chain of
//!   locales (the user's, the server's default): the first one a loaded
//!   language serves, else English. [`Localizer::localize`] fills a
//!   message's `{{.Name}}` placeholders from a list of values;
//!   [`Localizer::localize_count`] also picks the plural form of a count by
//!   CLDR's rules for the language ([`plural_form`]).
//!
//! What is read of a file, and what of Go's templates is supported, is in
//! the `file` and `template` submodules' docs: placeholders `{{.Name}}`
//! (with spaces, trim markers, comments, a message's own delimiters), and
//! nothing else of `text/template`; a file that uses more is an
//! [`I18nError::Template`] naming the message, the form and the action.
//!
//! How this differs from Go's `pluginapi/i18n` (mattermost/mattermost,
//! `server/public/pluginapi/i18n/i18n.go`): Go loads only files named
//! `active.*.json` and skips `active.en.json`; this loads every `*.json`
//! but goi18n's work files `translate.*.json`, so `en.json` may hold the
//! English texts. Go falls back from the user's locale to English; this
//! tries the server's default locale in between, when the caller gives it.
//! Where Go's `LocalizeDefaultMessage` answers `""` (a translation missing,
//! a plural form missing), this answers the next text in line: the other
//! form, the English file's, the code's. Counts are whole numbers only.

mod file;
mod locale;
mod plural;
mod template;

use std::collections::HashMap;
use std::fmt::{self, Display};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use plural::{PluralForm, plural_form};

use locale::Tag;
use template::Template;

use crate::error::Error;

/// The default language: the code's texts are in it, and a locale nothing
/// else serves gets it.
pub const DEFAULT_LANGUAGE: &str = "en";

/// The values a message's placeholders are filled from: `{{.Name}}` takes
/// the value named `Name`.
///
/// ```
/// # use mmplugin_runtime::i18n::Values;
/// let (name, count) = ("Ada", 3);
/// let values: &Values = &[("Name", &name), ("Count", &count)];
/// # let _ = values;
/// ```
pub type Values<'a> = [(&'a str, &'a dyn Display)];

/// A message as the plugin's code gives it: its id and its English texts,
/// one per plural form (`other` always). The texts are go-i18n's: Go
/// template text with `{{.Name}}` placeholders.
///
/// ```
/// use mmplugin_runtime::i18n::Message;
///
/// const GREETING: Message = Message::new("greeting", "Hello, {{.Name}}!");
/// const ITEMS: Message = Message::new("items", "{{.Count}} items").one("One item");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    id: &'a str,
    forms: [&'a str; 6],
    left_delim: &'a str,
    right_delim: &'a str,
}

impl<'a> Message<'a> {
    /// The message `id`, whose `other` form is `other`.
    pub const fn new(id: &'a str, other: &'a str) -> Self {
        Self { id, forms: ["", "", "", "", "", other], left_delim: "", right_delim: "" }
    }

    /// The message with the text of the `zero` form.
    #[must_use]
    pub const fn zero(self, text: &'a str) -> Self {
        self.form(PluralForm::Zero, text)
    }

    /// The message with the text of the `one` form.
    #[must_use]
    pub const fn one(self, text: &'a str) -> Self {
        self.form(PluralForm::One, text)
    }

    /// The message with the text of the `two` form.
    #[must_use]
    pub const fn two(self, text: &'a str) -> Self {
        self.form(PluralForm::Two, text)
    }

    /// The message with the text of the `few` form.
    #[must_use]
    pub const fn few(self, text: &'a str) -> Self {
        self.form(PluralForm::Few, text)
    }

    /// The message with the text of the `many` form.
    #[must_use]
    pub const fn many(self, text: &'a str) -> Self {
        self.form(PluralForm::Many, text)
    }

    /// The message with its own template delimiters (go-i18n's `leftdelim`
    /// and `rightdelim`), for texts that must show `{{`.
    #[must_use]
    pub const fn delims(mut self, left: &'a str, right: &'a str) -> Self {
        self.left_delim = left;
        self.right_delim = right;
        self
    }

    /// The message's id.
    pub const fn id(&self) -> &'a str {
        self.id
    }

    /// The text of `form`, when the message has one.
    pub fn text(&self, form: PluralForm) -> Option<&'a str> {
        Some(self.forms[form.index()]).filter(|text| !text.is_empty())
    }

    const fn form(mut self, form: PluralForm, text: &'a str) -> Self {
        self.forms[form as usize] = text;
        self
    }
}

/// A count that picks a plural form: any primitive integer. Its absolute
/// value picks the form, as CLDR's `n`; the number itself fills
/// `{{.Count}}` and `{{.PluralCount}}`.
pub trait PluralCount: Copy + Display {
    /// The absolute value.
    fn magnitude(self) -> u64;
}

macro_rules! plural_count {
    ($($signed:ty),* ; $($unsigned:ty),*) => {
        $(impl PluralCount for $signed {
            fn magnitude(self) -> u64 {
                self.unsigned_abs() as u64
            }
        })*
        $(impl PluralCount for $unsigned {
            fn magnitude(self) -> u64 {
                self as u64
            }
        })*
    };
}

plural_count!(i8, i16, i32, i64, isize; u8, u16, u32, u64, usize);

/// Why message files could not be loaded. Each names the file.
#[derive(Debug)]
#[non_exhaustive]
pub enum I18nError {
    /// A file or the folder could not be read.
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// The file's name gives no language tag (`de.json`, `active.pt-BR.json`).
    FileName {
        /// The file.
        file: String,
    },
    /// The file is not valid JSON; serde_json's error has the line and
    /// column.
    Json {
        /// The file.
        file: String,
        /// Where and what.
        source: serde_json::Error,
    },
    /// The file is JSON, but not go-i18n's shape of messages.
    Format {
        /// The file.
        file: String,
        /// What is wrong, and under which keys.
        problem: String,
    },
    /// A message's text uses Go template syntax beyond `{{.Name}}`.
    Template {
        /// The file.
        file: String,
        /// The message.
        id: String,
        /// The plural form whose text it is.
        form: PluralForm,
        /// The action found, and why it is refused.
        problem: String,
    },
    /// An API call that loading needs failed (the bundle's path, the
    /// server's configuration).
    Api(Box<Error>),
}

impl Display for I18nError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Self::FileName { file } => write!(
                f,
                "{file}: the name gives no language: name message files by their language tag, as `de.json` or `active.pt-BR.json`"
            ),
            Self::Json { file, source } => write!(f, "{file}: not valid JSON: {source}"),
            Self::Format { file, problem } => write!(f, "{file}: {problem}"),
            Self::Template { file, id, form, problem } => write!(f, "{file}: message {id:?} ({form}): {problem}"),
            Self::Api(e) => write!(f, "cannot load the plugin's translations: {e}"),
        }
    }
}

impl std::error::Error for I18nError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Json { source, .. } => Some(source),
            Self::Api(e) => Some(&**e),
            Self::FileName { .. } | Self::Format { .. } | Self::Template { .. } => None,
        }
    }
}

impl From<Error> for I18nError {
    fn from(error: Error) -> Self {
        Self::Api(Box::new(error))
    }
}

/// A message read from a file: its parsed texts by plural form.
#[derive(Debug, Clone, Default)]
struct Entry {
    forms: [Option<Template>; 6],
}

/// The messages of one language.
#[derive(Debug, Clone)]
struct Language {
    tag: Tag,
    /// The tag as [`Localizer::language`] and [`Bundle::languages`] say it.
    name: String,
    messages: HashMap<String, Entry>,
}

impl Language {
    fn new(tag: Tag) -> Self {
        Self { name: tag.to_string(), tag, messages: HashMap::new() }
    }
}

/// Message files, loaded by language. English is always there, with the
/// messages of an English file if one was loaded.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// English first.
    languages: Vec<Language>,
}

impl Default for Bundle {
    fn default() -> Self {
        Self::new()
    }
}

impl Bundle {
    /// A bundle with no messages: English, from the code's texts only.
    pub fn new() -> Self {
        let english = Tag::parse(DEFAULT_LANGUAGE).expect("`en` is a tag");
        Self { languages: vec![Language::new(english)] }
    }

    /// Every message file in `dir`, in the order of their names: each
    /// `*.json` but goi18n's work files `translate.*.json` (other files are
    /// left alone, as a README would be). Fails on the first file that
    /// cannot be read or parsed, naming it.
    pub fn load_dir(dir: impl AsRef<Path>) -> Result<Self, I18nError> {
        let dir = dir.as_ref();
        let io_error = |path: &Path| {
            let path = path.to_owned();
            move |source| I18nError::Io { path, source }
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io_error(dir))? {
            let path = entry.map_err(io_error(dir))?.path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if name.ends_with(".json") && !name.starts_with("translate.") && path.is_file() {
                files.push(path);
            }
        }
        files.sort();
        let mut bundle = Self::new();
        for path in files {
            let bytes = std::fs::read(&path).map_err(io_error(&path))?;
            bundle.add_file(&path.display().to_string(), &bytes)?;
        }
        Ok(bundle)
    }

    /// [`Bundle::load_dir`] on a thread where blocking is fine, for async
    /// code (a hook).
    pub async fn load_dir_async(dir: impl Into<PathBuf>) -> Result<Self, I18nError> {
        let dir = dir.into();
        match tokio::task::spawn_blocking(move || Self::load_dir(dir)).await {
            Ok(loaded) => loaded,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(I18nError::Io { path: PathBuf::new(), source: io::Error::other(e) }),
        }
    }

    /// Adds the messages of the file `name` (a path or a file name: the
    /// language is read from its last part, as go-i18n reads it) holding
    /// `bytes`; a message already there for that language is replaced.
    /// Returns how many messages the file had.
    pub fn add_file(&mut self, name: &str, bytes: &[u8]) -> Result<usize, I18nError> {
        let file_name = name.rsplit(['/', '\\']).next().unwrap_or(name);
        let tag =
            Tag::parse(file::language_part(file_name)).ok_or_else(|| I18nError::FileName { file: name.to_owned() })?;
        let entries = file::parse(name, bytes)?;
        let count = entries.len();
        let language = match self.languages.iter().position(|l| l.tag == tag) {
            Some(at) => &mut self.languages[at],
            None => {
                self.languages.push(Language::new(tag));
                self.languages.last_mut().expect("just pushed")
            }
        };
        language.messages.extend(entries);
        Ok(count)
    }

    /// The languages loaded, as tags (`en`, `de`, `pt-BR`): English first,
    /// then in the order their first file was added.
    pub fn languages(&self) -> impl Iterator<Item = &str> {
        self.languages.iter().map(|l| l.name.as_str())
    }

    /// Whether a file gave `language` (a tag as [`Bundle::languages`] says
    /// it) the message `id`.
    pub fn contains(&self, language: &str, id: &str) -> bool {
        self.languages.iter().any(|l| l.name == language && l.messages.contains_key(id))
    }

    /// The language that serves the first of `locales` any loaded language
    /// serves (empty and malformed ones skipped), else English. See the
    /// [`Localizer`] for how a language serves a locale.
    pub fn language_for(&self, locales: &[&str]) -> &str {
        &self.languages[self.pick(locales)].name
    }

    fn pick(&self, locales: &[&str]) -> usize {
        for wanted in locales.iter().filter_map(|locale| Tag::parse(locale)) {
            let best = self
                .languages
                .iter()
                .enumerate()
                .filter_map(|(at, language)| language.tag.serves(&wanted).map(|quality| (quality, at)))
                // The best quality; of equals, the first loaded.
                .max_by(|(q1, at1), (q2, at2)| q1.cmp(q2).then(at2.cmp(at1)));
            if let Some((_, at)) = best {
                return at;
            }
        }
        0
    }
}

/// A [`Bundle`] in one language: what a hook answers one user with.
///
/// The language is the first of the locales given (typically the user's,
/// then the server's default) that a loaded language serves: the same
/// tag, else the language without a region (`pt-BR` → `pt`), else another
/// region of it (`en-AU` → `en`; `zh-TW` is never served by `zh-CN`); when
/// none is, English.
///
/// A message is looked up in that language, then in English's file, then
/// the code's texts are used; in each, the form the count takes in that
/// language, else `other`.
#[derive(Debug, Clone)]
pub struct Localizer {
    bundle: Arc<Bundle>,
    language: usize,
}

impl Localizer {
    /// `bundle` in the language that serves the first of `locales` it can,
    /// else English.
    pub fn new(bundle: Arc<Bundle>, locales: &[&str]) -> Self {
        let language = bundle.pick(locales);
        Self { bundle, language }
    }

    /// The language picked, as a tag (`de`, `pt-BR`, `en`).
    pub fn language(&self) -> &str {
        &self.bundle.languages[self.language].name
    }

    /// `message` in the localizer's language, its placeholders filled from
    /// `values`, in its `other` form.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use mmplugin_runtime::i18n::{Bundle, Localizer, Message};
    ///
    /// let mut bundle = Bundle::new();
    /// bundle.add_file("de.json", br#"{"greeting": "Hallo, {{.Name}}!"}"#).unwrap();
    /// let german = Localizer::new(Arc::new(bundle), &["de-AT"]);
    /// let greeting = Message::new("greeting", "Hello, {{.Name}}!");
    /// assert_eq!(german.localize(&greeting, &[("Name", &"Ada")]), "Hallo, Ada!");
    /// ```
    pub fn localize(&self, message: &Message<'_>, values: &Values<'_>) -> String {
        self.render(message, None, values)
    }

    /// `message` in the form `count` takes in the localizer's language (by
    /// CLDR's rules, [`plural_form`]), its placeholders filled from
    /// `values` and, unless `values` has them, `{{.Count}}` and
    /// `{{.PluralCount}}` from `count`. (Go's go-i18n fills only
    /// `PluralCount`, and only when no values are given.)
    ///
    /// ```
    /// use std::sync::Arc;
    /// use mmplugin_runtime::i18n::{Bundle, Localizer, Message};
    ///
    /// let mut bundle = Bundle::new();
    /// let russian = r#"{"files": {"one": "{{.Count}} файл", "few": "{{.Count}} файла", "many": "{{.Count}} файлов"}}"#;
    /// bundle.add_file("active.ru.json", russian.as_bytes()).unwrap();
    /// let files = Message::new("files", "{{.Count}} files").one("{{.Count}} file");
    /// let ru = Localizer::new(Arc::new(bundle), &["ru"]);
    /// assert_eq!(ru.localize_count(&files, 22, &[]), "22 файла");
    /// assert_eq!(ru.localize_count(&files, 25, &[]), "25 файлов");
    /// ```
    pub fn localize_count(&self, message: &Message<'_>, count: impl PluralCount, values: &Values<'_>) -> String {
        self.render(message, Some((count.magnitude(), count.to_string())), values)
    }

    fn render(&self, message: &Message<'_>, count: Option<(u64, String)>, values: &Values<'_>) -> String {
        let value = |name: &str| {
            let given = values.iter().find(|(key, _)| *key == name).map(|(_, value)| value.to_string());
            given.or_else(|| count.as_ref().filter(|_| name == "Count" || name == "PluralCount").map(|c| c.1.clone()))
        };
        let form_in = |language: &str| count.as_ref().map_or(PluralForm::Other, |(n, _)| plural_form(language, *n));
        let mut missing = Vec::new();
        // The localizer's language, then English's file.
        let languages = [self.language, 0];
        for &at in languages.iter().take(if self.language == 0 { 1 } else { 2 }) {
            let language = &self.bundle.languages[at];
            let Some(entry) = language.messages.get(message.id) else { continue };
            let form = form_in(&language.name);
            let Some(template) = entry.forms[form.index()].as_ref().or(entry.forms[PluralForm::Other.index()].as_ref())
            else {
                continue;
            };
            let text = template.render(value, &mut missing);
            warn_missing(message.id, &language.name, &missing);
            return text;
        }
        // The code's texts, in English.
        let form = form_in(DEFAULT_LANGUAGE);
        let source = message.text(form).or(message.text(PluralForm::Other)).unwrap_or_default();
        match Template::parse(source, message.left_delim, message.right_delim) {
            Ok(template) => {
                let text = template.render(value, &mut missing);
                warn_missing(message.id, DEFAULT_LANGUAGE, &missing);
                text
            }
            Err(unsupported) => {
                tracing::warn!(message = message.id, "the message's text is left as it is: {unsupported}");
                source.to_owned()
            }
        }
    }
}

/// Logs the placeholders a message had no value for.
fn warn_missing(id: &str, language: &str, missing: &[String]) {
    if !missing.is_empty() {
        tracing::warn!(message = id, language, "no value for {}: `<no value>` shown", missing.join(", "));
    }
}

#[cfg(test)]
mod tests;
