//! Bundle: package a plugin's binaries, and the files it ships beside them,
//! as the `.tar.gz` a Mattermost server installs, laid out so that the
//! server starts them over gRPC.
//!
//! The server's gRPC host (its Python-plugin supervisor) starts a plugin over
//! gRPC only when the manifest says `server.runtime: "python"`. It then runs
//! `<interpreter> <executable>` in the plugin folder, where the executable is
//! `server.executables["<GOOS>-<GOARCH>"]` and the interpreter is the first of
//! `venv/bin/python`, `venv/bin/python3`, `.venv/bin/python`,
//! `.venv/bin/python3` (on Windows `venv\Scripts\python.exe`,
//! `.venv\Scripts\python.exe`) that exists. A native binary fits that mould so:
//!
//! ```text
//! <id>/plugin.json                        the author's manifest, runtime and executables set
//! <id>/server/dist/plugin-linux-amd64     a binary per Linux/macOS platform (or where the manifest says)
//! <id>/venv/bin/python                    LAUNCHER: a #!/bin/sh that execs the executable it is given
//! <id>/venv/Scripts/python.exe            the Windows binary itself, also named as its executable
//! <id>/assets/…                           assets/ beside plugin.json: files the plugin reads from its bundle path
//! <id>/public/…                           public/ beside plugin.json: served at /plugins/<id>/public/…
//! <id>/webapp/dist/…                      the folder of webapp.bundle_path, when the manifest names one
//! <id>/<icon_path>                        the icon the manifest names (an SVG)
//! ```
//!
//! `assets/` and `public/` may come from elsewhere or be left out
//! ([`Include`]); what the manifest names must exist, stay inside the plugin
//! folder and be what the server can use, and no symlink may lead out of the
//! project (`src/bundle/files.rs` says what the server does with each, and
//! `runtime/src/host_rules.md`, "A bundle's other files").
//!
//! The output is byte-identical for the same input (sorted entries, fixed
//! modes, times and owners, a fixed gzip header and level), and is written
//! atomically: a temporary file beside the bundle, renamed into place, and
//! removed on any failure.
//!
//! The pure steps are separate and usable alone: [`validate`] (the server's
//! manifest checks), [`rewrite`] (the manifest as it goes into the bundle, and
//! where each binary goes), [`sniff`] (what a binary is), and [`layout`] (the
//! entries of the archive). [`write()`] and [`write_with`] are the I/O around
//! them.

mod archive;
mod binary;
mod files;
mod rewrite;

use std::{
    fmt, fs,
    io::{self, Read as _},
    path::{Path, PathBuf},
    str::FromStr,
};

pub use archive::{Contents, Entry, LAUNCHER, LAUNCHER_PATH, WINDOWS_EXECUTABLE, layout};
pub use binary::{BinaryKind, sniff};
pub use crate::manifest::{Problem, SETTING_TYPES, validate};
pub use files::{Folder, Include};
pub use rewrite::{Rewrite, rewrite};

/// A server platform, as the key of `server.executables` names it
/// (`<GOOS>-<GOARCH>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Platform {
    /// `linux-amd64`
    LinuxAmd64,
    /// `linux-arm64`
    LinuxArm64,
    /// `darwin-amd64`
    DarwinAmd64,
    /// `darwin-arm64`
    DarwinArm64,
    /// `windows-amd64`
    WindowsAmd64,
}

impl Platform {
    /// Every platform a bundle can hold, in the order bundles list them.
    pub const ALL: [Platform; 5] =
        [Self::LinuxAmd64, Self::LinuxArm64, Self::DarwinAmd64, Self::DarwinArm64, Self::WindowsAmd64];

    /// The key in `server.executables`, such as `linux-amd64`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LinuxAmd64 => "linux-amd64",
            Self::LinuxArm64 => "linux-arm64",
            Self::DarwinAmd64 => "darwin-amd64",
            Self::DarwinArm64 => "darwin-arm64",
            Self::WindowsAmd64 => "windows-amd64",
        }
    }

    /// Whether the host on this platform looks for `venv\Scripts\python.exe`
    /// instead of `venv/bin/python`.
    pub fn is_windows(self) -> bool {
        self == Self::WindowsAmd64
    }

    /// Where the binary goes in the plugin folder when the manifest names no
    /// usable path for it: `server/dist/plugin-<platform>`, and on Windows
    /// [`WINDOWS_EXECUTABLE`], always.
    pub fn default_path(self) -> String {
        if self.is_windows() { WINDOWS_EXECUTABLE.to_owned() } else { format!("server/dist/plugin-{self}") }
    }

    /// The platform this program was built for, if a bundle can hold it.
    pub fn host() -> Option<Platform> {
        match (std::env::consts::OS, std::env::consts::ARCH) {
            ("linux", "x86_64") => Some(Self::LinuxAmd64),
            ("linux", "aarch64") => Some(Self::LinuxArm64),
            ("macos", "x86_64") => Some(Self::DarwinAmd64),
            ("macos", "aarch64") => Some(Self::DarwinArm64),
            ("windows", "x86_64") => Some(Self::WindowsAmd64),
            _ => None,
        }
    }

    fn list() -> String {
        Self::ALL.map(Self::as_str).join(", ")
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Platform {
    type Err = BundleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| BundleError::UnknownPlatform(s.to_owned()))
    }
}

