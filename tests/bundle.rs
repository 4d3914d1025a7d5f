//! `mmplugin-gen bundle`: the archive it writes, read back; its refusals;
//! and the launcher, run as the server runs it.

mod common;

use std::{
    fs,
    io::Read as _,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::Duration,
};

use common::{assert_golden, root, run, text};
use mmplugin_gen::bundle::{self, Bundle, Contents, Platform};

/// A 64-bit little-endian ELF header for `machine`, then `payload`.
fn elf(machine: u16, payload: &str) -> Vec<u8> {
    let mut b = vec![0u8; 64];
    b[..7].copy_from_slice(b"\x7fELF\x02\x01\x01");
    b[16] = 2; // ET_EXEC
    b[18..20].copy_from_slice(&machine.to_le_bytes());
    b.extend(payload.as_bytes());
    b.resize(300, 0xa5);
    b
}

/// A 64-bit Mach-O header for `cputype`, then `payload`.
fn macho(cputype: u32, payload: &str) -> Vec<u8> {
    let mut b = vec![0xcf, 0xfa, 0xed, 0xfe];
    b.extend(cputype.to_le_bytes());
    b.resize(32, 0);
    b.extend(payload.as_bytes());
    b.resize(280, 0x5a);
    b
}

/// A PE header for x86-64, then `payload`.
fn pe(payload: &str) -> Vec<u8> {
    let mut b = vec![0u8; 0x98];
    b[..2].copy_from_slice(b"MZ");
    b[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
    b[0x80..0x84].copy_from_slice(b"PE\0\0");
    b[0x84..0x86].copy_from_slice(&0x8664u16.to_le_bytes());
    b.extend(payload.as_bytes());
    b.resize(320, 0x3c);
    b
}

const LINUX_AMD64: u16 = 62;
const LINUX_ARM64: u16 = 183;
const DARWIN_ARM64: u32 = 0x0100_000c;

/// A manifest with keys the bundle must keep, in an order it must keep.
const MANIFEST: &str = r#"{
  "name": "Hello",
  "id": "com.example.hello",
  "version": "1.2.3-rc.1",
  "min_server_version": "10.0.0",
  "description": "says hello",
  "server": {
    "executable": "server/dist/plugin",
    "executables": {
      "darwin-amd64": "server/dist/plugin-darwin-amd64",
      "linux-amd64": "bin/hello-linux"
    },
    "custom_key": { "z": 1, "a": 2 }
  },
  "settings_schema": {
    "settings": [
      { "key": "Word", "display_name": "Word", "type": "text", "default": "hi", "placeholder": "a word" },
      { "key": "Mode", "display_name": "Mode", "type": "radio", "options": [{ "display_name": "A", "value": "a" }] }
    ]
  },
  "props": { "zz": true, "aa": [1, 2.5, "x"] }
}
"#;

/// A temporary folder with a manifest, binaries and an output folder.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(manifest: &str) -> Self {
        let fixture = Fixture { dir: tempfile::tempdir().unwrap() };
        fs::write(fixture.manifest(), manifest).unwrap();
        fixture
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn manifest(&self) -> PathBuf {
        self.path("plugin.json")
    }

    fn out(&self) -> PathBuf {
        self.path("dist")
    }

    /// Writes a binary and returns its path.
    fn binary(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(name);
        fs::write(&path, bytes).unwrap();
        path
    }

    /// Runs `bundle` with `--manifest`, each `--exe` and `--out`.
    fn bundle(&self, manifest: &Path, exes: &[(&str, &Path)], out: &Path) -> Output {
        let mut args = vec!["bundle".to_owned(), "--manifest".to_owned(), manifest.display().to_string()];
        for (platform, binary) in exes {
            args.extend(["--exe".to_owned(), format!("{platform}={}", binary.display())]);
        }
        args.extend(["--out".to_owned(), out.display().to_string()]);
        run(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }
}

/// One entry of a bundle, read back.
#[derive(Debug)]
struct Read {
    path: String,
    dir: bool,
    mode: u32,
    data: Vec<u8>,
}

/// Reads a bundle back, checking what every entry must share: mtime 0,
/// uid and gid 0, no user or group name, no other entry types.
fn read_bundle(path: &Path) -> Vec<Read> {
    let bytes = fs::read(path).unwrap();
    assert_eq!(&bytes[..4], &[0x1f, 0x8b, 8, 0], "gzip, deflate, no flags (so no file name)");
    assert_eq!(&bytes[4..8], &[0, 0, 0, 0], "gzip mtime 0");
    assert_eq!(bytes[9], 255, "gzip OS byte: unknown");
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
    let mut entries = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let header = entry.header().clone();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        assert_eq!(header.mtime().unwrap(), 0, "{path}");
        assert_eq!((header.uid().unwrap(), header.gid().unwrap()), (0, 0), "{path}");
        assert_eq!(header.username().unwrap(), Some(""), "{path}");
        assert_eq!(header.groupname().unwrap(), Some(""), "{path}");
        let dir = header.entry_type().is_dir();
        assert!(dir || header.entry_type().is_file(), "{path}: {:?}", header.entry_type());
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        entries.push(Read { path, dir, mode: header.mode().unwrap(), data });
    }
    entries
}

fn listing(entries: &[Read]) -> Vec<String> {
    entries.iter().map(|e| format!("{} {:o} {}", if e.dir { "dir " } else { "file" }, e.mode, e.path)).collect()
}

fn find<'a>(entries: &'a [Read], path: &str) -> &'a Read {
    entries.iter().find(|e| e.path == path).unwrap_or_else(|| panic!("no {path} in {:?}", listing(entries)))
}

/// The names in a folder, sorted (temporary files included).
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => return vec!["<absent>".into()],
    };
    names.sort();
    names
}

