//! The rewrite a manifest needs to go into a bundle: `server.runtime` and
//! `server.executables` set for the binaries given, every change noted.
//! Pure. What the server checks of a manifest is [`crate::manifest`].

use serde_json::{Map, Value};

use super::{LAUNCHER_PATH, Platform, WINDOWS_EXECUTABLE};
use crate::manifest::{Problem, mistyped, validate};

/// A manifest as it goes into a bundle, and where each binary goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    /// The plugin's id, as written (the bundle's top folder).
    pub id: String,
    /// The plugin's version, as written.
    pub version: String,
    /// The manifest for the bundle: the author's, with `server.runtime`,
    /// `server.executables` and `server.executable` changed, every other key
    /// and the key order kept.
    pub manifest: Value,
    /// Each platform with the path of its binary in the plugin folder, in
    /// platform order.
    pub executables: Vec<(Platform, String)>,
    /// One line per change made to the author's manifest, and a line when
    /// the id has upper-case letters.
    pub notes: Vec<String>,
}

impl Rewrite {
    /// The bundle's file name: `<id>-<version>.tar.gz`.
    pub fn file_name(&self) -> String {
        format!("{}-{}.tar.gz", self.id, self.version)
    }

    /// The manifest's bytes in the bundle: pretty-printed, with a trailing
    /// newline.
    pub fn to_json(&self) -> String {
        format!("{:#}\n", self.manifest)
    }
}

