//! The plugin's own files: `assets/`, `public/`, the webapp bundle and the
//! icon, found beside the manifest (or where the command line says), checked,
//! and turned into entries of the archive.
//!
//! What the server does with them (`runtime/src/host_rules.md`, "A bundle's
//! other files"; each rule below names the server function it comes from):
//!
//! - The installed plugin folder is `PluginSettings.Directory/<id>`, and
//!   `GetBundlePath` answers it, made absolute (`PluginAPI.GetBundlePath`,
//!   `server/channels/app/plugin_api.go`): a plugin reads `assets/…` there.
//! - `public/` is served as it is at `/plugins/<id>/public/…`
//!   (`Environment.PublicFilesPath`, `server/public/plugin/environment.go`;
//!   `Channels.ServePluginPublicRequest`, `server/channels/app/plugin_requests.go`).
//! - The webapp: when the manifest has `webapp`, `Environment.UnpackWebappBundle`
//!   (`environment.go`) cleans `webapp.bundle_path`, refuses it when it is empty
//!   or starts with a dot, copies the whole folder holding it to the client
//!   folder and reads the bundle there; any failure fails the installation and
//!   the activation (`installExtractedPlugin`, `server/channels/app/plugin_install.go`).
//!   So the bundle holds that whole folder, and a missing bundle is an error.
//! - The icon: `getIcon` (`server/channels/app/plugin.go`) reads
//!   `<plugin folder>/<icon_path>` and takes it only if `svg.Is` (h2non/go-is-svg)
//!   says SVG; anything else is logged and no icon is shown. So the icon must
//!   be in the bundle and pass that check.
//! - The server's extraction (`extractTarGz`, package `app`) keeps folders and
//!   regular files only (a symlink is dropped, with a warning) and writes each
//!   file with the mode in its header. So a link inside the project goes in as
//!   the file or folder it names, and modes are fixed: 0644 files, 0755 folders.
//!
//! A symlink is followed only when it stays inside the project (the manifest's
//! folder, or a folder given on the command line): anything else could put a
//! file from elsewhere on the machine into a bundle that is then shared.

use std::{
    collections::BTreeMap,
    fs, io,
    path::{Path, PathBuf},
};

use serde_json::{Map, Value};

use super::{Contents, Entry};

/// The mode of the plugin's own files, whatever they had on disk: data,
/// read by the plugin or served by the server, never run.
const FILE: u32 = 0o644;
/// The mode of folders.
const FOLDER: u32 = 0o755;
/// The longest name of one file or folder (Linux's and macOS's `NAME_MAX`).
const NAME_MAX: usize = 255;
/// Where the starter template builds its webapp; noted when it is there and
/// the manifest names no webapp.
const CONVENTIONAL_WEBAPP: &str = "webapp/dist/main.js";

/// Where a folder the bundle ships as it is (`assets/`, `public/`) comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Folder {
    /// The folder of that name beside the manifest, when there is one.
    #[default]
    Beside,
    /// This folder, which must exist; it goes into the bundle under the
    /// usual name whatever its own.
    At(PathBuf),
    /// None, even if there is one beside the manifest.
    Skip,
}

/// Which folders go into the bundle as they are, besides what the manifest
/// names (its icon and its webapp bundle, always).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Include {
    /// `assets/`: files the plugin reads at run time from its bundle path
    /// (`GetBundlePath`): images, templates, translations.
    pub assets: Folder,
    /// `public/`: files the server serves at `/plugins/<id>/public/…`.
    pub public: Folder,
}

/// The folders [`Include`] chooses, by their name in the bundle.
const FOLDERS: [&str; 2] = ["assets", "public"];

impl Include {
    fn folder(&self, name: &str) -> &Folder {
        if name == "assets" { &self.assets } else { &self.public }
    }
}

/// The plugin's own files, ready for the archive.
#[derive(Debug, Default)]
pub(super) struct Found {
    /// Files and folders, paths relative to the plugin folder.
    pub entries: Vec<Entry>,
    /// What the author should know (a file left out).
    pub notes: Vec<String>,
}