#[test]
fn two_platforms_read_back() {
    let f = Fixture::new(MANIFEST);
    let linux = elf(LINUX_AMD64, "linux amd64 plugin");
    let darwin = macho(DARWIN_ARM64, "darwin arm64 plugin");
    let (linux_path, darwin_path) = (f.binary("hello-linux", &linux), f.binary("hello-darwin", &darwin));
    let out = f.bundle(&f.manifest(), &[("linux-amd64", &linux_path), ("darwin-arm64", &darwin_path)], &f.out());
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");

    let bundle = f.out().join("com.example.hello-1.2.3-rc.1.tar.gz");
    assert_eq!(stdout, format!("{}\n", bundle.display()), "stdout is the path and nothing else");
    let m = f.manifest().display().to_string();
    let expected_notes = [
        "set server.runtime to \"python\" (the server starts native gRPC plugins only with this runtime)",
        "set server.executables.darwin-arm64 to \"server/dist/plugin-darwin-arm64\"",
        "removed server.executables.darwin-amd64 (no binary given for it)",
        "removed server.executable (the host starts it on any platform not in server.executables, \
         and the bundle has no binary for those)",
    ]
    .map(|n| format!("note: {m}: {n}"));
    assert_eq!(stderr.lines().collect::<Vec<_>>(), expected_notes);

    let entries = read_bundle(&bundle);
    assert_eq!(
        listing(&entries),
        [
            "dir  755 com.example.hello",
            "dir  755 com.example.hello/bin",
            "file 755 com.example.hello/bin/hello-linux",
            "file 644 com.example.hello/plugin.json",
            "dir  755 com.example.hello/server",
            "dir  755 com.example.hello/server/dist",
            "file 755 com.example.hello/server/dist/plugin-darwin-arm64",
            "dir  755 com.example.hello/venv",
            "dir  755 com.example.hello/venv/bin",
            "file 755 com.example.hello/venv/bin/python",
        ]
    );
    assert_eq!(find(&entries, "com.example.hello/bin/hello-linux").data, linux);
    assert_eq!(find(&entries, "com.example.hello/server/dist/plugin-darwin-arm64").data, darwin);
    let launcher = text(&find(&entries, "com.example.hello/venv/bin/python").data);
    assert_golden(&root().join("tests/golden/bundle/launcher.sh"), &launcher);
    assert_eq!(launcher, bundle::LAUNCHER);

    // The manifest: the author's, key order and all, with the three changes.
    let json = text(&find(&entries, "com.example.hello/plugin.json").data);
    assert!(json.ends_with("}\n") && json.contains("\n  \"name\": \"Hello\",\n"), "pretty-printed:\n{json}");
    let bundled: serde_json::Value = serde_json::from_str(&json).unwrap();
    let mut expected: serde_json::Value = serde_json::from_str(MANIFEST).unwrap();
    let server = expected["server"].as_object_mut().unwrap();
    server.shift_remove("executable");
    server["executables"] = serde_json::json!({
        "linux-amd64": "bin/hello-linux",
        "darwin-arm64": "server/dist/plugin-darwin-arm64",
    });
    server.insert("runtime".into(), "python".into());
    assert_eq!(json, format!("{expected:#}\n"), "only runtime, executables and executable change");
    let keys = |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        keys(&bundled),
        ["name", "id", "version", "min_server_version", "description", "server", "settings_schema", "props"]
    );
    assert_eq!(keys(&bundled["server"]), ["executables", "custom_key", "runtime"]);
    assert_eq!(keys(&bundled["server"]["executables"]), ["linux-amd64", "darwin-arm64"]);
    assert_eq!(keys(&bundled["server"]["custom_key"]), ["z", "a"]);
    assert_eq!(keys(&bundled["props"]), ["zz", "aa"]);
    assert_eq!(bundled["props"]["aa"], serde_json::json!([1, 2.5, "x"]));
}

#[test]
fn windows_binary_is_the_interpreter_the_host_looks_for() {
    let manifest = MANIFEST.replace(
        "\"darwin-amd64\": \"server/dist/plugin-darwin-amd64\"",
        "\"windows-amd64\": \"server/dist/plugin-windows-amd64.exe\"",
    );
    let f = Fixture::new(&manifest);
    let windows = pe("windows plugin");
    let arm = elf(LINUX_ARM64, "linux arm64 plugin");
    let (windows_path, arm_path) = (f.binary("hello.exe", &windows), f.binary("hello-arm", &arm));
    let out = f.bundle(&f.manifest(), &[("windows-amd64", &windows_path), ("linux-arm64", &arm_path)], &f.out());
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "set server.executables.windows-amd64 to \"venv/Scripts/python.exe\" \
             (was \"server/dist/plugin-windows-amd64.exe\"; the host on Windows runs venv\\Scripts\\python.exe, \
             so the plugin binary itself goes there)"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("removed server.executables.linux-amd64 (no binary given for it)"), "{stderr}");

    let bundle = PathBuf::from(text(&out.stdout).trim_end());
    let entries = read_bundle(&bundle);
    assert_eq!(
        listing(&entries),
        [
            "dir  755 com.example.hello",
            "file 644 com.example.hello/plugin.json",
            "dir  755 com.example.hello/server",
            "dir  755 com.example.hello/server/dist",
            "file 755 com.example.hello/server/dist/plugin-linux-arm64",
            "dir  755 com.example.hello/venv",
            "dir  755 com.example.hello/venv/Scripts",
            "file 755 com.example.hello/venv/Scripts/python.exe",
            "dir  755 com.example.hello/venv/bin",
            "file 755 com.example.hello/venv/bin/python",
        ]
    );
    assert_eq!(find(&entries, "com.example.hello/venv/Scripts/python.exe").data, windows);
    assert_eq!(find(&entries, "com.example.hello/server/dist/plugin-linux-arm64").data, arm);
    let bundled: serde_json::Value =
        serde_json::from_slice(&find(&entries, "com.example.hello/plugin.json").data).unwrap();
    assert_eq!(
        bundled["server"]["executables"],
        serde_json::json!({
            "windows-amd64": "venv/Scripts/python.exe",
            "linux-arm64": "server/dist/plugin-linux-arm64",
        })
    );

    // Windows alone: no launcher, no server/ folder.
    let alone = f.bundle(&f.manifest(), &[("windows-amd64", &windows_path)], &f.path("alone"));
    assert!(alone.status.success(), "{}", text(&alone.stderr));
    let entries = read_bundle(&PathBuf::from(text(&alone.stdout).trim_end()));
    assert_eq!(
        listing(&entries),
        [
            "dir  755 com.example.hello",
            "file 644 com.example.hello/plugin.json",
            "dir  755 com.example.hello/venv",
            "dir  755 com.example.hello/venv/Scripts",
            "file 755 com.example.hello/venv/Scripts/python.exe",
        ]
    );
}

