//! The `mmplugin-gen` command line: a thin shell over the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mmplugin_gen::{bundle, deploy, diff, emit, inspect, load::ProtoSources, render::SdkCrate, scaffold, settings};

/// The version, and the contract built into this binary (package, RPCs per
/// service, a digest of the protos), written by build.rs.
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (contract ", env!("MMPLUGIN_CONTRACT"), ")");

/// Generate a typed Rust SDK for Mattermost server plugins from the plugin
/// gRPC protos.
///
/// Without a subcommand, generates the SDK crate into --out. The output
/// folder belongs to the generator: it ends up holding exactly the generated
/// files, and is left untouched when anything fails.
///
/// Exit status: 0 on success; 1 on failure. `--check` and `diff` answer a
/// question, as diff(1) does: 0 for no difference, 1 for a difference, 2
/// when they cannot tell (a proto folder that cannot be read or compiled,
/// an output folder that cannot be read). 2 is also a command line that is
/// not understood.
#[derive(Debug, Parser)]
#[command(name = "mmplugin-gen", version = VERSION, args_conflicts_with_subcommands = true)]
struct Cli {
    /// Folder of .proto files [default: the contract built into this binary].
    #[arg(long, value_name = "DIR")]
    proto: Option<PathBuf>,
    /// Folder to generate the SDK crate into.
    #[arg(long, value_name = "DIR", default_value = "generated-sdk")]
    out: PathBuf,
    /// Write nothing; list the files that would change and exit 1 if any
    /// (2 if it cannot tell).
    #[arg(long)]
    check: bool,
    /// Package name of the generated crate.
    #[arg(long, value_name = "NAME", default_value = "mattermost-plugin")]
    crate_name: String,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print how every RPC is classified: hook or API method, its shape or
    /// group, and the Rust names it becomes.
    Inspect {
        /// Folder of .proto files [default: the contract built into this binary].
        #[arg(long, value_name = "DIR")]
        proto: Option<PathBuf>,
    },
    /// Compare two proto folders at the descriptor level; exit 1 if the
    /// wire differs, 2 if a folder cannot be read or compiled.
    ///
    /// Prints one line per difference, then how many. Exit status: 0 when
    /// the wire is the same, 1 when it differs, 2 when a folder cannot be
    /// read or its protos do not compile (nothing is compared).
    Diff {
        /// The folder of the old contract.
        old: PathBuf,
        /// The folder of the new contract.
        new: PathBuf,
    },
    /// Package a plugin (its binaries, assets/, public/, webapp bundle and
    /// icon) as the .tar.gz bundle Mattermost installs, laid out so that the
    /// server starts it over gRPC.
    ///
    /// Writes DIR/<id>-<version>.tar.gz and prints its path as the last line
    /// of stdout. The bundled plugin.json is the author's with
    /// server.runtime set to "python" (the only runtime the server starts
    /// over gRPC) and server.executables naming exactly the platforms given;
    /// each change is a note on stderr. venv/bin/python in the bundle is a
    /// tiny sh launcher that execs the binary the server passes it; the
    /// Windows binary itself goes to venv/Scripts/python.exe.
    ///
    /// Beside the binaries go, as mattermost-plugin-starter-template lays a
    /// plugin out: assets/ (files the plugin reads at run time from its
    /// bundle path, GetBundlePath) and public/ (served at
    /// /plugins/<id>/public/...), from beside plugin.json when they are there
    /// (--assets/--public take them from elsewhere, --no-assets/--no-public
    /// leave them out); the folder holding webapp.bundle_path (the server
    /// copies that whole folder), and the icon_path file, which must be an
    /// SVG. What the manifest names must exist and stay inside the plugin
    /// folder; a symlink is bundled as what it names, and refused when it
    /// leads out of the project; files get mode 0644, folders 0755.
    ///
    /// The manifest is checked as the server checks it, each binary's format
    /// against its platform and every file, all before anything is written;
    /// the output is byte-identical for the same input, wherever and whenever
    /// it is made.
    Bundle {
        /// The plugin's manifest (plugin.json; YAML manifests are not supported).
        #[arg(long, value_name = "FILE")]
        manifest: PathBuf,
        /// A platform and its binary, such as linux-amd64=target/release/my-plugin; repeat for each
        /// platform (linux-amd64, linux-arm64, darwin-amd64, darwin-arm64, windows-amd64; host is this
        /// machine's).
        #[arg(long = "exe", value_name = "PLATFORM=BINARY")]
        exe: Vec<String>,
        /// Folder to write the bundle into (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The folder bundled as assets/ [default: assets/ beside the manifest, if there].
        #[arg(long, value_name = "DIR", conflicts_with = "no_assets")]
        assets: Option<PathBuf>,
        /// Bundle no assets/, even if there is one beside the manifest.
        #[arg(long)]
        no_assets: bool,
        /// The folder bundled as public/ [default: public/ beside the manifest, if there].
        #[arg(long, value_name = "DIR", conflicts_with = "no_public")]
        public: Option<PathBuf>,
        /// Bundle no public/, even if there is one beside the manifest.
        #[arg(long)]
        no_public: bool,
    },
    /// Create a new plugin project in DIR (new, or empty): ready to build,
    /// test and bundle.
    ///
    /// Writes Cargo.toml, plugin.json, src/main.rs (a hook and an HTTP route,
    /// with tests that use the SDK's test kit), src/settings.rs (the struct of
    /// plugin.json's settings), bundle.sh (build and bundle for this machine),
    /// README.md, .gitignore, and the SDK generated into mattermost-plugin/
    /// from the contract built into this binary. The package is named after
    /// DIR. Prints the files written.
    New {
        /// The project folder; its name is the package's.
        dir: PathBuf,
        /// The plugin id [default: com.example.<package>].
        #[arg(long, value_name = "ID")]
        id: Option<String>,
        /// The plugin's display name [default: the package name in words].
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
    },
    /// Print the Rust source of a struct for a plugin's settings, from the
    /// settings_schema of its plugin.json.
    ///
    /// One field per setting (of settings_schema.settings and of each
    /// section's settings), renamed to the key the System Console stores it
    /// under (the key lowercased), with the setting's type (bool, String,
    /// i64, serde_json::Value) and its default from plugin.json. Write the
    /// output to a file of the plugin (src/settings.rs) and regenerate it when
    /// plugin.json changes: a renamed setting then breaks the build. The
    /// output is formatted and byte-identical for the same input; notes go
    /// to stderr.
    Settings {
        /// The plugin's manifest (plugin.json).
        manifest: PathBuf,
        /// The name of the struct.
        #[arg(long, value_name = "StructName", default_value = "Settings")]
        name: String,
    },
    /// Upload a plugin bundle to a Mattermost server, replacing the plugin
    /// if it is installed, and enable it.
    ///
    /// The bundle is the .tar.gz `bundle` wrote; the plugin enabled is the
    /// one the server says it installed. Prints `uploaded <id> <version>`,
    /// then `enabled <id>`.
    #[command(after_long_help = SERVER_HELP)]
    Deploy {
        /// The bundle (.tar.gz).
        bundle: PathBuf,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Enable an installed plugin on a Mattermost server (the server starts it).
    #[command(after_long_help = SERVER_HELP)]
    Enable {
        /// The plugin id.
        id: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Disable a plugin on a Mattermost server (the server stops it).
    #[command(after_long_help = SERVER_HELP)]
    Disable {
        /// The plugin id.
        id: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Disable, then enable a plugin on a Mattermost server: a restart.
    #[command(after_long_help = SERVER_HELP)]
    Reset {
        /// The plugin id.
        id: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Print a plugin's lines of the server's log (among its last 500 lines).
    ///
    /// The lines are printed as the server wrote them, one JSON object each;
    /// the server's file log must be JSON (LogSettings.FileJson, the default).
    #[command(after_long_help = SERVER_HELP)]
    Logs {
        /// The plugin id.
        id: String,
        #[command(flatten)]
        server: ServerArgs,
    },
}

/// What `deploy`, `enable`, `disable`, `reset` and `logs` take besides their argument.
#[derive(Debug, clap::Args)]
struct ServerArgs {
    /// Print each request and answer on stderr (credentials as ***).
    #[arg(short, long)]
    verbose: bool,
}

/// How the server commands find the server, in the long help.
const SERVER_HELP: &str = "\
The server, as the plugin starter template's pluginctl finds it:
  1. the local-mode socket MM_LOCALSOCKETPATH (default /var/tmp/mattermost_local.socket), if it
     answers: no credentials (the server's ServiceSettings.EnableLocalMode; the socket is the
     server user's);
  2. else the site URL MM_SERVICESETTINGS_SITEURL (http:// or https://), with MM_ADMIN_TOKEN (a
     system admin's personal access token), or else MM_ADMIN_USERNAME and MM_ADMIN_PASSWORD (a
     login). The token and the password are never printed.";

fn main() -> ExitCode {
    // A bundle or project half-written when the user stops the command goes.
    mmplugin_gen::litter::remove_on_interrupt();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The exit status of `diff` and `--check` when they cannot compare (1 is "different").
const CANNOT_TELL: u8 = 2;

/// Reports an error of `diff` or `--check`, which exit [`CANNOT_TELL`].
fn cannot_tell(e: &anyhow::Error) -> ExitCode {
    eprintln!("error: {e:#}");
    ExitCode::from(CANNOT_TELL)
}

fn sources(proto: Option<&PathBuf>) -> anyhow::Result<ProtoSources> {
    match proto {
        Some(dir) => Ok(ProtoSources::from_dir(dir)?),
        None => Ok(ProtoSources::embedded()),
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Some(Command::Inspect { proto }) => inspect(proto.as_ref()),
        Some(Command::Diff { old, new }) => Ok(diff(&old, &new)),
        Some(Command::Bundle { manifest, exe, out, assets, no_assets, public, no_public }) => {
            let include = bundle::Include { assets: folder(assets, no_assets), public: folder(public, no_public) };
            Ok(bundle(manifest, &exe, out, &include))
        }
        Some(Command::New { dir, id, name }) => Ok(new(&dir, id, name)),
        Some(Command::Settings { manifest, name }) => Ok(settings(&manifest, name)),
        Some(Command::Deploy { bundle, server }) => Ok(deploy(&bundle, &server)),
        Some(Command::Enable { id, server }) => Ok(switch(&id, true, &server)),
        Some(Command::Disable { id, server }) => Ok(switch(&id, false, &server)),
        Some(Command::Reset { id, server }) => Ok(reset(&id, &server)),
        Some(Command::Logs { id, server }) => Ok(logs(&id, &server)),
        None => generate(cli.proto.as_ref(), cli.crate_name, &cli.out, cli.check),
    }
}

/// `mmplugin-gen inspect`: how each RPC is classified and named.
fn inspect(proto: Option<&PathBuf>) -> anyhow::Result<ExitCode> {
    let fds = sources(proto)?.compile()?;
    let contract = mmplugin_gen::classify::classify(&fds)?;
    print!("{}", inspect::report(&contract));
    Ok(ExitCode::SUCCESS)
}

/// `mmplugin-gen diff`: what a new contract changes on the wire; fails when
/// anything does.
fn diff(old: &Path, new: &Path) -> ExitCode {
    let compile = |dir: &Path| -> anyhow::Result<_> { Ok(ProtoSources::from_dir(dir)?.compile()?) };
    let (old_fds, new_fds) = match compile(old).and_then(|o| Ok((o, compile(new)?))) {
        Ok(both) => both,
        Err(e) => return cannot_tell(&e),
    };
    let differences = diff::diff(&old_fds, &new_fds);
    for d in &differences {
        println!("{d}");
    }
    println!("{} differences between {} and {}", differences.len(), old.display(), new.display());
    if differences.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// Where `bundle` takes a folder of the plugin's files from: `--X DIR`,
/// `--no-X`, or beside the manifest.
fn folder(given: Option<PathBuf>, skip: bool) -> bundle::Folder {
    match (given, skip) {
        (_, true) => bundle::Folder::Skip,
        (Some(dir), false) => bundle::Folder::At(dir),
        (None, false) => bundle::Folder::Beside,
    }
}

/// `mmplugin-gen bundle`: prints the bundle's path; every problem of a
/// manifest or of a file on a line of its own.
fn bundle(manifest: PathBuf, exe: &[String], out: PathBuf, include: &bundle::Include) -> ExitCode {
    let written = exe
        .iter()
        .map(|arg| bundle::parse_executable(arg))
        .collect::<Result<Vec<_>, _>>()
        .and_then(|executables| bundle::write_with(&bundle::Bundle { manifest, executables, out }, include));
    match written {
        Ok(written) => {
            for note in &written.notes {
                eprintln!("note: {note}");
            }
            println!("{}", written.path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            for line in e.to_string().lines() {
                eprintln!("error: {line}");
            }
            ExitCode::FAILURE
        }
    }
}

/// `mmplugin-gen new`: prints the files written (the SDK's counted) and
/// what to run next.
fn new(dir: &Path, id: Option<String>, name: Option<String>) -> ExitCode {
    match scaffold::create(dir, &scaffold::Options { id, name }) {
        Ok(files) => {
            let sdk = files.iter().filter(|f| f.starts_with(scaffold::SDK_DIR)).count();
            for file in files.iter().filter(|f| !f.starts_with(scaffold::SDK_DIR)) {
                println!("{}", dir.join(file).display());
            }
            println!("{} ({sdk} files of the generated SDK)", dir.join(scaffold::SDK_DIR).display());
            eprintln!("next: cd {} && cargo test && ./bundle.sh (bundle.sh runs mmplugin-gen: keep it on PATH)", dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `mmplugin-gen settings`: prints the struct; notes and problems name the
/// manifest.
fn settings(manifest: &Path, name: String) -> ExitCode {
    let text = match std::fs::read_to_string(manifest) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("error: {}: {e}", manifest.display());
            return ExitCode::FAILURE;
        }
    };
    match settings::generate(&text, &settings::Options { name }) {
        Ok(generated) => {
            for note in &generated.notes {
                eprintln!("note: {}: {note}", manifest.display());
            }
            print!("{}", generated.source);
            ExitCode::SUCCESS
        }
        Err(e) => {
            for line in e.lines(manifest) {
                eprintln!("error: {line}");
            }
            ExitCode::FAILURE
        }
    }
}

/// `mmplugin-gen deploy`: uploads the bundle (force), then enables the
/// plugin the server says it installed; prints a line after each.
fn deploy(bundle: &Path, args: &ServerArgs) -> ExitCode {
    on_server(args, Some(bundle), |server| {
        let installed = server.upload(bundle)?;
        // The server needs no version (`Manifest.IsValid`), so there may be none.
        let version = if installed.version.is_empty() { String::new() } else { format!(" {}", installed.version) };
        println!("uploaded {}{version}", installed.id);
        server.enable(&installed.id)?;
        println!("enabled {}", installed.id);
        Ok(())
    })
}

/// `mmplugin-gen enable` and `disable`: prints `enabled ID` or `disabled ID`.
fn switch(id: &str, on: bool, args: &ServerArgs) -> ExitCode {
    on_server(args, None, |server| {
        if on {
            server.enable(id)?;
            println!("enabled {id}");
        } else {
            server.disable(id)?;
            println!("disabled {id}");
        }
        Ok(())
    })
}

/// `mmplugin-gen reset`: disable, then enable (pluginctl's `reset`).
fn reset(id: &str, args: &ServerArgs) -> ExitCode {
    on_server(args, None, |server| {
        server.disable(id)?;
        println!("disabled {id}");
        server.enable(id)?;
        println!("enabled {id}");
        Ok(())
    })
}

/// `mmplugin-gen logs`: prints the plugin's log lines, one JSON object
/// each; says so on stderr when there are none.
fn logs(id: &str, args: &ServerArgs) -> ExitCode {
    on_server(args, None, |server| {
        let lines = server.log_lines(id)?;
        if lines.is_empty() {
            eprintln!("note: no line of {id} among the last {} of the server's log", deploy::LOG_LINES);
        }
        for line in lines {
            println!("{line}");
        }
        Ok(())
    })
}

/// `deploy`, `enable`, `disable`, `reset`, `logs`: checks the bundle if
/// there is one, finds the server from the environment (notes and, with -v,
/// requests on stderr), then runs `work`; every line of an error is an
/// `error:` line.
fn on_server(
    args: &ServerArgs,
    bundle: Option<&Path>,
    work: impl FnOnce(&deploy::Server<'_>) -> Result<(), deploy::DeployError>,
) -> ExitCode {
    let log = |line: &str| eprintln!("{line}");
    let options = deploy::Options { verbose: args.verbose, log: &log };
    let result = bundle
        .map_or(Ok(0), deploy::check_bundle)
        .and_then(|_| deploy::connect(&|name| std::env::var(name).ok(), options))
        .and_then(|server| work(&server));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            for line in e.to_string().lines() {
                eprintln!("error: {line}");
            }
            ExitCode::FAILURE
        }
    }
}

/// The main job: generate the SDK into `out`, or with `check` only list
/// what would change (and fail if anything would).
fn generate(proto: Option<&PathBuf>, crate_name: String, out: &Path, check: bool) -> anyhow::Result<ExitCode> {
    let sdk = SdkCrate { crate_name, ..SdkCrate::default() };
    let generated = match sources(proto).and_then(|s| mmplugin_gen::generate(&s, &sdk)) {
        Ok(generated) => generated,
        Err(e) if check => return Ok(cannot_tell(&e)),
        Err(e) => return Err(e),
    };
    for service in &generated.contract.other_services {
        eprintln!(
            "warning: service `{service}` is neither PluginHooks nor PluginAPI: \
             it gets raw stubs only, no typed wrappers"
        );
    }
    if check {
        let changes = match emit::check(out, &generated.files) {
            Ok(changes) => changes,
            Err(e) => return Ok(cannot_tell(&e)),
        };
        for c in &changes {
            println!("{c}");
        }
        if changes.is_empty() {
            println!("{} is up to date ({} files)", out.display(), generated.files.len());
            return Ok(ExitCode::SUCCESS);
        }
        println!("{} files would change in {}", changes.len(), out.display());
        return Ok(ExitCode::FAILURE);
    }
    let changes = emit::write(out, &generated.files)?;
    println!("{}: {} files, {} changed", out.display(), generated.files.len(), changes.len());
    Ok(ExitCode::SUCCESS)
}

// The generator is allocation-bound (proc-macro2 and syn token trees on
// several threads); mimalloc cuts its CPU time against glibc malloc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