/// One thing found: a folder, or a file with where it is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Folder,
    File { source: PathBuf, size: u64 },
}

/// Finds and checks the plugin's own files for the manifest at
/// `manifest_path` (its JSON object `author`): the folders `include` chooses,
/// the webapp bundle's folder and the icon the manifest names. `taken` are
/// the paths the bundle already uses (`plugin.json`, the launcher, the
/// binaries). Every problem is one line naming the file (or the manifest
/// and its field); all are reported, not only the first.
///
/// `out`, the folder the bundle is written into, is left out wherever it
/// is met (an earlier bundle in `assets/dist/` would otherwise go in).
pub(super) fn find(
    manifest_path: &Path,
    author: &Map<String, Value>,
    include: &Include,
    taken: &[String],
    out: &Path,
) -> Result<Found, Vec<String>> {
    // The manifest's folder, as given (empty for the working directory, so
    // that problems name `assets/x`, not `./assets/x`).
    let project = manifest_path.parent().map(Path::to_owned).unwrap_or_default();
    let mut walk = Walk {
        roots: Vec::new(),
        items: BTreeMap::new(),
        problems: Vec::new(),
        stack: Vec::new(),
        manifest: manifest_path.display().to_string(),
        out: fs::canonicalize(out).ok(),
        notes: Vec::new(),
    };
    match fs::canonicalize(if project.as_os_str().is_empty() { Path::new(".") } else { &project }) {
        Ok(root) => walk.roots.push(root),
        Err(e) => return Err(vec![format!("{}: {e}", project.display())]),
    }
    let mut included = Vec::new();
    for name in FOLDERS {
        let source = match include.folder(name) {
            Folder::Skip => continue,
            Folder::Beside => {
                let beside = project.join(name);
                if fs::symlink_metadata(&beside).is_err() {
                    continue;
                }
                beside
            }
            Folder::At(dir) => {
                match fs::canonicalize(dir) {
                    Ok(root) if root.is_dir() => walk.roots.push(root),
                    _ => {
                        walk.problems.push(format!(
                            "{}: no such folder (given for {name}/, the bundle's {name} folder)",
                            dir.display()
                        ));
                        continue;
                    }
                }
                dir.clone()
            }
        };
        if fs::metadata(&source).is_ok_and(|meta| !meta.is_dir()) {
            walk.problems
                .push(format!("{}: a file, not a folder (the bundle's {name}/ is a folder)", source.display()));
            continue;
        }
        if walk.add(&source, name, true) && !matches!(include.folder(name), Folder::Beside) {
            // Something the manifest names under this name is looked for
            // in the folder given, not beside the manifest.
            included.push((name, source));
        }
    }
    walk.webapp(&project, author, &included);
    walk.icon(&project, author, &included);
    walk.clear_of(taken);
    if !walk.problems.is_empty() {
        return Err(walk.problems);
    }
    let entries = walk
        .items
        .into_iter()
        .map(|(path, item)| match item {
            Item::Folder => Entry { path, mode: FOLDER, contents: Contents::Dir },
            Item::File { source, size } => Entry { path, mode: FILE, contents: Contents::File { source, size } },
        })
        .collect();
    Ok(Found { entries, notes: walk.notes })
}

/// The state of the search: what was found, what is wrong.
struct Walk {
    /// Where a symlink may lead: the project, and the folders given.
    roots: Vec<PathBuf>,
    /// Path in the plugin folder → what is there.
    items: BTreeMap<String, Item>,
    problems: Vec<String>,
    /// The folders being walked, resolved: a link to one of them never ends.
    stack: Vec<PathBuf>,
    /// The manifest's path, as problems with its fields name it.
    manifest: String,
    /// The folder the bundle is written into, resolved, if it exists.
    out: Option<PathBuf>,
    /// What the author should know: a file left out.
    notes: Vec<String>,
}