#[test]
fn same_input_same_bytes_and_an_old_bundle_is_replaced() {
    let f = Fixture::new(MANIFEST);
    let linux = f.binary("l", &elf(LINUX_AMD64, "x"));
    let darwin = f.binary("d", &macho(DARWIN_ARM64, "y"));
    let exes = [("darwin-arm64", darwin.as_path()), ("linux-amd64", linux.as_path())];
    let bundle = f.out().join("com.example.hello-1.2.3-rc.1.tar.gz");
    fs::create_dir_all(f.out()).unwrap();
    fs::write(&bundle, "an old bundle").unwrap();
    assert!(f.bundle(&f.manifest(), &exes, &f.out()).status.success());
    let first = fs::read(&bundle).unwrap();
    assert!(f.bundle(&f.manifest(), &exes, &f.out()).status.success());
    assert_eq!(fs::read(&bundle).unwrap(), first, "a second run into the same folder");
    let other = f.path("elsewhere/deeper");
    let reversed = [exes[1], exes[0]];
    assert!(f.bundle(&f.manifest(), &reversed, &other).status.success());
    assert_eq!(fs::read(other.join("com.example.hello-1.2.3-rc.1.tar.gz")).unwrap(), first, "another folder");
    assert_eq!(names(&f.out()), ["com.example.hello-1.2.3-rc.1.tar.gz"], "no temporary file is left");
}

#[test]
fn the_library_reports_what_it_wrote() {
    let f = Fixture::new(MANIFEST.replace("com.example.hello", "Com.Example.Hello").as_str());
    let linux = f.binary("l", &elf(LINUX_AMD64, "x"));
    let written = bundle::write(&Bundle {
        manifest: f.manifest(),
        executables: vec![(Platform::LinuxAmd64, linux.clone())],
        out: f.out(),
    })
    .unwrap();
    assert_eq!(written.path, f.out().join("Com.Example.Hello-1.2.3-rc.1.tar.gz"));
    assert_eq!(
        written.notes[0],
        format!(
            "{}: id \"Com.Example.Hello\" has upper-case letters: the server lower-cases it, \
             so the plugin's URLs use \"com.example.hello\"",
            f.manifest().display()
        )
    );
    let read = read_bundle(&written.path);
    assert_eq!(
        written.entries.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(),
        read.iter().map(|e| e.path.as_str()).collect::<Vec<_>>()
    );
    for (entry, back) in written.entries.iter().zip(&read) {
        assert_eq!(entry.mode, back.mode, "{}", entry.path);
        assert_eq!(entry.size(), back.data.len() as u64, "{}", entry.path);
        match &entry.contents {
            Contents::Dir => assert!(back.dir),
            Contents::Bytes(bytes) => assert_eq!(bytes, &back.data),
            Contents::File { source, .. } => assert_eq!((source, &back.data), (&linux, &fs::read(&linux).unwrap())),
        }
    }
}

/// Runs `bundle` and checks it refused: exit 1, nothing on stdout, each of
/// `wanted` in stderr (every line an `error: `), and the output folder as it
/// was (no temporary file either).
fn assert_refused(f: &Fixture, manifest: &Path, exes: &[(&str, &Path)], wanted: &[&str]) -> String {
    let out_dir = f.out();
    fs::create_dir_all(&out_dir).unwrap();
    fs::write(out_dir.join("keep.txt"), "untouched").unwrap();
    let before = common::snapshot(&out_dir);
    let out = f.bundle(manifest, exes, &out_dir);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(text(&out.stdout), "", "{stderr}");
    assert!(stderr.lines().all(|l| l.starts_with("error: ")), "{stderr}");
    for want in wanted {
        assert!(stderr.contains(want), "missing {want:?} in:\n{stderr}");
    }
    assert_eq!(common::snapshot(&out_dir), before);
    assert_eq!(names(&out_dir), ["keep.txt"]);
    stderr
}

