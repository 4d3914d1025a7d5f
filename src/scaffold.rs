//! `mmplugin-gen new DIR`: a new plugin project, ready to build, test and
//! bundle: `Cargo.toml`, `plugin.json`, `src/lib.rs` (the plugin: a hook
//! and an HTTP route), `src/main.rs` (one line that serves it),
//! `tests/plugin.rs` (its tests with the SDK's test kit), `src/settings.rs`
//! (the settings struct of its `plugin.json`), `assets/i18n/en.json` (its
//! texts, for translations beside it), `bundle.sh`, a README and a
//! `.gitignore`, and the SDK itself, generated into `mattermost-plugin/` from
//! the contract built into this binary, so the project builds anywhere.
//!
//! The project's files are the templates under `templates/new/`: askama
//! for those that carry the plugin's id, name or crate, `lib.rs` and
//! `en.json` as they are.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use askama::Template;

use crate::load::ProtoSources;

/// The folder of the generated SDK inside a new project.
pub const SDK_DIR: &str = "mattermost-plugin";

/// What the new plugin is called.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The plugin id (`com.example.my-plugin`); by default
    /// `com.example.<package>`.
    pub id: Option<String>,
    /// The plugin's display name; by default the package name in words
    /// (`my-plugin` → `My Plugin`).
    pub name: Option<String>,
}

/// Why a project was not created. Nothing is written then.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NewError {
    /// The folder exists and holds something.
    #[error("{0}: not empty; `new` writes only into a new or empty folder")]
    NotEmpty(PathBuf),
    /// The folder's name is not a cargo package name.
    #[error(
        "{0:?} cannot be a package name: start with a letter and use only letters, digits, `-` and `_` (name the folder so)"
    )]
    PackageName(String),
    /// The folder's name is a package name cargo or the project cannot use.
    #[error("{name:?} cannot be the package's name: {why} (name the folder otherwise)")]
    ReservedName {
        /// The name.
        name: String,
        /// Why not.
        why: &'static str,
    },
    /// The plugin id is not one Mattermost accepts.
    #[error("plugin id {0:?}: Mattermost takes 3 to 190 characters of letters, digits, `.`, `-` and `_`")]
    PluginId(String),
    /// The display name is empty.
    #[error("the plugin name must not be empty")]
    EmptyName,
    /// Generating the SDK or the settings struct failed.
    #[error("{0:#}")]
    Generate(anyhow::Error),
    /// Writing failed.
    #[error("{path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
}

/// A project file, relative to the project folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectFile {
    /// Where it goes.
    pub path: PathBuf,
    /// What it holds.
    pub contents: String,
    /// Whether it is a script to run.
    pub executable: bool,
}

#[derive(Template)]
#[template(path = "new/Cargo.toml.askama", escape = "none")]
struct CargoToml<'a> {
    crate_name: &'a str,
}

#[derive(Template)]
#[template(path = "new/plugin.json.askama", escape = "none")]
struct PluginJson<'a> {
    id: &'a str,
    id_json: &'a str,
    name_json: &'a str,
}

#[derive(Template)]
#[template(path = "new/README.md.askama", escape = "none")]
struct Readme<'a> {
    id: &'a str,
    name: &'a str,
}

#[derive(Template)]
#[template(path = "new/bundle.sh.askama", escape = "none")]
struct BundleSh<'a> {
    id: &'a str,
    crate_name: &'a str,
}

#[derive(Template)]
#[template(path = "new/main.rs.askama", escape = "none")]
struct MainRs<'a> {
    crate_ident: &'a str,
}

#[derive(Template)]
#[template(path = "new/tests/plugin.rs.askama", escape = "none")]
struct PluginTests<'a> {
    crate_ident: &'a str,
}

/// The plugin's source, as it is.
const LIB_RS: &str = include_str!("../templates/new/lib.rs");
/// What git leaves out.
const GITIGNORE: &str = include_str!("../templates/new/gitignore");
/// The plugin's texts in English, go-i18n's format.
const EN_JSON: &str = include_str!("../templates/new/assets/i18n/en.json");