/// What to bundle: the manifest, a binary per platform, and the folder the
/// bundle is written into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// The author's `plugin.json`.
    pub manifest: PathBuf,
    /// Each platform with its binary; at least one, no platform twice.
    pub executables: Vec<(Platform, PathBuf)>,
    /// The folder `<id>-<version>.tar.gz` is written into (created if missing).
    pub out: PathBuf,
}

/// A bundle that was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The bundle: `<out>/<id>-<version>.tar.gz`.
    pub path: PathBuf,
    /// One line per change made to the author's manifest (and per fact about
    /// it the author should know), each starting with the manifest's path.
    pub notes: Vec<String>,
    /// What the archive holds, in its order.
    pub entries: Vec<Entry>,
}

/// A binary that cannot go into the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutableProblem {
    /// The platform it was given for.
    pub platform: Platform,
    /// The binary, as given.
    pub path: PathBuf,
    /// What is wrong with it, naming the platform.
    pub reason: String,
}

impl fmt::Display for ExecutableProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)
    }
}

/// Why a bundle was not written. The output folder is as it was.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// `host=` on a machine whose platform no bundle can hold.
    #[error("host=: this machine ({}-{}) is not a platform a bundle can hold: name one of {list}", std::env::consts::OS, std::env::consts::ARCH, list = Platform::list())]
    NoHostPlatform,
    /// A platform outside [`Platform::ALL`].
    #[error("unknown platform {0:?}: expected one of {list}", list = Platform::list())]
    UnknownPlatform(String),
    /// A `PLATFORM=BINARY` argument without the `=` or without the binary.
    #[error("{0:?} is not PLATFORM=BINARY (e.g. linux-amd64=target/release/my-plugin)")]
    ExecutableSyntax(String),
    /// The same platform given twice.
    #[error("{0} is given twice: one binary per platform")]
    RepeatedPlatform(Platform),
    /// No binary at all.
    #[error("no binary given: name at least one as PLATFORM=BINARY (platforms: {list})", list = Platform::list())]
    NoExecutables,
    /// A `plugin.yaml`/`plugin.yml` manifest.
    #[error(
        "{}: YAML manifests are not supported, only plugin.json: the server reads either, \
         so write the same manifest as JSON",
        .0.display()
    )]
    YamlManifest(PathBuf),
    /// The manifest could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The manifest.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The manifest is not JSON.
    #[error("{}: not valid JSON: {source}", path.display())]
    NotJson {
        /// The manifest.
        path: PathBuf,
        /// Where and why.
        source: serde_json::Error,
    },
    /// The manifest breaks the server's rules (or lacks the version a
    /// bundle's name needs): every problem found, not only the first.
    #[error("{}", Problem::lines(path, problems))]
    Manifest {
        /// The manifest.
        path: PathBuf,
        /// Each problem, located by its field path.
        problems: Vec<Problem>,
    },
    /// Binaries that are missing, not files, or not for their platform.
    #[error("{}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Executables {
        /// Each refused binary.
        problems: Vec<ExecutableProblem>,
    },
    /// The plugin's own files: what the manifest names (`icon_path`,
    /// `webapp.bundle_path`) missing, outside the plugin folder or unusable
    /// by the server; a symlink leading out of the project; a folder given
    /// that is not there. One line each, naming the file, or the manifest
    /// and its field.
    #[error("{}", problems.join("\n"))]
    Files {
        /// Each problem, a line.
        problems: Vec<String>,
    },
    /// Writing the bundle failed.
    #[error("writing {}: {source}", path.display())]
    Write {
        /// The bundle or its folder.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// The platform name that stands for the machine running `bundle`.
pub const HOST: &str = "host";

/// Parses a `PLATFORM=BINARY` argument, such as
/// `linux-amd64=target/release/my-plugin`; `host=BINARY` is this machine's
/// platform.
pub fn parse_executable(arg: &str) -> Result<(Platform, PathBuf), BundleError> {
    let Some((platform, binary)) = arg.split_once('=') else {
        return Err(BundleError::ExecutableSyntax(arg.to_owned()));
    };
    let platform = if platform == HOST { Platform::host().ok_or(BundleError::NoHostPlatform)? } else { platform.parse()? };
    if binary.is_empty() {
        return Err(BundleError::ExecutableSyntax(arg.to_owned()));
    }
    Ok((platform, PathBuf::from(binary)))
}

/// How much of a binary [`write`] reads to tell what it is.
const HEAD: u64 = 64 * 1024;

/// Validates everything, then writes the bundle atomically; see the module
/// docs for the layout. `assets/` and `public/` are taken from beside the
/// manifest when they are there ([`Include::default`]; [`write_with`]
/// chooses otherwise). Nothing is written unless every check passes, and on
/// any error the output folder is left as it was.
pub fn write(bundle: &Bundle) -> Result<Written, BundleError> {
    write_with(bundle, &Include::default())
}

/// [`write()`], with `assets/` and `public/` taken from where `include` says.
pub fn write_with(bundle: &Bundle, include: &Include) -> Result<Written, BundleError> {
    let Bundle { manifest: manifest_path, executables, out } = bundle;
    if executables.is_empty() {
        return Err(BundleError::NoExecutables);
    }
    let mut platforms: Vec<Platform> = executables.iter().map(|(p, _)| *p).collect();
    platforms.sort();
    if let Some(w) = platforms.windows(2).find(|w| w[0] == w[1]) {
        return Err(BundleError::RepeatedPlatform(w[0]));
    }
    let extension = manifest_path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    if matches!(extension.as_deref(), Some("yaml" | "yml")) {
        return Err(BundleError::YamlManifest(manifest_path.clone()));
    }
    let text = fs::read(manifest_path).map_err(|source| BundleError::Read { path: manifest_path.clone(), source })?;
    let json: serde_json::Value =
        serde_json::from_slice(&text).map_err(|source| BundleError::NotJson { path: manifest_path.clone(), source })?;
    let rewritten = rewrite(&json, &platforms)
        .map_err(|problems| BundleError::Manifest { path: manifest_path.clone(), problems })?;

    let mut binaries = Vec::with_capacity(executables.len());
    let mut problems = Vec::new();
    for (platform, path) in executables {
        match check_binary(*platform, path) {
            Ok(size) => binaries.push((*platform, path.clone(), size)),
            Err(reason) => problems.push(ExecutableProblem { platform: *platform, path: path.clone(), reason }),
        }
    }
    if !problems.is_empty() {
        return Err(BundleError::Executables { problems });
    }

    let mut taken = vec!["plugin.json".to_owned(), LAUNCHER_PATH.to_owned()];
    taken.extend(rewritten.executables.iter().map(|(_, at)| at.clone()));
    let author = json.as_object().expect("rewrite accepts only an object");
    let own =
        files::find(manifest_path, author, include, &taken, out).map_err(|problems| BundleError::Files { problems })?;

    let entries = layout(&rewritten, &binaries, &own.entries);
    let path = out.join(rewritten.file_name());
    archive::write_atomically(out, &path, &entries)?;
    let file = manifest_path.display();
    let notes = rewritten.notes.iter().chain(&own.notes).map(|n| format!("{file}: {n}")).collect();
    Ok(Written { path, notes, entries })
}

/// Checks that `path` is a regular file holding a binary for `platform`;
/// returns its size.
fn check_binary(platform: Platform, path: &Path) -> Result<u64, String> {
    let given = |what: &dyn fmt::Display| format!("{what} (given for {platform})");
    let meta = fs::metadata(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => given(&"no such file"),
        _ => given(&e),
    })?;
    if meta.is_dir() {
        return Err(given(&"is a directory, not a binary"));
    }
    if !meta.is_file() {
        return Err(given(&"is not a regular file"));
    }
    let mut head = Vec::new();
    fs::File::open(path).and_then(|f| f.take(HEAD).read_to_end(&mut head)).map_err(|e| given(&e))?;
    let kind = sniff(&head);
    if platform.accepts(&kind) {
        Ok(meta.len())
    } else {
        Err(format!("is {kind}, but {platform} needs {}", platform.needs()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_round_trip_through_their_names() {
        for p in Platform::ALL {
            assert_eq!(p.as_str().parse::<Platform>().unwrap(), p);
            assert_eq!(p.to_string(), p.as_str());
        }
        let err = "linux-386".parse::<Platform>().unwrap_err().to_string();
        assert!(err.contains("\"linux-386\"") && err.contains("darwin-arm64"), "{err}");
        assert_eq!(Platform::WindowsAmd64.default_path(), "venv/Scripts/python.exe");
        assert_eq!(Platform::LinuxArm64.default_path(), "server/dist/plugin-linux-arm64");
    }

    #[test]
    fn executable_arguments() {
        assert_eq!(
            parse_executable("linux-amd64=target/a=b").unwrap(),
            (Platform::LinuxAmd64, PathBuf::from("target/a=b"))
        );
        for bad in ["linux-amd64", "linux-amd64=", "=x", ""] {
            assert!(parse_executable(bad).is_err(), "{bad}");
        }
        assert!(
            matches!(parse_executable("solaris-sparc=x"), Err(BundleError::UnknownPlatform(p)) if p == "solaris-sparc")
        );
    }

    #[test]
    fn command_line_mistakes_come_before_any_reading() {
        let bundle = |executables| Bundle { manifest: "missing.json".into(), executables, out: "out".into() };
        assert!(matches!(write(&bundle(vec![])), Err(BundleError::NoExecutables)));
        let twice = vec![(Platform::LinuxAmd64, "a".into()), (Platform::LinuxAmd64, "b".into())];
        assert!(matches!(write(&bundle(twice)), Err(BundleError::RepeatedPlatform(Platform::LinuxAmd64))));
        let yaml = Bundle { manifest: "plugin.YML".into(), ..bundle(vec![(Platform::LinuxAmd64, "a".into())]) };
        assert!(matches!(write(&yaml), Err(BundleError::YamlManifest(_))));
    }
}