#[test]
fn bad_manifests_are_refused_naming_the_field() {
    let long_id = format!("\"{}\"", "a".repeat(191));
    let long_id_wanted = format!("id: \"{}\"… is 191 characters long: an id has at most 190", "a".repeat(40));
    let cases: &[(&str, &str, &str)] = &[
        ("id", "\"ab\"", "id: \"ab\" is too short"),
        ("id", "\"com.example/hello\"", "id: \"com.example/hello\" has the character '/'"),
        ("id", &long_id, &long_id_wanted),
        ("name", "\"  \"", "name: required"),
        ("name", "[\"Hello\"]", "name: expected a string, found an array"),
        ("version", "\"v1.0.0\"", "version: \"v1.0.0\" is not a semantic version"),
        ("version", "\"1.0\"", "version: \"1.0\" is not a semantic version"),
        ("version", "\"01.0.0\"", "version: \"01.0.0\" is not a semantic version"),
        ("version", "null", "version: required for a bundle"),
        ("min_server_version", "\"10\"", "min_server_version: \"10\" is not a semantic version"),
        ("homepage_url", "\"example.com\"", "homepage_url: \"example.com\" is not an http:// or https:// URL"),
    ];
    for (key, value, wanted) in cases {
        let mut manifest: serde_json::Value = serde_json::from_str(MANIFEST).unwrap();
        manifest[*key] = serde_json::from_str(value).unwrap();
        let f = Fixture::new(&manifest.to_string());
        let linux = f.binary("l", &elf(LINUX_AMD64, ""));
        let full = format!("error: {}: {wanted}", f.manifest().display());
        assert_refused(&f, &f.manifest(), &[("linux-amd64", &linux)], &[&full]);
    }

    let settings: &[(&str, &str)] = &[
        (
            r#"{ "type": "texte" }"#,
            "settings_schema.settings[2].type: \"texte\" is not a setting type the server knows (bool, dropdown, generated, radio, text, longtext, number, username, custom)",
        ),
        (r#"{ "type": "bool", "placeholder": "x" }"#, "settings_schema.settings[2].placeholder: only settings of type"),
        (
            r#"{ "type": "text", "options": [{ "display_name": "A", "value": "a" }] }"#,
            "settings_schema.settings[2].options: only settings of type radio or dropdown",
        ),
        (
            r#"{ "type": "dropdown", "options": [{ "display_name": "A", "value": "" }] }"#,
            "settings_schema.settings[2].options[0].value: required",
        ),
    ];
    for (setting, wanted) in settings {
        let mut manifest: serde_json::Value = serde_json::from_str(MANIFEST).unwrap();
        let setting = serde_json::from_str(setting).unwrap();
        manifest["settings_schema"]["settings"].as_array_mut().unwrap().push(setting);
        let f = Fixture::new(&manifest.to_string());
        let linux = f.binary("l", &elf(LINUX_AMD64, ""));
        let full = format!("error: {}: {wanted}", f.manifest().display());
        assert_refused(&f, &f.manifest(), &[("linux-amd64", &linux)], &[&full]);
    }

    let f = Fixture::new("[\"not\", \"an\", \"object\"]");
    let linux = f.binary("l", &elf(LINUX_AMD64, ""));
    assert_refused(&f, &f.manifest(), &[("linux-amd64", &linux)], &["a manifest is a JSON object, not an array"]);
    fs::write(f.manifest(), "{ \"id\": ").unwrap();
    assert_refused(&f, &f.manifest(), &[("linux-amd64", &linux)], &["not valid JSON", "line 1 column 8"]);
    let yaml = f.path("plugin.yaml");
    fs::write(&yaml, "id: com.example.hello\n").unwrap();
    assert_refused(
        &f,
        &yaml,
        &[("linux-amd64", &linux)],
        &["plugin.yaml: YAML manifests are not supported, only plugin.json"],
    );
    assert_refused(&f, &f.path("absent.json"), &[("linux-amd64", &linux)], &["absent.json: No such file"]);
}

#[test]
fn every_manifest_problem_is_reported_at_once() {
    let f = Fixture::new(r#"{ "id": "a b", "name": "", "version": "1", "support_url": "x", "server": [] }"#);
    let linux = f.binary("l", &elf(LINUX_AMD64, ""));
    let stderr = assert_refused(&f, &f.manifest(), &[("linux-amd64", &linux)], &[]);
    let m = f.manifest().display().to_string();
    let fields: Vec<&str> =
        stderr.lines().map(|l| l.strip_prefix(&format!("error: {m}: ")).unwrap().split(':').next().unwrap()).collect();
    assert_eq!(fields, ["id", "name", "support_url", "version", "server"], "{stderr}");
}

#[test]
fn bad_command_lines_and_binaries_are_refused() {
    let f = Fixture::new(MANIFEST);
    let m = f.manifest();
    let amd = f.binary("amd", &elf(LINUX_AMD64, ""));
    let arm = f.binary("arm", &elf(LINUX_ARM64, ""));
    let exe = f.binary("win.exe", &pe(""));
    let noise = f.binary("noise", &(0..200u8).map(|i| i.wrapping_mul(37).wrapping_add(11)).collect::<Vec<_>>());
    fs::create_dir(f.path("folder")).unwrap();
    let folder = f.path("folder");
    let missing = f.path("missing");
    let cases: &[(&[(&str, &Path)], &str)] = &[
        (
            &[("linux-386", &amd)],
            "unknown platform \"linux-386\": expected one of linux-amd64, linux-arm64, darwin-amd64, darwin-arm64, windows-amd64",
        ),
        (&[("linux-amd64", &amd), ("linux-amd64", &amd)], "linux-amd64 is given twice"),
        (&[], "no binary given: name at least one as PLATFORM=BINARY"),
        (&[("linux-amd64", &missing)], "missing: no such file (given for linux-amd64)"),
        (&[("linux-amd64", &folder)], "folder: is a directory, not a binary (given for linux-amd64)"),
        (
            &[("linux-amd64", &arm)],
            "arm: is an ELF 64-bit little-endian aarch64 executable, but linux-amd64 needs an ELF 64-bit little-endian x86-64 executable",
        ),
        (&[("linux-amd64", &exe)], "win.exe: is a PE x86-64 executable, but linux-amd64 needs"),
        (&[("linux-amd64", &noise)], "noise: is not an executable format this tool knows (it starts with 0b 30 55 7a)"),
        (
            &[("windows-amd64", &amd)],
            "amd: is an ELF 64-bit little-endian x86-64 executable, but windows-amd64 needs a PE x86-64 executable",
        ),
        (&[("darwin-arm64", &amd)], "but darwin-arm64 needs a Mach-O 64-bit arm64 executable"),
    ];
    for (exes, wanted) in cases {
        assert_refused(&f, &m, exes, &[wanted]);
    }
    // Binaries are all checked before anything is reported.
    let both = assert_refused(&f, &m, &[("linux-amd64", &arm), ("linux-arm64", &amd)], &[]);
    assert_eq!(both.lines().count(), 2, "{both}");
    // A missing `=`, and an output folder that does not exist stays so.
    let absent = f.path("never");
    let out =
        run(&["bundle", "--manifest", m.to_str().unwrap(), "--exe", "linux-amd64", "--out", absent.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("error: \"linux-amd64\" is not PLATFORM=BINARY"), "{}", text(&out.stderr));
    let out = f.bundle(&m, &[("linux-amd64", &arm)], &absent);
    assert_eq!(out.status.code(), Some(1));
    assert!(!absent.exists());
}

/// `host=BINARY` is the platform of the machine running `bundle`, so a
/// script can bundle what it just built without naming the platform.
#[test]
fn host_names_this_machines_platform() {
    let parsed = mmplugin_gen::bundle::parse_executable("host=target/release/my-plugin");
    match Platform::host() {
        Some(platform) => {
            let (got, binary) = parsed.unwrap();
            assert_eq!((got, binary), (platform, std::path::PathBuf::from("target/release/my-plugin")));
        }
        None => assert!(parsed.unwrap_err().to_string().contains("is not a platform a bundle can hold")),
    }
}

#[test]
fn a_failed_rename_leaves_no_temporary_file() {
    let f = Fixture::new(MANIFEST);
    let linux = f.binary("l", &elf(LINUX_AMD64, ""));
    // A folder where the bundle should go: everything passes up to the rename.
    fs::create_dir_all(f.out().join("com.example.hello-1.2.3-rc.1.tar.gz")).unwrap();
    let out = f.bundle(&f.manifest(), &[("linux-amd64", &linux)], &f.out());
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).starts_with("error: writing "), "{}", text(&out.stderr));
    assert_eq!(names(&f.out()), ["com.example.hello-1.2.3-rc.1.tar.gz"]);
}

/// Runs `interpreter executable` in `folder` as the host does; returns the
/// child's PID and what it printed. Retries while the file is busy (a
/// concurrent test's fork may briefly hold a freshly written file open).
fn run_as_host(folder: &Path, interpreter: &Path, executable: &str) -> (u32, Output) {
    for _ in 0..20 {
        let child = Command::new(interpreter)
            .arg(executable)
            .current_dir(folder)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let child = match child {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => continue,
            other => other.unwrap(),
        };
        let pid = child.id();
        let output = child.wait_with_output().unwrap();
        if output.status.code() == Some(126) && text(&output.stderr).contains("busy") {
            continue;
        }
        return (pid, output);
    }
    panic!("{} stayed busy", interpreter.display());
}

#[test]
fn the_launcher_execs_the_plugin_in_its_own_process() {
    let Some(platform) = Platform::host().filter(|p| !p.is_windows()) else {
        eprintln!(
            "SKIPPED: the launcher is a POSIX sh script; this machine runs neither Linux nor macOS on x86-64/arm64"
        );
        return;
    };
    let f = Fixture::new(MANIFEST);
    let script = f.binary("plugin.sh", b"#!/bin/sh\necho $$\necho \"args:$#\" >&2\n");
    let out = f.bundle(&f.manifest(), &[(platform.as_str(), &script)], &f.out());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let unpacked = f.path("installed");
    let bundle = fs::read(PathBuf::from(text(&out.stdout).trim_end())).unwrap();
    tar::Archive::new(flate2::read::GzDecoder::new(bundle.as_slice())).unpack(&unpacked).unwrap();
    let folder = unpacked.join("com.example.hello");
    let manifest: serde_json::Value = serde_json::from_slice(&fs::read(folder.join("plugin.json")).unwrap()).unwrap();
    assert_eq!(manifest["server"]["runtime"], "python");
    let executable = manifest["server"]["executables"][platform.as_str()].as_str().unwrap().to_owned();
    let interpreter = folder.join("venv/bin/python");

    // As the host runs it: relative executable, plugin folder as working directory.
    let absolute = folder.join(&executable).display().to_string();
    for executable in [executable.as_str(), absolute.as_str()] {
        let (pid, output) = run_as_host(&folder, &interpreter, executable);
        assert!(output.status.success(), "{executable}: {}", text(&output.stderr));
        assert_eq!(text(&output.stdout).trim(), pid.to_string(), "{executable}: the plugin is the spawned process");
        assert_eq!(text(&output.stderr), "args:0\n", "{executable}: no extra arguments");
    }

    let usage = Command::new(&interpreter).current_dir(&folder).output().unwrap();
    assert_eq!(usage.status.code(), Some(2));
    let stderr = text(&usage.stderr);
    assert!(stderr.starts_with("usage: venv/bin/python EXECUTABLE") && stderr.lines().count() == 1, "{stderr}");
}

// ---- Interrupted runs leave nothing ----------------------------------------

/// A binary big enough that writing its bundle takes a while: bytes of a
/// fixed pseudo-random sequence, which gzip cannot shrink.
fn big_binary(dir: &Path, mib: usize) -> PathBuf {
    let mut bytes = elf(LINUX_AMD64, "big");
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    bytes.reserve(mib << 20);
    for _ in 0..(mib << 17) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    let path = dir.join("big-plugin");
    fs::write(&path, bytes).unwrap();
    path
}

/// The temporary files in `dir`, by name.
fn temporaries(dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n.ends_with(".tmp")).collect()
}