impl Walk {
    /// A problem with a field of the manifest.
    fn field(&mut self, field: &str, message: impl AsRef<str>) {
        self.problems.push(format!("{}: {field}: {}", self.manifest, message.as_ref()));
    }

    /// Adds what is at `source` (a file, or a folder and all it holds) as
    /// `at` in the plugin folder. A missing `source` is a problem only when
    /// `must`. Returns whether anything was added.
    fn add(&mut self, source: &Path, at: &str, must: bool) -> bool {
        let Some((real, meta)) = self.resolve(source, must) else { return false };
        if meta.is_dir() {
            if self.stack.contains(&real) {
                self.problems.push(format!(
                    "{}: a symlink to a folder it is in ({}): it would never end",
                    source.display(),
                    real.display()
                ));
                return false;
            }
            self.stack.push(real);
            self.folder(at);
            let mut children = match fs::read_dir(source).and_then(|d| d.collect::<io::Result<Vec<_>>>()) {
                Ok(children) => children,
                Err(e) => {
                    self.problems.push(format!("{}: {e}", source.display()));
                    self.stack.pop();
                    return false;
                }
            };
            children.sort_by_key(fs::DirEntry::file_name);
            for child in children {
                let path = child.path();
                let name = child.file_name();
                let Some(name) = name.to_str() else {
                    self.problems
                        .push(format!("{}: the name is not UTF-8, which a bundle's entries must be", path.display()));
                    continue;
                };
                if let Some(problem) = name_problem(name) {
                    self.problems.push(format!("{}: {problem}", path.display()));
                    continue;
                }
                if self.out.is_some() && fs::canonicalize(&path).ok() == self.out {
                    self.notes.push(format!("left out {}: the bundle is written there", path.display()));
                    continue;
                }
                self.add(&path, &format!("{at}/{name}"), true);
            }
            self.stack.pop();
            true
        } else if meta.is_file() {
            let item = Item::File { source: source.to_owned(), size: meta.len() };
            let parts: Vec<&str> = at.split('/').collect();
            for n in 1..parts.len() {
                self.folder(&parts[..n].join("/"));
            }
            match self.items.get(at) {
                Some(Item::Folder) => {
                    self.problems.push(format!("{}: {at} is a folder in the bundle already", source.display()));
                    false
                }
                _ => {
                    self.items.insert(at.to_owned(), item);
                    true
                }
            }
        } else {
            self.problems.push(format!("{}: not a regular file or a folder", source.display()));
            false
        }
    }

    fn folder(&mut self, at: &str) {
        self.items.entry(at.to_owned()).or_insert(Item::Folder);
    }

    /// What `source` is, following a symlink that stays inside the project
    /// (the link's target, resolved, and its metadata); `None` after a
    /// problem, or when it is missing and not `must`.
    fn resolve(&mut self, source: &Path, must: bool) -> Option<(PathBuf, fs::Metadata)> {
        let link = match fs::symlink_metadata(source) {
            Ok(meta) => meta.file_type().is_symlink(),
            Err(e) if e.kind() == io::ErrorKind::NotFound && !must => return None,
            Err(e) => {
                self.problems.push(format!("{}: {e}", source.display()));
                return None;
            }
        };
        let real = match fs::canonicalize(source) {
            Ok(real) => real,
            Err(_) if link => {
                let target = fs::read_link(source).map(|t| t.display().to_string()).unwrap_or_default();
                self.problems.push(format!("{}: a symlink to {target:?}, which does not exist", source.display()));
                return None;
            }
            Err(e) => {
                self.problems.push(format!("{}: {e}", source.display()));
                return None;
            }
        };
        if !self.roots.iter().any(|root| real.starts_with(root)) {
            let how = if link {
                let target = fs::read_link(source).map(|t| t.display().to_string()).unwrap_or_default();
                format!("a symlink to {target:?} ({})", real.display())
            } else {
                format!("reached through a symlinked folder ({})", real.display())
            };
            self.problems.push(format!(
                "{}: {how}, outside the plugin project ({}): a bundle takes no file from elsewhere on this \
                 machine; copy it into the project instead",
                source.display(),
                self.roots[0].display()
            ));
            return None;
        }
        match fs::metadata(&real) {
            Ok(meta) => Some((real, meta)),
            Err(e) => {
                self.problems.push(format!("{}: {e}", source.display()));
                None
            }
        }
    }