/// Every file of the project `package` (the folder's name), the SDK's
/// included, in memory.
pub fn files(package: &str, options: &Options) -> Result<Vec<ProjectFile>, NewError> {
    if !is_package_name(package) {
        return Err(NewError::PackageName(package.to_owned()));
    }
    if let Some(why) = reserved(package) {
        return Err(NewError::ReservedName { name: package.to_owned(), why });
    }
    let id = options.id.clone().unwrap_or_else(|| format!("com.example.{package}"));
    if !is_plugin_id(&id) {
        return Err(NewError::PluginId(id));
    }
    let name = options.name.clone().unwrap_or_else(|| words(package));
    if name.trim().is_empty() {
        return Err(NewError::EmptyName);
    }
    let json = |s: &str| serde_json::to_string(s).expect("a string is JSON");
    let manifest = render(&PluginJson { id: &id, id_json: &json(&id), name_json: &json(&name) })?;
    let settings = crate::settings::generate(&manifest, &crate::settings::Options::default())
        .map_err(|e| NewError::Generate(anyhow::anyhow!("{e}")))?;
    let text = |path: &str, contents: String| ProjectFile { path: path.into(), contents, executable: false };
    let crate_ident = package.replace('-', "_");
    let mut files = vec![
        text("Cargo.toml", render(&CargoToml { crate_name: package })?),
        text("plugin.json", manifest),
        text("README.md", render(&Readme { id: &id, name: &name })?),
        text(".gitignore", GITIGNORE.to_owned()),
        text("src/lib.rs", LIB_RS.to_owned()),
        text("src/main.rs", render(&MainRs { crate_ident: &crate_ident })?),
        text("tests/plugin.rs", render(&PluginTests { crate_ident: &crate_ident })?),
        text("src/settings.rs", settings.source),
        text("assets/i18n/en.json", EN_JSON.to_owned()),
        ProjectFile {
            path: "bundle.sh".into(),
            contents: render(&BundleSh { id: &id, crate_name: package })?,
            executable: true,
        },
    ];
    let sdk =
        crate::generate(&ProtoSources::embedded(), &crate::render::SdkCrate::default()).map_err(NewError::Generate)?;
    files.extend(sdk.files.into_iter().map(|f| ProjectFile {
        path: Path::new(SDK_DIR).join(f.path),
        contents: f.contents,
        executable: false,
    }));
    Ok(files)
}

/// Creates the project in `dir` (new, or empty): every file is written
/// into a temporary folder beside it, which then becomes `dir` (or, for a
/// folder that exists, such as `.`, whose contents move into it, so the
/// folder a shell stands in stays the same folder), so a failure or an
/// interruption leaves nothing behind. Returns the files written, relative
/// to `dir`.
pub fn create(dir: &Path, options: &Options) -> Result<Vec<PathBuf>, NewError> {
    let io_error = |path: &Path| {
        let path = path.to_owned();
        move |source| NewError::Io { path, source }
    };
    match fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(NewError::NotEmpty(dir.to_owned()));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error(dir)(e)),
    }
    let absolute = std::path::absolute(dir).map_err(io_error(dir))?;
    let package = absolute.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let files = files(&package, options)?;

    let parent = absolute.parent().unwrap_or(Path::new("/"));
    fs::create_dir_all(parent).map_err(io_error(parent))?;
    // What a killed run of `new` left beside it.
    crate::litter::remove_stale(parent, staging_pid);
    let staging = parent.join(format!(".{package}{STAGING}{}", std::process::id()));
    let _staging = crate::litter::track(&staging);
    let written = write_all(&staging, &files);
    let mut moved = Vec::new();
    let placed = written.and_then(|()| {
        if !absolute.exists() {
            let _made = crate::litter::track(&absolute);
            return fs::rename(&staging, &absolute).map_err(io_error(&absolute));
        }
        // The (empty) folder stays: what is staged moves into it.
        for entry in fs::read_dir(&staging).map_err(io_error(&staging))? {
            let from = entry.map_err(io_error(&staging))?.path();
            let to = absolute.join(from.file_name().unwrap_or_default());
            moved.push(crate::litter::track(&to));
            fs::rename(&from, &to).map_err(io_error(&to))?;
        }
        fs::remove_dir(&staging).map_err(io_error(&staging))
    });
    if let Err(e) = placed {
        let _ = fs::remove_dir_all(&staging);
        for entry in &moved {
            let _ = fs::remove_dir_all(entry.path()).or_else(|_| fs::remove_file(entry.path()));
        }
        return Err(e);
    }
    drop(moved);
    Ok(files.into_iter().map(|f| f.path).collect())
}

/// The middle of a staging folder's name: `.<package>` before it, the pid after.
const STAGING: &str = ".mmplugin-gen-new-";

/// The pid in the name of a staging folder `create` made.
fn staging_pid(name: &str) -> Option<u32> {
    name.strip_prefix('.')?.rsplit_once(STAGING)?.1.parse().ok()
}