/// SIGTERM (or Ctrl-C) while the bundle is being written removes the
/// temporary file: it used to stay, up to 64 MB, in 7 of 7 runs.
#[cfg(unix)]
#[test]
fn a_bundle_stopped_halfway_leaves_no_temporary_file() {
    let temp = tempfile::tempdir().unwrap();
    let manifest = temp.path().join("plugin.json");
    fs::write(&manifest, MANIFEST).unwrap();
    let binary = big_binary(temp.path(), 96);
    let out = temp.path().join("dist");
    for signal in ["TERM", "INT"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mmplugin-gen"))
            .args(["bundle", "--manifest", manifest.to_str().unwrap(), "--out", out.to_str().unwrap()])
            .arg("--exe")
            .arg(format!("linux-amd64={}", binary.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        while temporaries(&out).is_empty() && started.elapsed() < Duration::from_secs(30) {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(!temporaries(&out).is_empty(), "SIG{signal}: the bundle was done before it could be stopped halfway");
        let sent = Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status();
        assert!(sent.unwrap().success());
        let done = child.wait_with_output().unwrap();
        assert_eq!(done.status.code(), Some(130), "SIG{signal}: {}", text(&done.stderr));
        assert!(text(&done.stderr).contains("interrupted"), "{}", text(&done.stderr));
        assert_eq!(temporaries(&out), Vec::<String>::new(), "SIG{signal}");
        assert!(!out.join("com.example.hello-1.2.3-rc.1.tar.gz").exists(), "no bundle either");
    }
}

/// SIGKILL cannot be caught: the next run removes what a process that is
/// gone left, and leaves a running one's alone.
#[cfg(unix)]
#[test]
fn the_next_bundle_removes_what_a_killed_one_left() {
    let temp = tempfile::tempdir().unwrap();
    let manifest = temp.path().join("plugin.json");
    fs::write(&manifest, MANIFEST).unwrap();
    let binary = temp.path().join("plugin");
    fs::write(&binary, elf(LINUX_AMD64, "p")).unwrap();
    let out = temp.path().join("dist");
    fs::create_dir(&out).unwrap();
    let mut gone = Command::new("true").spawn().unwrap();
    let gone_pid = gone.id();
    gone.wait().unwrap();
    let name = "com.example.hello-1.2.3-rc.1.tar.gz";
    let stale = [format!(".{name}.{gone_pid}.tmp"), format!(".{name}.{gone_pid}-1.tmp")];
    let running = format!(".{name}.{}.tmp", std::process::id());
    for file in stale.iter().chain([&running]) {
        fs::write(out.join(file), b"half a bundle").unwrap();
    }
    let exe = format!("linux-amd64={}", binary.display());
    let done = run(&["bundle", "--manifest", manifest.to_str().unwrap(), "--exe", &exe, "--out", out.to_str().unwrap()]);
    assert!(done.status.success(), "{}", text(&done.stderr));
    assert_eq!(temporaries(&out), [running], "the stale ones went; a live process's stays");
}

// ---- The plugin's own files: assets/, public/, the webapp bundle, the icon ----

/// A small SVG, as the server's icon check wants one.
const ICON: &str = concat!(
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
    "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 16 16\">",
    "<circle cx=\"8\" cy=\"8\" r=\"7\" fill=\"#1e325c\"/></svg>\n",
);

/// `MANIFEST` with an icon and a webapp bundle named.
fn manifest_with_files(icon: &str, webapp: &str) -> String {
    let mut manifest: serde_json::Value = serde_json::from_str(MANIFEST).unwrap();
    manifest["icon_path"] = icon.into();
    manifest["webapp"] = serde_json::json!({ "bundle_path": webapp });
    format!("{manifest:#}\n")
}

impl Fixture {
    /// Writes `bytes` at `name` (a path below the project), making its folders.
    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, bytes).unwrap();
        path
    }

    /// The starter template's layout beside plugin.json: assets/ (with the
    /// icon), public/, the webapp's sources and its build in webapp/dist/.
    fn starter_layout(&self) {
        self.file("assets/icon.svg", ICON.as_bytes());
        self.file("assets/greeting.txt", b"Hello from the assets!\n");
        self.file("assets/i18n/en.json", b"{\"hello\": \"Hello\"}\n");
        self.file("public/hello.html", b"<p>hello</p>\n");
        self.file("webapp/dist/main.js", b"console.log('main');\n");
        self.file("webapp/dist/chunk.js", b"console.log('chunk');\n");
        self.file("webapp/src/index.tsx", b"// sources stay out\n");
    }

    /// Runs `bundle` with one linux-amd64 binary and `extra` arguments.
    fn bundle_with(&self, extra: &[&str], out: &Path) -> Output {
        let linux = self.binary("hello-linux", &elf(LINUX_AMD64, "linux amd64 plugin"));
        let manifest = self.manifest().display().to_string();
        let exe = format!("linux-amd64={}", linux.display());
        let out = out.display().to_string();
        let mut args = vec!["bundle", "--manifest", &manifest, "--exe", &exe, "--out", &out];
        args.extend(extra);
        run(&args)
    }
}

/// The bundle a successful run wrote, read back.
fn bundled(out: &Output) -> Vec<Read> {
    assert!(out.status.success(), "{}", text(&out.stderr));
    read_bundle(&PathBuf::from(text(&out.stdout).trim_end()))
}

fn paths(entries: &[Read]) -> Vec<&str> {
    entries.iter().map(|e| e.path.as_str()).collect()
}

#[cfg(unix)]
fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn assets_public_the_webapp_bundle_and_the_icon_are_bundled() {
    let f = Fixture::new(&manifest_with_files("assets/icon.svg", "webapp/dist/main.js"));
    f.starter_layout();
    let _script = f.file("assets/run.sh", b"#!/bin/sh\n");
    #[cfg(unix)]
    chmod(&_script, 0o755);
    let out = f.bundle_with(&[], &f.out());
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("does not hold"), "the bundle holds what the manifest names:\n{stderr}");
    let entries = bundled(&out);
    assert_eq!(
        listing(&entries),
        [
            "dir  755 com.example.hello",
            "dir  755 com.example.hello/assets",
            "file 644 com.example.hello/assets/greeting.txt",
            "dir  755 com.example.hello/assets/i18n",
            "file 644 com.example.hello/assets/i18n/en.json",
            "file 644 com.example.hello/assets/icon.svg",
            "file 644 com.example.hello/assets/run.sh",
            "dir  755 com.example.hello/bin",
            "file 755 com.example.hello/bin/hello-linux",
            "file 644 com.example.hello/plugin.json",
            "dir  755 com.example.hello/public",
            "file 644 com.example.hello/public/hello.html",
            "dir  755 com.example.hello/venv",
            "dir  755 com.example.hello/venv/bin",
            "file 755 com.example.hello/venv/bin/python",
            "dir  755 com.example.hello/webapp",
            "dir  755 com.example.hello/webapp/dist",
            "file 644 com.example.hello/webapp/dist/chunk.js",
            "file 644 com.example.hello/webapp/dist/main.js",
        ],
        "the webapp bundle's whole folder (the server copies it), not the webapp's sources"
    );
    assert_eq!(find(&entries, "com.example.hello/assets/icon.svg").data, ICON.as_bytes());
    assert_eq!(find(&entries, "com.example.hello/assets/i18n/en.json").data, b"{\"hello\": \"Hello\"}\n");
    assert_eq!(find(&entries, "com.example.hello/webapp/dist/main.js").data, b"console.log('main');\n");
    let manifest: serde_json::Value =
        serde_json::from_slice(&find(&entries, "com.example.hello/plugin.json").data).unwrap();
    assert_eq!(manifest["icon_path"], "assets/icon.svg");
    assert_eq!(manifest["webapp"]["bundle_path"], "webapp/dist/main.js");
}