    /// The webapp bundle the manifest names, with the folder holding it.
    fn webapp(&mut self, project: &Path, author: &Map<String, Value>, included: &[(&str, PathBuf)]) {
        const FIELD: &str = "webapp.bundle_path";
        let Some(Value::Object(webapp)) = author.get("webapp") else {
            // `HasWebapp` is `webapp != null`; without it the server loads no webapp.
            if project.join(CONVENTIONAL_WEBAPP).is_file() {
                self.notes.push(format!(
                    "{CONVENTIONAL_WEBAPP} is there, but the manifest has no {FIELD}, so it is not bundled \
                     (the server loads a webapp only from the path the manifest names)"
                ));
            }
            return;
        };
        let asked = webapp.get("bundle_path").and_then(Value::as_str).unwrap_or("");
        if asked.is_empty() {
            self.field(
                FIELD,
                "required when the manifest has a webapp: the server fails to install and to activate \
                 a plugin with a webapp and no bundle path",
            );
            return;
        }
        let Some(path) = self.inside(FIELD, asked) else { return };
        if path.starts_with('.') {
            self.field(
                FIELD,
                format!("{asked:?} starts with a dot (once cleaned): the server refuses such a webapp bundle path"),
            );
            return;
        }
        let folder = path.rsplit_once('/').map(|(folder, _)| folder);
        match folder {
            // The server copies the bundle's whole folder; at the top, that
            // is the plugin folder itself: only the bundle is taken then.
            None => {
                if !self.items.contains_key(&path) {
                    self.named(FIELD, asked, project, &path);
                }
            }
            Some(folder) => {
                if let Some((name, source)) = under_included(folder, included) {
                    if !matches!(self.items.get(&path), Some(Item::File { .. })) {
                        self.field(
                            FIELD,
                            format!("{asked:?} is not in the {name} folder bundled ({})", source.display()),
                        );
                    }
                    return;
                }
                let source = project.join(folder);
                if fs::symlink_metadata(&source).is_err() {
                    self.field(
                        FIELD,
                        format!("{asked:?} does not exist: no folder {} (build the webapp first)", source.display()),
                    );
                    return;
                }
                if self.add(&source, folder, true) && !matches!(self.items.get(&path), Some(Item::File { .. })) {
                    let looked = project.join(&path);
                    let what = if looked.is_dir() { "is a folder, not a file" } else { "does not exist" };
                    self.field(FIELD, format!("{asked:?} {what} ({})", looked.display()));
                }
            }
        }
    }

    /// The icon the manifest names, checked as the server reads it.
    fn icon(&mut self, project: &Path, author: &Map<String, Value>, included: &[(&str, PathBuf)]) {
        const FIELD: &str = "icon_path";
        let Some(asked) = author.get(FIELD).and_then(Value::as_str).filter(|p| !p.is_empty()) else { return };
        let Some(path) = self.inside(FIELD, asked) else { return };
        if !self.items.contains_key(&path) {
            if let Some((name, source)) = under_included(&path, included) {
                self.field(FIELD, format!("{asked:?} is not in the {name} folder bundled ({})", source.display()));
                return;
            }
            if !self.named(FIELD, asked, project, &path) {
                return;
            }
        }
        let source = match self.items.get(&path) {
            Some(Item::File { source, .. }) => source.clone(),
            _ => {
                self.field(FIELD, format!("{asked:?} is a folder, not a file ({})", project.join(&path).display()));
                return;
            }
        };
        match fs::read(&source) {
            Ok(bytes) => {
                if let Err(why) = svg_problem(&bytes) {
                    self.field(
                        FIELD,
                        format!(
                            "{asked:?} is not an SVG image as the server reads one: {why}; the server shows no \
                             icon for it (its check: getIcon, with h2non/go-is-svg)"
                        ),
                    );
                }
            }
            Err(e) => self.field(FIELD, format!("{asked:?}: {e} ({})", source.display())),
        }
    }

