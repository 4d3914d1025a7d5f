//! The archive: its entries (pure), and the `.tar.gz` written atomically.

use std::{
    collections::BTreeSet,
    fs::{self, File, OpenOptions},
    io::{self, BufWriter, Read, Write as _},
    path::{Path, PathBuf},
};

use super::{BundleError, Platform, Rewrite};

/// Where the launcher goes in the plugin folder: the first interpreter the
/// host looks for on Linux and macOS.
pub const LAUNCHER_PATH: &str = "venv/bin/python";

/// Where the Windows binary goes: the interpreter the host looks for on
/// Windows (`venv\Scripts\python.exe`).
pub const WINDOWS_EXECUTABLE: &str = "venv/Scripts/python.exe";

/// The launcher at [`LAUNCHER_PATH`]. The host runs `venv/bin/python
/// <executable>` in the plugin folder; this `exec`s the executable (relative
/// to the working directory, or absolute as older hosts pass it), so the
/// plugin process is the one the host started and gets its signals and kill.
pub const LAUNCHER: &str = r#"#!/bin/sh
# Written by mmplugin-gen bundle: Mattermost starts a gRPC plugin as `venv/bin/python EXECUTABLE`,
# so this stands in for Python and execs the plugin binary, which then gets the host's signals and kill.
[ $# -gt 0 ] || { echo 'usage: venv/bin/python EXECUTABLE [ARG...] (runs the plugin EXECUTABLE in its place)' >&2; exit 2; }
case $1 in /*) exe=$1 ;; *) exe=./$1 ;; esac
shift
exec "$exe" "$@"
"#;

/// The mode of folders and executables.
const EXECUTABLE: u32 = 0o755;
/// The mode of other files.
const PLAIN: u32 = 0o644;
/// The gzip header's OS byte: "unknown", whatever machine wrote it.
const OS_UNKNOWN: u8 = 255;
/// The gzip level: zlib's default, fixed so the bytes are too.
const LEVEL: u32 = 6;

/// One entry of the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its path in the archive, `/`-separated, starting with the top folder
    /// (the plugin's id); folders without a trailing `/`.
    pub path: String,
    /// Its Unix permission bits: 0755 for folders and executables, 0644 for
    /// the rest.
    pub mode: u32,
    /// What it holds.
    pub contents: Contents,
}

impl Entry {
    /// The size of the entry's data (0 for a folder).
    pub fn size(&self) -> u64 {
        match &self.contents {
            Contents::Dir => 0,
            Contents::Bytes(bytes) => bytes.len() as u64,
            Contents::File { size, .. } => *size,
        }
    }
}

/// What an [`Entry`] holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contents {
    /// A folder.
    Dir,
    /// A file made in memory (the manifest, the launcher).
    Bytes(Vec<u8>),
    /// A file copied from disk (a binary), which must still have `size`
    /// bytes when it is copied.
    File {
        /// Where it is read from.
        source: PathBuf,
        /// Its size when it was checked.
        size: u64,
    },
}

/// The entries of the bundle for `rewrite`, with `binaries` (each platform
/// with its file and size) at the paths `rewrite.executables` gives: the
/// manifest, the launcher when any binary is for Linux or macOS, the
/// binaries, the plugin's own files and folders (`own`, paths relative to
/// the plugin folder: assets, public files, the webapp, the icon), and every
/// parent folder, sorted by path (a folder before what it holds). A
/// platform without a binary in `binaries` is left out.
pub fn layout(rewrite: &Rewrite, binaries: &[(Platform, PathBuf, u64)], own: &[Entry]) -> Vec<Entry> {
    let mut files = vec![Entry {
        path: "plugin.json".into(),
        mode: PLAIN,
        contents: Contents::Bytes(rewrite.to_json().into_bytes()),
    }];
    if rewrite.executables.iter().any(|(p, _)| !p.is_windows()) {
        files.push(Entry {
            path: LAUNCHER_PATH.into(),
            mode: EXECUTABLE,
            contents: Contents::Bytes(LAUNCHER.as_bytes().to_vec()),
        });
    }
    for (platform, at) in &rewrite.executables {
        if let Some((_, source, size)) = binaries.iter().find(|(p, ..)| p == platform) {
            let contents = Contents::File { source: source.clone(), size: *size };
            files.push(Entry { path: at.clone(), mode: EXECUTABLE, contents });
        }
    }
    let top = &rewrite.id;
    let mut folders = BTreeSet::from([top.clone()]);
    for entry in own {
        match entry.contents {
            Contents::Dir => {
                folders.insert(format!("{top}/{}", entry.path));
            }
            _ => files.push(entry.clone()),
        }
    }
    for file in &files {
        let mut parent = top.clone();
        let parts: Vec<&str> = file.path.split('/').collect();
        for part in &parts[..parts.len() - 1] {
            parent = format!("{parent}/{part}");
            folders.insert(parent.clone());
        }
    }
    let mut entries: Vec<Entry> =
        folders.into_iter().map(|path| Entry { path, mode: EXECUTABLE, contents: Contents::Dir }).collect();
    entries.extend(files.into_iter().map(|f| Entry { path: format!("{top}/{}", f.path), ..f }));
    entries.sort_by(|a, b| a.path.split('/').cmp(b.path.split('/')));
    entries
}

/// Writes `entries` to `bundle` (in `out`, created if missing) through a
/// temporary file in `out` renamed into place; on failure the temporary file
/// is removed, and so is `out` if this made it and it is empty.
pub(super) fn write_atomically(out: &Path, bundle: &Path, entries: &[Entry]) -> Result<(), BundleError> {
    let existed = out.try_exists().unwrap_or(true);
    let result = fs::create_dir_all(out)
        .map_err(|source| BundleError::Write { path: out.to_owned(), source })
        .and_then(|()| stage_and_rename(out, bundle, entries));
    if result.is_err() && !existed {
        let _ = fs::remove_dir(out);
    }
    result
}

fn stage_and_rename(out: &Path, bundle: &Path, entries: &[Entry]) -> Result<(), BundleError> {
    let failed = |source| BundleError::Write { path: bundle.to_owned(), source };
    let name = bundle.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // What a killed run of this command left here.
    crate::litter::remove_stale(out, |entry| staged_pid(entry, &name));
    let (mut staged, file) = Staged::create(out, &name).map_err(failed)?;
    let _interrupted = crate::litter::track(&staged.path);
    archive(entries, file).map_err(failed)?;
    fs::rename(&staged.path, bundle).map_err(failed)?;
    staged.renamed = true;
    Ok(())
}

/// The pid in the name of a temporary file [`Staged::create`] made for the
/// bundle `name`: `.<name>.<pid>.tmp` or `.<name>.<pid>-<n>.tmp`.
fn staged_pid(entry: &str, name: &str) -> Option<u32> {
    let rest = entry.strip_prefix('.')?.strip_prefix(name)?.strip_prefix('.')?.strip_suffix(".tmp")?;
    rest.split('-').next()?.parse().ok()
}

/// A temporary file, removed when dropped unless it was renamed.
struct Staged {
    path: PathBuf,
    renamed: bool,
}

impl Staged {
    /// Creates `.<name>.<pid>.tmp` in `dir` (or a numbered variant if that is
    /// taken).
    fn create(dir: &Path, name: &str) -> io::Result<(Staged, File)> {
        let pid = std::process::id();
        for n in 0..100 {
            let suffix = if n == 0 { String::new() } else { format!("-{n}") };
            let path = dir.join(format!(".{name}.{pid}{suffix}.tmp"));
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => return Ok((Staged { path, renamed: false }, file)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(io::ErrorKind::AlreadyExists, "no free name for a temporary file"))
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.renamed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Writes the `.tar.gz` of `entries` to `file`, and syncs it. Every header
/// is fixed apart from path, type, mode and size: mtime 0, uid and gid 0, no
/// user or group name; the gzip header has mtime 0, no file name and the
/// "unknown" OS byte.
fn archive(entries: &[Entry], file: File) -> io::Result<()> {
    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(OS_UNKNOWN)
        .write(BufWriter::new(file), flate2::Compression::new(LEVEL));
    let mut tar = tar::Builder::new(gz);
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mode(entry.mode);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_size(entry.size());
        match &entry.contents {
            Contents::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                tar.append_data(&mut header, &entry.path, io::empty())?;
            }
            Contents::Bytes(bytes) => {
                header.set_entry_type(tar::EntryType::Regular);
                tar.append_data(&mut header, &entry.path, bytes.as_slice())?;
            }
            Contents::File { source, size } => {
                let context = |e: io::Error| io::Error::new(e.kind(), format!("reading {}: {e}", source.display()));
                header.set_entry_type(tar::EntryType::Regular);
                let file = File::open(source).map_err(context)?;
                tar.append_data(&mut header, &entry.path, Exact { file: &file, left: *size }).map_err(context)?;
                if file.metadata().map_err(context)?.len() != *size {
                    return Err(context(changed()));
                }
            }
        }
    }
    let mut buffered = tar.into_inner()?.finish()?;
    buffered.flush()?;
    let file = buffered.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()
}

fn changed() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "the file changed size while it was being bundled")
}

/// Reads exactly `left` bytes of a file, failing if it ends sooner, so that
/// a header never promises more data than follows it.
struct Exact<'a> {
    file: &'a File,
    left: u64,
}

impl Read for Exact<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let max = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.file.read(&mut buf[..max])?;
        if n == 0 {
            return Err(changed());
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(id: &str, executables: &[(Platform, &str)]) -> Rewrite {
        Rewrite {
            id: id.into(),
            version: "1.0.0".into(),
            manifest: serde_json::json!({ "id": id }),
            executables: executables.iter().map(|(p, at)| (*p, (*at).to_owned())).collect(),
            notes: vec![],
        }
    }

    fn listing(entries: &[Entry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| {
                let kind = if e.contents == Contents::Dir { "dir " } else { "file" };
                format!("{kind} {:o} {}", e.mode, e.path)
            })
            .collect()
    }

    #[test]
    fn folders_come_first_and_windows_needs_no_launcher() {
        let r = rewrite(
            "x.y",
            &[(Platform::LinuxAmd64, "server/dist/plugin-linux-amd64"), (Platform::WindowsAmd64, WINDOWS_EXECUTABLE)],
        );
        let binaries = [(Platform::LinuxAmd64, PathBuf::from("a"), 3), (Platform::WindowsAmd64, PathBuf::from("b"), 4)];
        assert_eq!(
            listing(&layout(&r, &binaries, &[])),
            [
                "dir  755 x.y",
                "file 644 x.y/plugin.json",
                "dir  755 x.y/server",
                "dir  755 x.y/server/dist",
                "file 755 x.y/server/dist/plugin-linux-amd64",
                "dir  755 x.y/venv",
                "dir  755 x.y/venv/Scripts",
                "file 755 x.y/venv/Scripts/python.exe",
                "dir  755 x.y/venv/bin",
                "file 755 x.y/venv/bin/python",
            ]
        );
        let windows = rewrite("x.y", &[(Platform::WindowsAmd64, WINDOWS_EXECUTABLE)]);
        assert!(!listing(&layout(&windows, &binaries, &[])).iter().any(|e| e.ends_with("venv/bin/python")));
        assert_eq!(layout(&windows, &binaries, &[]).iter().map(Entry::size).sum::<u64>(), 4 + 18);
    }

    #[test]
    fn the_plugins_own_files_and_folders_join_the_layout_sorted() {
        let r = rewrite("x.y", &[(Platform::LinuxAmd64, "server/dist/plugin-linux-amd64")]);
        let binaries = [(Platform::LinuxAmd64, PathBuf::from("a"), 3)];
        let file = |path: &str| Entry {
            path: path.into(),
            mode: 0o644,
            contents: Contents::File { source: PathBuf::from(path), size: 1 },
        };
        let own = [
            file("webapp/dist/main.js"),
            Entry { path: "public".into(), mode: EXECUTABLE, contents: Contents::Dir },
            file("assets/i18n/en.json"),
            Entry { path: "assets".into(), mode: EXECUTABLE, contents: Contents::Dir },
        ];
        assert_eq!(
            listing(&layout(&r, &binaries, &own)),
            [
                "dir  755 x.y",
                "dir  755 x.y/assets",
                "dir  755 x.y/assets/i18n",
                "file 644 x.y/assets/i18n/en.json",
                "file 644 x.y/plugin.json",
                "dir  755 x.y/public",
                "dir  755 x.y/server",
                "dir  755 x.y/server/dist",
                "file 755 x.y/server/dist/plugin-linux-amd64",
                "dir  755 x.y/venv",
                "dir  755 x.y/venv/bin",
                "file 755 x.y/venv/bin/python",
                "dir  755 x.y/webapp",
                "dir  755 x.y/webapp/dist",
                "file 644 x.y/webapp/dist/main.js",
            ],
            "an empty folder stays; every folder once"
        );
    }

    #[test]
    fn the_launcher_is_small_posix_sh() {
        assert!(LAUNCHER.starts_with("#!/bin/sh\n# Written by mmplugin-gen bundle"));
        assert_eq!(LAUNCHER.lines().filter(|l| l.starts_with('#')).count(), 3, "shebang and two comment lines");
        assert!(LAUNCHER.trim_end().ends_with("exec \"$exe\" \"$@\""));
        assert!(!LAUNCHER.contains("${"), "no shell-specific expansions");
    }
}