#[test]
fn the_icon_and_the_webapp_bundle_may_sit_anywhere_in_the_plugin_folder() {
    let f = Fixture::new(&manifest_with_files("./branding//logo.svg", "client/main.js"));
    f.file("branding/logo.svg", ICON.as_bytes());
    f.file("branding/unused.png", b"\x89PNG");
    f.file("client/main.js", b"main\n");
    let entries = bundled(&f.bundle_with(&["--no-assets"], &f.out()));
    let listed = paths(&entries);
    assert!(listed.contains(&"com.example.hello/branding/logo.svg"), "{listed:?}");
    assert!(!listed.contains(&"com.example.hello/branding/unused.png"), "only the icon of its folder: {listed:?}");
    assert!(listed.contains(&"com.example.hello/client/main.js"), "{listed:?}");
}

#[test]
fn flags_take_the_folders_from_elsewhere_or_leave_them_out() {
    let f = Fixture::new(MANIFEST);
    f.starter_layout();
    let built = f.file("build/assets/generated.txt", b"generated\n");
    let other = built.parent().unwrap().display().to_string();

    let entries = bundled(&f.bundle_with(&["--assets", &other, "--no-public"], &f.out()));
    let listed = paths(&entries);
    assert!(listed.contains(&"com.example.hello/assets/generated.txt"), "{listed:?}");
    assert!(!listed.iter().any(|p| p.contains("greeting.txt")), "the folder given replaces the one beside: {listed:?}");
    assert!(!listed.iter().any(|p| p.contains("public")), "--no-public: {listed:?}");
    assert!(!listed.iter().any(|p| p.contains("webapp")), "the manifest names no webapp: {listed:?}");

    let entries = bundled(&f.bundle_with(&["--no-assets", "--public", &other], &f.path("second")));
    let listed = paths(&entries);
    assert!(listed.contains(&"com.example.hello/public/generated.txt"), "{listed:?}");
    assert!(!listed.iter().any(|p| p.contains("/assets")), "--no-assets: {listed:?}");

    // Both ways at once is a mistake of the command line.
    let out = f.bundle_with(&["--assets", &other, "--no-assets"], &f.path("never"));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(!f.path("never").exists());
    // A folder given must be there.
    let missing = f.path("nowhere").display().to_string();
    let out = f.bundle_with(&["--public", &missing], &f.path("never"));
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("public") && stderr.contains(&missing) && stderr.contains("no such folder"), "{stderr}");
    assert!(!f.path("never").exists());
}