    /// Adds the one file a manifest field names, at `path` from `project`.
    fn named(&mut self, field: &str, asked: &str, project: &Path, path: &str) -> bool {
        let source = project.join(path);
        match fs::symlink_metadata(&source) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.field(field, format!("{asked:?} does not exist ({})", source.display()));
                false
            }
            Ok(meta) if meta.is_dir() => {
                self.field(field, format!("{asked:?} is a folder, not a file ({})", source.display()));
                false
            }
            _ => self.add(&source, path, true),
        }
    }

    /// `asked`, cleaned as the server's `filepath.Clean` does, when it names
    /// a file inside the plugin folder; else a problem with `field`.
    fn inside(&mut self, field: &str, asked: &str) -> Option<String> {
        match clean(asked) {
            Ok(path) => Some(path),
            Err(problem) => {
                self.field(field, format!("{asked:?} {problem}"));
                None
            }
        }
    }

    /// Checks that nothing found lands where the bundle puts its own files
    /// (or makes a folder of one of them).
    fn clear_of(&mut self, taken: &[String]) {
        let under = |child: &str, parent: &str| child.strip_prefix(parent).is_some_and(|rest| rest.starts_with('/'));
        let mut clashes = Vec::new();
        for (path, item) in &self.items {
            let clash = taken.iter().find(|t| *t == path || matches!(item, Item::File { .. }) && under(t, path));
            if let Some(other) = clash {
                let what = match item {
                    Item::File { source, .. } => source.display().to_string(),
                    Item::Folder => format!("the folder {path}"),
                };
                clashes.push(format!("{what}: would be {path} in the bundle, where the bundle puts {other}"));
            }
        }
        self.problems.extend(clashes);
    }
}

/// `path` cleaned as Go's `filepath.Clean` cleans it (no `.`, no empty
/// parts), when it names something inside the plugin folder; else why not.
fn clean(path: &str) -> Result<String, String> {
    if path.starts_with('/') || path.get(1..3) == Some(":\\") {
        return Err("is absolute: name it relative to the plugin folder (where plugin.json is)".into());
    }
    if path.contains('\\') {
        return Err("has a backslash: separate folders with / (the server on Windows reads \\ as one)".into());
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(
                        "leaves the plugin folder: the server reads it from inside the plugin folder only".into()
                    );
                }
            }
            part => parts.push(part),
        }
    }
    if parts.is_empty() {
        return Err("names the plugin folder itself, not a file".into());
    }
    if let Some(problem) = parts.iter().find_map(|p| name_problem(p)) {
        return Err(format!("is not a path a bundle can hold: {problem}"));
    }
    Ok(parts.join("/"))
}