fn write_all(root: &Path, files: &[ProjectFile]) -> Result<(), NewError> {
    for file in files {
        let path = root.join(&file.path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|source| NewError::Io { path: parent.to_owned(), source })?;
        }
        fs::write(&path, &file.contents).map_err(|source| NewError::Io { path: path.clone(), source })?;
        #[cfg(unix)]
        if file.executable {
            use std::os::unix::fs::PermissionsExt as _;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
                .map_err(|source| NewError::Io { path: path.clone(), source })?;
        }
    }
    Ok(())
}

/// Cargo's rule, kept simple: a letter, then letters, digits, `-`, `_`.
fn is_package_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Why `name`, a valid package name, still cannot name the project: the
/// plugin's binary is named after it, and the project holds the SDK's
/// crates, so cargo would refuse the manifest or the workspace.
fn reserved(name: &str) -> Option<&'static str> {
    // Cargo's own folders in target/, which it refuses as binary names.
    const CARGO_DIRS: [&str; 4] = ["build", "deps", "examples", "incremental"];
    // Crates every Rust build has, which a crate of that name would shadow.
    const BUILTIN: [&str; 5] = ["alloc", "core", "proc_macro", "std", "test"];
    const KEYWORDS: [&str; 51] = [
        "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate", "do", "dyn",
        "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "macro",
        "match", "mod", "move", "mut", "override", "priv", "pub", "ref", "return", "self", "static", "struct",
        "super", "trait", "true", "try", "type", "typeof", "unsafe", "unsized", "use", "virtual", "where", "while",
        "yield",
    ];
    let crate_name = name.replace('-', "_");
    let sdk = crate::render::SdkCrate::default().crate_name;
    let sdk_crates = ["", "-runtime", "-proto", "-macros", "-testing"].map(|suffix| format!("{sdk}{suffix}"));
    if CARGO_DIRS.contains(&name) {
        Some("cargo keeps a folder of that name in target/ and refuses it as a binary's name")
    } else if BUILTIN.contains(&crate_name.as_str()) {
        Some("it is the name of a crate every Rust build has")
    } else if KEYWORDS.contains(&crate_name.as_str()) {
        Some("it is a Rust keyword, which cannot name a crate")
    } else if sdk_crates.iter().any(|c| c.replace('-', "_") == crate_name) {
        Some("the project holds the SDK's crate of that name, and a workspace takes one package per name")
    } else {
        None
    }
}

/// Mattermost's rule for plugin ids (model.IsValidPluginId).
fn is_plugin_id(id: &str) -> bool {
    (3..=190).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// `my-plugin` → `My Plugin`.
fn words(package: &str) -> String {
    package
        .split(['-', '_'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A project file from its template, ending with its newline (askama drops
/// the template's last).
fn render(template: &impl Template) -> Result<String, NewError> {
    let text = template.render().map_err(|e| NewError::Generate(e.into()))?;
    Ok(if text.ends_with('\n') { text } else { text + "\n" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_default_from_the_folder() {
        assert_eq!(words("my-first_plugin"), "My First Plugin");
        assert!(is_package_name("my-plugin") && is_package_name("p2"));
        assert!(!is_package_name("2fast") && !is_package_name("my plugin") && !is_package_name(""));
        assert!(is_plugin_id("com.example.my-plugin"));
        assert!(!is_plugin_id("ab") && !is_plugin_id("com/example") && !is_plugin_id(&"a".repeat(191)));
    }

    /// Names cargo refused after `new` had written the project: its target
    /// folders as the binary's name, the SDK's own crates as a second
    /// package of the same name; and names that cannot name a crate.
    #[test]
    fn names_cargo_would_refuse_are_refused_with_the_reason() {
        let refused = |name: &str| match files(name, &Options::default()) {
            Err(NewError::ReservedName { why, .. }) => why,
            other => panic!("{name}: {:?}", other.map(|f| f.len())),
        };
        for name in ["build", "deps", "examples", "incremental"] {
            assert!(refused(name).contains("target/"), "{name}");
        }
        for name in
            ["mattermost-plugin", "mattermost-plugin-runtime", "mattermost_plugin_proto", "mattermost-plugin-macros", "mattermost-plugin-testing"]
        {
            assert!(refused(name).contains("SDK"), "{name}");
        }
        for name in ["test", "std", "proc-macro"] {
            assert!(refused(name).contains("every Rust build"), "{name}");
        }
        for name in ["fn", "async", "type"] {
            assert!(refused(name).contains("keyword"), "{name}");
        }
        let message = files("build", &Options::default()).unwrap_err().to_string();
        assert!(message.starts_with("\"build\" cannot be the package's name: cargo keeps"), "{message}");
        for fine in ["builder", "my-plugin", "mattermost-plugin-todo", "tests"] {
            assert!(reserved(fine).is_none(), "{fine}");
        }
    }
}