#[test]
fn a_webapp_build_the_manifest_does_not_name_is_left_out_with_a_note() {
    let f = Fixture::new(MANIFEST);
    f.file("webapp/dist/main.js", b"main\n");
    let out = f.bundle_with(&[], &f.out());
    let stderr = text(&out.stderr);
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("note: ") && l.contains("webapp/dist/main.js") && l.contains("webapp.bundle_path")),
        "{stderr}"
    );
    let entries = bundled(&out);
    assert!(!entries.iter().any(|e| e.path.contains("webapp")), "{:?}", listing(&entries));
}

/// Runs `bundle` on a manifest naming `icon` and `webapp`, with `setup`
/// done to the project, and checks it refused with each of `wanted`
/// (`{manifest}` and `{dir}` stand for the manifest's path and the
/// project's folder with a trailing `/`).
fn refused_files(icon: &str, webapp: &str, setup: impl FnOnce(&Fixture), wanted: &[&str]) -> String {
    let f = Fixture::new(&manifest_with_files(icon, webapp));
    setup(&f);
    let linux = f.binary("l", &elf(LINUX_AMD64, ""));
    let (m, dir) = (f.manifest().display().to_string(), f.path("").display().to_string());
    let wanted: Vec<String> = wanted.iter().map(|w| w.replace("{manifest}", &m).replace("{dir}", &dir)).collect();
    let wanted: Vec<&str> = wanted.iter().map(String::as_str).collect();
    assert_refused(&f, &f.manifest(), &[("linux-amd64", &linux)], &wanted)
}

fn webapp_built(f: &Fixture) {
    f.file("webapp/dist/main.js", b"main\n");
}

fn icon_drawn(f: &Fixture) {
    f.file("assets/icon.svg", ICON.as_bytes());
}

#[test]
fn what_the_manifest_names_must_be_there() {
    // A missing icon: the field, the path, where it was looked for.
    refused_files(
        "assets/icon.svg",
        "webapp/dist/main.js",
        webapp_built,
        &["error: {manifest}: icon_path: \"assets/icon.svg\" does not exist", "{dir}assets/icon.svg"],
    );
    refused_files(
        "assets/icon.svg",
        "webapp/dist/main.js",
        |f| {
            webapp_built(f);
            fs::create_dir_all(f.path("assets/icon.svg")).unwrap();
        },
        &["{manifest}: icon_path: \"assets/icon.svg\" is a folder, not a file"],
    );
    // An icon in assets/ when another assets folder is bundled is not in the bundle.
    let f = Fixture::new(&manifest_with_files("assets/icon.svg", "webapp/dist/main.js"));
    webapp_built(&f);
    icon_drawn(&f);
    let other = f.file("elsewhere/readme.txt", b"hi\n").parent().unwrap().display().to_string();
    let out = f.bundle_with(&["--assets", &other], &f.out());
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("icon_path: \"assets/icon.svg\" is not in the assets folder bundled"), "{stderr}");
    // A missing webapp bundle.
    refused_files(
        "assets/icon.svg",
        "webapp/dist/main.js",
        icon_drawn,
        &["error: {manifest}: webapp.bundle_path: \"webapp/dist/main.js\" does not exist", "{dir}webapp/dist"],
    );
    // Both at once, each on its line.
    let both = refused_files("assets/icon.svg", "webapp/dist/main.js", |_| {}, &["icon_path", "webapp.bundle_path"]);
    assert_eq!(both.lines().count(), 2, "{both}");
}

#[test]
fn what_the_manifest_names_must_be_inside_the_plugin_folder() {
    for (icon, wanted) in [
        ("../icon.svg", "{manifest}: icon_path: \"../icon.svg\" leaves the plugin folder"),
        ("assets/../../icon.svg", "icon_path: \"assets/../../icon.svg\" leaves the plugin folder"),
        ("/etc/icon.svg", "icon_path: \"/etc/icon.svg\" is absolute"),
        ("assets\\icon.svg", "icon_path: \"assets\\\\icon.svg\" has a backslash"),
    ] {
        let setup = |f: &Fixture| {
            webapp_built(f);
            icon_drawn(f);
            f.file("icon.svg", ICON.as_bytes());
        };
        refused_files(icon, "webapp/dist/main.js", setup, &[wanted]);
    }
    for (webapp, wanted) in [
        ("../webapp/main.js", "{manifest}: webapp.bundle_path: \"../webapp/main.js\" leaves the plugin folder"),
        ("/srv/main.js", "webapp.bundle_path: \"/srv/main.js\" is absolute"),
        // The server's own rule: a cleaned path starting with a dot is refused.
        (".build/main.js", "webapp.bundle_path: \".build/main.js\" starts with a dot"),
        ("", "webapp.bundle_path: required when the manifest has a webapp"),
    ] {
        let setup = |f: &Fixture| {
            icon_drawn(f);
            f.file(".build/main.js", b"main\n");
        };
        refused_files("assets/icon.svg", webapp, setup, &[wanted]);
    }
}