/// The included folder (`assets`, `public`) that `path` is in, if any.
fn under_included<'a>(path: &str, included: &'a [(&'a str, PathBuf)]) -> Option<&'a (&'a str, PathBuf)> {
    included.iter().find(|(name, _)| path == *name || path.strip_prefix(name).is_some_and(|r| r.starts_with('/')))
}

/// What is wrong with the name of one file or folder in a bundle, if anything.
fn name_problem(name: &str) -> Option<String> {
    if name.contains('\\') {
        Some("the name has a backslash, which the server on Windows reads as a folder separator".into())
    } else if name.contains('\0') {
        Some("the name has a NUL character".into())
    } else if name.len() > NAME_MAX {
        Some(format!("the name is {} bytes long; no file system takes more than {NAME_MAX}", name.len()))
    } else {
        None
    }
}

/// Why `bytes` is not an SVG image to the server, if it is not. The server
/// (`getIcon`, `server/channels/app/plugin.go`) asks h2non/go-is-svg, whose
/// rule is: not binary (none of the first 24 bytes is above 0x7f or below
/// 0x09); then, comments `<!-- … -->` removed and case ignored, optional
/// whitespace, an optional `<?xml …>`, an optional `<!doctype svg …>`, a
/// `<svg …>` tag, anything but `*`, and `</svg>` with only whitespace after.
pub(super) fn svg_problem(bytes: &[u8]) -> Result<(), String> {
    if bytes.len() >= 24 && bytes[..24].iter().any(|&b| b > 0x7f || b <= 8) {
        return Err("it is binary (a bitmap format? the server takes SVG only)".into());
    }
    let text = String::from_utf8_lossy(bytes);
    let mut rest = String::with_capacity(text.len());
    let mut left = text.as_ref();
    while let Some(start) = left.find("<!--") {
        rest.push_str(&left[..start]);
        match left[start..].find("-->") {
            Some(end) => left = &left[start + end + 3..],
            None => {
                left = &left[start..];
                break;
            }
        }
    }
    rest.push_str(left);
    let lower = rest.to_ascii_lowercase();
    let mut s = lower.trim_start();
    let skip_tag = |s: &str, open: &str| -> Option<usize> {
        s.strip_prefix(open)?;
        s.find('>').map(|end| end + 1)
    };
    if let Some(end) = skip_tag(s, "<?xml") {
        s = s[end..].trim_start();
    }
    if let Some(end) = skip_tag(s, "<!doctype svg") {
        s = s[end..].trim_start();
    }
    let Some(open_end) = skip_tag(s, "<svg") else {
        return Err("it does not start with an <svg> tag (after an optional <?xml …?> and <!DOCTYPE svg …>)".into());
    };
    let body = s[open_end..].trim_end();
    let Some(inner) = body.strip_suffix("</svg>") else {
        return Err("it does not end with </svg>".into());
    };
    if inner.contains('*') {
        return Err("it has a '*' inside <svg>…</svg>, which the server's SVG check refuses".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_as_the_server_checks_it() {
        for ok in [
            "<svg></svg>",
            "  <?xml version=\"1.0\"?>\n<!DOCTYPE svg PUBLIC \"x\">\n<svg a=\"*\">\n<g/></svg>\n",
            "<!-- * -->\n<SVG></Svg>",
        ] {
            assert_eq!(svg_problem(ok.as_bytes()), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("<svg><g/>", "end with </svg>"),
            ("<html><svg></svg></html>", "start with an <svg> tag"),
            ("<svg>a*b</svg>", "'*'"),
            ("\u{feff}<svg xmlns=\"http://www.w3.org/2000/svg\"></svg>", "binary"),
        ] {
            assert!(svg_problem(bad.as_bytes()).unwrap_err().contains(why), "{bad}");
        }
        assert!(svg_problem(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10\0\0\0\x10\x08").unwrap_err().contains("binary"));
    }

    #[test]
    fn paths_the_manifest_names_are_cleaned_as_the_server_cleans_them() {
        assert_eq!(clean("./assets//icon.svg").as_deref(), Ok("assets/icon.svg"));
        assert_eq!(clean("assets/x/../icon.svg").as_deref(), Ok("assets/icon.svg"));
        for (bad, why) in [
            ("../icon.svg", "leaves the plugin folder"),
            ("a/../../icon.svg", "leaves the plugin folder"),
            ("/icon.svg", "is absolute"),
            ("C:\\icon.svg", "is absolute"),
            ("assets\\icon.svg", "backslash"),
            ("./", "the plugin folder itself"),
            ("a\0b", "NUL"),
        ] {
            assert!(clean(bad).unwrap_err().contains(why), "{bad:?}: {:?}", clean(bad));
        }
    }

    #[test]
    fn names_a_bundle_cannot_hold() {
        assert!(name_problem("a\\b").is_some());
        assert!(name_problem(&"a".repeat(256)).is_some());
        assert!(name_problem(&"a".repeat(255)).is_none());
    }
}