/// Validates `manifest` (see [`validate`]; a bundle also needs a `version`,
/// for its name) and rewrites it for a bundle holding binaries for
/// `platforms`:
///
/// - `server.runtime` becomes `"python"`, the only runtime the server starts
///   over gRPC (`server` is created if absent);
/// - `server.executables` holds exactly `platforms`: a Linux or macOS binary
///   stays at the path the manifest gives for it when that is a safe relative
///   path (no `..`, no `\`, not absolute, clear of `plugin.json`, the
///   launcher and the other binaries), else goes to
///   `server/dist/plugin-<platform>`; the Windows binary is always
///   `venv/Scripts/python.exe`, where the host looks for its interpreter;
/// - `server.executable` is removed: the host would start it on a platform
///   the bundle has no binary for.
pub fn rewrite(manifest: &Value, platforms: &[Platform]) -> Result<Rewrite, Vec<Problem>> {
    let mut problems = validate(manifest);
    let Value::Object(author) = manifest else { return Err(problems) };
    let text = |key: &str| author.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
    let (id, version) = (text("id"), text("version"));
    if version.is_empty() && !mistyped(author, "version") {
        problems.push(Problem::new(
            "version",
            format!(
                "required for a bundle, which is named <id>-<version>.tar.gz (such as {}-1.0.0.tar.gz), \
                 although the server accepts a manifest without one",
                if id.is_empty() { "com.example.plugin" } else { &id }
            ),
        ));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut platforms = platforms.to_vec();
    platforms.sort();
    platforms.dedup();

    let mut notes = notes_on_what_stays(&id);
    let mut server = match author.get("server") {
        Some(Value::Object(server)) => server.clone(),
        _ => Map::new(),
    };
    set_runtime(&mut server, &mut notes);
    let placed = set_executables(&mut server, &platforms, &mut notes);
    let mut out = author.clone();
    out.insert("server".into(), Value::Object(server));
    let executables = placed.into_iter().map(|(p, path, _)| (p, path)).collect();
    Ok(Rewrite { id, version, manifest: Value::Object(out), executables, notes })
}

/// What the author should know of the fields the bundle keeps as they are:
/// an id the server lower-cases. (The files the manifest names, its icon and
/// its webapp bundle, go into the bundle: `files.rs` finds and checks them.)
fn notes_on_what_stays(id: &str) -> Vec<String> {
    let mut notes = Vec::new();
    if id.chars().any(|c| c.is_ascii_uppercase()) {
        notes.push(format!(
            "id {id:?} has upper-case letters: the server lower-cases it, so the plugin's URLs use {:?}",
            id.to_ascii_lowercase()
        ));
    }
    notes
}

/// `server.runtime` set to `"python"`: the server starts a native gRPC
/// plugin only with this runtime (`runtime/src/host_rules.md`, "Which
/// plugins the server starts over gRPC").
fn set_runtime(server: &mut Map<String, Value>, notes: &mut Vec<String>) {
    match server.get("runtime").and_then(Value::as_str) {
        Some("python") => {}
        Some(other) => notes.push(format!(
            "set server.runtime to \"python\" (was {other:?}; the server starts native gRPC plugins only with this runtime)"
        )),
        None => notes.push(
            "set server.runtime to \"python\" (the server starts native gRPC plugins only with this runtime)".into(),
        ),
    }
    server.insert("runtime".into(), Value::String("python".into()));
}

/// `server.executables` set to the bundle's binaries, one per platform
/// (the author's paths kept where they are usable), and `server.executable`
/// removed; every change noted. Returns where each platform's binary goes.
fn set_executables(
    server: &mut Map<String, Value>,
    platforms: &[Platform],
    notes: &mut Vec<String>,
) -> Vec<(Platform, String, Option<String>)> {
    let written = server.get("executables").and_then(Value::as_object).cloned().unwrap_or_default();
    let placed = place(&written, platforms);
    for (platform, path, why) in &placed {
        let was = written.get(platform.as_str()).and_then(Value::as_str);
        if was == Some(path.as_str()) {
            continue;
        }
        let mut note = format!("set server.executables.{platform} to {path:?}");
        match (was, why) {
            (Some(was), Some(why)) => note.push_str(&format!(" (was {was:?}; {why})")),
            (Some(was), None) => note.push_str(&format!(" (was {was:?})")),
            (None, Some(why)) => note.push_str(&format!(" ({why})")),
            (None, None) => {}
        }
        notes.push(note);
    }
    let mut executables = Map::new();
    for key in written.keys() {
        match placed.iter().find(|(p, ..)| p.as_str() == key) {
            Some((_, path, _)) => {
                executables.insert(key.clone(), Value::String(path.clone()));
            }
            None => notes.push(format!("removed server.executables.{key} (no binary given for it)")),
        }
    }
    for (platform, path, _) in &placed {
        if !executables.contains_key(platform.as_str()) {
            executables.insert(platform.to_string(), Value::String(path.clone()));
        }
    }
    server.insert("executables".into(), Value::Object(executables));
    if server.shift_remove("executable").is_some() {
        notes.push(
            "removed server.executable (the host starts it on any platform not in server.executables, \
             and the bundle has no binary for those)"
                .into(),
        );
    }
    placed
}

/// Where each platform's binary goes, and why the manifest's path for it
/// was not used (when there was one and it was not).
fn place(written: &Map<String, Value>, platforms: &[Platform]) -> Vec<(Platform, String, Option<String>)> {
    let mut taken: Vec<String> = vec!["plugin.json".into()];
    if platforms.iter().any(|p| !p.is_windows()) {
        taken.push(LAUNCHER_PATH.into());
    }
    if platforms.iter().any(|p| p.is_windows()) {
        taken.push(WINDOWS_EXECUTABLE.into());
    }
    let mut placed = Vec::new();
    for &platform in platforms {
        let default = platform.default_path();
        if platform.is_windows() {
            let why = "the host on Windows runs venv\\Scripts\\python.exe, so the plugin binary itself goes there";
            placed.push((platform, default, Some(why.to_owned())));
            continue;
        }
        let (path, why) = match written.get(platform.as_str()).and_then(Value::as_str) {
            None => (default, None),
            Some(asked) => match clean(asked) {
                None => (
                    default,
                    Some(format!(
                        "a binary's path is relative, inside the plugin folder, without .. or \\, and no name in it over {NAME_MAX} bytes"
                    )),
                ),
                Some(clean) => {
                    let others = platforms.iter().filter(|&&p| p != platform).map(|p| p.default_path());
                    match taken.iter().cloned().chain(others).find(|t| collides(&clean, t)) {
                        Some(other) => (default, Some(format!("{clean:?} collides with {other:?} in the bundle"))),
                        None => (clean, None),
                    }
                }
            },
        };
        taken.push(path.clone());
        placed.push((platform, path, why));
    }
    placed
}

/// The longest name of one file or folder, in bytes: Linux's `NAME_MAX`
/// (and macOS's); neither GNU tar nor the host can make a longer one.
const NAME_MAX: usize = 255;

/// The host's `filepath.Clean(filepath.Join(".", p))`, when that stays inside
/// the plugin folder and names a file there that can be extracted (no name
/// in it over [`NAME_MAX`] bytes).
fn clean(path: &str) -> Option<String> {
    if path.starts_with('/') || path.contains(['\\', '\0']) {
        return None;
    }
    let parts: Vec<&str> = path.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    if parts.is_empty() || parts.contains(&"..") || parts.iter().any(|part| part.len() > NAME_MAX) {
        return None;
    }
    Some(parts.join("/"))
}

/// Whether two files in the bundle would be the same, or one a folder of the
/// other.
fn collides(a: &str, b: &str) -> bool {
    let under = |child: &str, parent: &str| child.strip_prefix(parent).is_some_and(|rest| rest.starts_with('/'));
    a == b || under(a, b) || under(b, a)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ok() -> Value {
        json!({ "id": "com.example.x", "name": "X", "version": "1.0.0" })
    }

    fn with(key: &str, value: Value) -> Value {
        let mut m = ok();
        m[key] = value;
        m
    }

    fn rewritten(manifest: Value, platforms: &[Platform]) -> Rewrite {
        rewrite(&manifest, platforms).unwrap()
    }

    #[test]
    fn rewrite_needs_a_version() {
        let mut m = ok();
        m.as_object_mut().unwrap().shift_remove("version");
        let problems = rewrite(&m, &[Platform::LinuxAmd64]).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].field, "version");
        assert!(problems[0].message.contains("com.example.x-1.0.0.tar.gz"), "{}", problems[0].message);
        let empty = rewrite(&with("version", json!("")), &[Platform::LinuxAmd64]).unwrap_err();
        assert_eq!(empty[0].field, "version");
        assert_eq!(rewrite(&json!(null), &[]).unwrap_err().len(), 1);
    }

    #[test]
    fn rewrite_keeps_what_it_does_not_own() {
        let manifest = json!({
            "name": "X", "id": "Com.Example.X", "version": "1.2.3", "zeta": [1, { "b": 2, "a": 1 }],
            "server": {
                "executables": { "darwin-amd64": "old/mac", "linux-amd64": "./bin//linux", "freebsd-amd64": "bsd" },
                "extra": true,
                "executable": "old/any",
            },
            "alpha": {},
        });
        let r = rewritten(manifest, &[Platform::LinuxAmd64, Platform::DarwinArm64]);
        assert_eq!(r.file_name(), "Com.Example.X-1.2.3.tar.gz");
        assert_eq!(
            r.to_json(),
            r#"{
  "name": "X",
  "id": "Com.Example.X",
  "version": "1.2.3",
  "zeta": [
    1,
    {
      "b": 2,
      "a": 1
    }
  ],
  "server": {
    "executables": {
      "linux-amd64": "bin/linux",
      "darwin-arm64": "server/dist/plugin-darwin-arm64"
    },
    "extra": true,
    "runtime": "python"
  },
  "alpha": {}
}
"#
        );
        assert_eq!(
            r.executables,
            [
                (Platform::LinuxAmd64, "bin/linux".into()),
                (Platform::DarwinArm64, "server/dist/plugin-darwin-arm64".into())
            ]
        );
        assert_eq!(
            r.notes,
            [
                "id \"Com.Example.X\" has upper-case letters: the server lower-cases it, so the plugin's URLs use \"com.example.x\"",
                "set server.runtime to \"python\" (the server starts native gRPC plugins only with this runtime)",
                "set server.executables.linux-amd64 to \"bin/linux\" (was \"./bin//linux\")",
                "set server.executables.darwin-arm64 to \"server/dist/plugin-darwin-arm64\"",
                "removed server.executables.darwin-amd64 (no binary given for it)",
                "removed server.executables.freebsd-amd64 (no binary given for it)",
                "removed server.executable (the host starts it on any platform not in server.executables, \
                 and the bundle has no binary for those)",
            ]
        );
    }

    #[test]
    fn rewrite_creates_server_and_changes_nothing_twice() {
        let r = rewritten(ok(), &[Platform::LinuxArm64]);
        assert_eq!(
            r.manifest["server"],
            json!({ "runtime": "python", "executables": { "linux-arm64": "server/dist/plugin-linux-arm64" } })
        );
        assert_eq!(r.notes.len(), 2);
        let mut webapp = r.manifest.clone();
        webapp["webapp"] = json!({ "bundle_path": "webapp/dist/main.js" });
        webapp["icon_path"] = json!("assets/icon.svg");
        let kept = rewritten(webapp.clone(), &[Platform::LinuxArm64]);
        assert!(kept.notes.is_empty(), "the bundle holds the files the manifest names: {:?}", kept.notes);
        assert_eq!(kept.manifest, webapp, "and the fields stay as written");
        let again = rewritten(r.manifest.clone(), &[Platform::LinuxArm64]);
        assert_eq!(again.manifest, r.manifest);
        assert!(again.notes.is_empty(), "{:?}", again.notes);
    }

    #[test]
    fn unsafe_or_colliding_paths_go_to_the_default() {
        let manifest = with(
            "server",
            json!({ "runtime": "go", "executables": {
                "linux-amd64": "../escape",
                "linux-arm64": "venv/bin",
                "darwin-amd64": "server/dist/plugin-darwin-arm64",
                "darwin-arm64": "C:\\plugin",
                "windows-amd64": "server/dist/plugin.exe",
            }}),
        );
        let r = rewritten(manifest, &Platform::ALL);
        let expected: Vec<_> = Platform::ALL.iter().map(|p| (*p, p.default_path())).collect();
        assert_eq!(r.executables, expected);
        assert_eq!(
            r.notes[0],
            "set server.runtime to \"python\" (was \"go\"; the server starts native gRPC plugins only with this runtime)"
        );
        assert!(r.notes[2].contains("\"venv/bin\" collides with \"venv/bin/python\""), "{}", r.notes[2]);
        assert!(r.notes[3].contains("collides with \"server/dist/plugin-darwin-arm64\""), "{}", r.notes[3]);
        assert!(r.notes[5].contains("venv\\Scripts\\python.exe"), "{}", r.notes[5]);

        let same = with("server", json!({ "executables": { "linux-amd64": "bin/p", "linux-arm64": "bin/p/q" } }));
        let r = rewritten(same, &[Platform::LinuxAmd64, Platform::LinuxArm64]);
        assert_eq!(r.executables[0].1, "bin/p");
        assert_eq!(r.executables[1].1, "server/dist/plugin-linux-arm64");
    }

    #[test]
    fn a_path_with_a_name_no_file_system_takes_goes_to_the_default() {
        let long = format!("server/{}", "a".repeat(256));
        assert_eq!(clean(&long), None);
        assert_eq!(clean(&format!("server/{}", "a".repeat(255))).as_deref(), Some(&*format!("server/{}", "a".repeat(255))));
        let manifest = with("server", json!({ "executables": { "linux-amd64": long } }));
        let r = rewritten(manifest, &[Platform::LinuxAmd64]);
        assert_eq!(r.executables[0].1, Platform::LinuxAmd64.default_path());
        assert!(r.notes.iter().any(|n| n.contains("over 255 bytes")), "{:?}", r.notes);
    }

    #[test]
    fn clean_paths() {
        assert_eq!(clean("./a//b/./c").as_deref(), Some("a/b/c"));
        for bad in ["", ".", "/abs", "a/../b", "..", "a\\b"] {
            assert_eq!(clean(bad), None, "{bad}");
        }
        assert!(collides("a/b", "a") && collides("a", "a/b") && collides("a", "a") && !collides("ab", "a"));
    }
}