#[test]
fn an_icon_the_server_cannot_show_is_refused() {
    for (bytes, wanted) in [
        (&b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10\0\0\0\x10\x08\x06\0\0\0"[..], "not an SVG image"),
        (b"<svg xmlns=\"http://www.w3.org/2000/svg\"><circle r=\"1\"/>", "not an SVG image"),
        (b"<svg><style>* { fill: red }</style></svg>", "'*'"),
    ] {
        let setup = |f: &Fixture| {
            webapp_built(f);
            f.file("assets/icon.svg", bytes);
        };
        refused_files(
            "assets/icon.svg",
            "webapp/dist/main.js",
            setup,
            &["{manifest}: icon_path: \"assets/icon.svg\" is", wanted],
        );
    }
    // A comment, an XML declaration and a doctype are fine.
    let f = Fixture::new(&manifest_with_files("icon.svg", "webapp/dist/main.js"));
    webapp_built(&f);
    f.file(
        "icon.svg",
        b"<!-- by hand * -->\n<?xml version=\"1.0\"?>\n<!DOCTYPE svg>\n<SVG viewBox=\"0 0 1 1\"></SVG>\n",
    );
    bundled(&f.bundle_with(&[], &f.out()));
}

#[cfg(unix)]
#[test]
fn a_symlink_out_of_the_project_is_refused_naming_it() {
    use std::os::unix::fs::symlink;
    let elsewhere = tempfile::tempdir().unwrap();
    let secret = elsewhere.path().join("secret.txt");
    fs::write(&secret, "not the plugin's").unwrap();
    let outside = elsewhere.path().canonicalize().unwrap().display().to_string();

    // A file in assets/ linking out: the link, where it goes, and the project.
    let stderr = refused_files(
        "assets/icon.svg",
        "webapp/dist/main.js",
        |f| {
            webapp_built(f);
            icon_drawn(f);
            symlink(&secret, f.path("assets/secret.txt")).unwrap();
        },
        &["error: {dir}assets/secret.txt: a symlink to", "secret.txt", "outside the plugin project"],
    );
    assert!(stderr.contains(&outside), "{stderr}");

    // A relative link climbing out, in public/.
    refused_files(
        "assets/icon.svg",
        "webapp/dist/main.js",
        |f| {
            webapp_built(f);
            icon_drawn(f);
            fs::create_dir_all(f.path("public")).unwrap();
            symlink("../../../../../../../../../../etc", f.path("public/etc")).unwrap();
        },
        &["{dir}public/etc: a symlink to", "outside the plugin project"],
    );

    // The assets folder itself linking out, and the icon.
    refused_files(
        "assets/icon.svg",
        "webapp/dist/main.js",
        |f| {
            webapp_built(f);
            symlink(elsewhere.path(), f.path("assets")).unwrap();
        },
        &["{dir}assets: a symlink to", "outside the plugin project"],
    );
    let icon = elsewhere.path().join("icon.svg");
    fs::write(&icon, ICON).unwrap();
    refused_files(
        "logo.svg",
        "webapp/dist/main.js",
        |f| {
            webapp_built(f);
            symlink(&icon, f.path("logo.svg")).unwrap();
        },
        &["{dir}logo.svg: a symlink to", "outside the plugin project"],
    );

    // A link to a folder it is in never ends; a link to nothing.
    refused_files(
        "assets/icon.svg",
        "webapp/dist/main.js",
        |f| {
            webapp_built(f);
            icon_drawn(f);
            symlink(".", f.path("assets/again")).unwrap();
        },
        &["{dir}assets/again: a symlink to a folder it is in"],
    );
    refused_files(
        "assets/icon.svg",
        "webapp/dist/main.js",
        |f| {
            webapp_built(f);
            icon_drawn(f);
            symlink("gone.txt", f.path("assets/dangling.txt")).unwrap();
        },
        &["{dir}assets/dangling.txt: a symlink to", "which does not exist"],
    );
}

#[cfg(unix)]
#[test]
fn a_symlink_inside_the_project_is_bundled_as_what_it_names() {
    use std::os::unix::fs::symlink;
    let f = Fixture::new(&manifest_with_files("assets/icon.svg", "webapp/dist/main.js"));
    webapp_built(&f);
    f.file("branding/logo.svg", ICON.as_bytes());
    f.file("shared/strings/en.json", b"{}\n");
    fs::create_dir_all(f.path("assets")).unwrap();
    symlink("../branding/logo.svg", f.path("assets/icon.svg")).unwrap();
    symlink(f.path("shared/strings"), f.path("assets/i18n")).unwrap();
    let entries = bundled(&f.bundle_with(&[], &f.out()));
    assert_eq!(find(&entries, "com.example.hello/assets/icon.svg").data, ICON.as_bytes());
    assert_eq!(find(&entries, "com.example.hello/assets/i18n/en.json").data, b"{}\n");
    assert!(find(&entries, "com.example.hello/assets/i18n").dir);
}

/// The same project in another place, with other times and permissions
/// (another checkout, another machine), bundles to the same bytes.
#[test]
fn the_files_bundle_to_the_same_bytes_wherever_and_whenever() {
    let manifest = manifest_with_files("assets/icon.svg", "webapp/dist/main.js");
    let first = Fixture::new(&manifest);
    first.starter_layout();
    let written = |out: &Output| {
        assert!(out.status.success(), "{}", text(&out.stderr));
        fs::read(PathBuf::from(text(&out.stdout).trim_end())).unwrap()
    };
    let out = first.bundle_with(&[], &first.out());
    let a = written(&out);
    assert_eq!(
        bundled(&out).iter().filter(|e| !e.dir).count(),
        9,
        "plugin.json, the launcher, the binary and the 6 files of the plugin's own"
    );
    assert_eq!(written(&first.bundle_with(&[], &first.path("again"))), a, "a second run");

    let second = Fixture::new(&manifest);
    // Made in the opposite order, with other modes, one file a second later.
    for (name, bytes) in [
        ("webapp/src/index.tsx", &b"// sources stay out\n"[..]),
        ("webapp/dist/chunk.js", b"console.log('chunk');\n"),
        ("webapp/dist/main.js", b"console.log('main');\n"),
        ("public/hello.html", b"<p>hello</p>\n"),
        ("assets/i18n/en.json", b"{\"hello\": \"Hello\"}\n"),
        ("assets/greeting.txt", b"Hello from the assets!\n"),
        ("assets/icon.svg", ICON.as_bytes()),
    ] {
        let _path = second.file(name, bytes);
        #[cfg(unix)]
        chmod(&_path, 0o600);
    }
    std::thread::sleep(Duration::from_millis(1100));
    fs::write(second.path("assets/greeting.txt"), b"Hello from the assets!\n").unwrap();
    assert_eq!(written(&second.bundle_with(&[], &second.out())), a, "another place, other times and modes");
}

#[test]
fn the_help_says_what_goes_in_and_how_to_choose() {
    let help = text(&run(&["bundle", "--help"]).stdout);
    for wanted in ["--assets <DIR>", "--no-assets", "--public <DIR>", "--no-public", "icon_path", "webapp.bundle_path"]
    {
        assert!(help.contains(wanted), "no {wanted:?} in:\n{help}");
    }
}

/// A bundle written into assets/ is not bundled by the next run: the
/// output folder is left out, with a note, and the bytes stay the same.
#[test]
fn the_output_folder_is_left_out_of_what_it_is_in() {
    let f = Fixture::new(MANIFEST);
    f.file("assets/greeting.txt", b"hi\n");
    let out = f.path("assets/dist");
    let first = f.bundle_with(&[], &out);
    let bytes = fs::read(PathBuf::from(text(&first.stdout).trim_end())).unwrap();
    let second = f.bundle_with(&[], &out);
    let stderr = text(&second.stderr);
    assert!(stderr.contains("left out") && stderr.contains("assets/dist"), "{stderr}");
    let entries = bundled(&second);
    assert!(!entries.iter().any(|e| e.path.contains("dist")), "{:?}", listing(&entries));
    assert_eq!(fs::read(PathBuf::from(text(&second.stdout).trim_end())).unwrap(), bytes);
}
