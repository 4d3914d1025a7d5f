//! Generation time, process to process, side by side with the pipeline the
//! Mattermost Python SDK runs on the same protos.
//!
//! A) `python3 -m grpc_tools.protoc` with the python, grpc_python, mypy and
//!    mypy_grpc plugins over every `.proto` in `proto/`;
//! B) the release `mmplugin-gen --proto proto --out <dir>`.
//!
//! Both run as whole processes (start-up included), each into a fresh temp
//! folder, interleaved A, B, A, B, ... so that machine noise hits both sides
//! alike. One warm-up run each, then `MMPLUGIN_BENCH_ITERS` pairs (default
//! 15). The whole run is aborted past 120 s. Prints figures; the goal verdict
//! never changes the exit code, only a failing or hung process does.
//!
//! Run with `cargo bench --bench generation`.

use std::{
    env, fs,
    fs::File,
    io::{Read, Seek},
    path::{Path, PathBuf},
    process::{Command, ExitCode, Stdio},
    thread,
    time::{Duration, Instant},
};

const DEFAULT_ITERS: usize = 15;
const TIME_LIMIT: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_micros(250);
const GOAL: f64 = 0.40;

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and
    // builds in the test profile, where timing a debug binary means nothing.
    if !env::args().any(|a| a == "--bench") {
        println!("generation bench: not run (no --bench flag); use `cargo bench --bench generation`");
        return ExitCode::SUCCESS;
    }
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("generation bench: error: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// One side of the comparison: a process to time.
struct Side {
    label: &'static str,
    program: PathBuf,
    /// Arguments placed before the output folder arguments.
    args: Vec<String>,
    /// How the output folder is passed: each string gets the folder appended.
    out_flags: Vec<&'static str>,
    /// Arguments placed after the output folder arguments.
    trailing: Vec<String>,
    /// Checks, outside the timing, that the run produced its output.
    check: fn(&Path, usize) -> Result<(), String>,
}

fn run() -> Result<(), String> {
    let started = Instant::now();
    let deadline = started + TIME_LIMIT;
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let proto_dir = manifest_dir.join("proto");
    let protos = proto_files(&proto_dir)?;

    let iters = match env::var("MMPLUGIN_BENCH_ITERS") {
        Ok(s) => match s.trim().parse::<usize>() {
            Ok(n) if n >= 1 => n,
            _ => {
                return Err(format!("MMPLUGIN_BENCH_ITERS={s:?} is not a positive integer"));
            }
        },
        Err(_) => DEFAULT_ITERS,
    };

    if let Err(why) = python_ready() {
        println!();
        println!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
        println!("!!! SKIPPED generation bench: the Python SDK pipeline is not available");
        println!("!!! ({why})");
        println!("!!! to run it: pip install grpcio-tools mypy-protobuf");
        println!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
        return Ok(());
    }

    let (generator, via) = locate_generator()?;
    let proto_arg = proto_dir.display().to_string();

    let python = Side {
        label: "A python grpc_tools.protoc (py+grpc+mypy+mypy_grpc)",
        program: PathBuf::from("python3"),
        args: vec!["-m".into(), "grpc_tools.protoc".into(), format!("-I{proto_arg}")],
        out_flags: vec!["--python_out=", "--grpc_python_out=", "--mypy_out=", "--mypy_grpc_out="],
        trailing: protos.clone(),
        check: check_python_output,
    };
    let ours = Side {
        label: "B mmplugin-gen (release)",
        program: generator.clone(),
        args: vec!["--proto".into(), proto_arg.clone(), "--out".into()],
        out_flags: vec![""],
        trailing: vec![],
        check: check_sdk_output,
    };

    println!("generation bench: {} protos in {}", protos.len(), proto_dir.display());
    println!(
        "  A: python3 -m grpc_tools.protoc -I<proto> --python_out=<tmp> --grpc_python_out=<tmp> --mypy_out=<tmp> --mypy_grpc_out=<tmp> <{} .proto files>",
        protos.len()
    );
    println!("  B: {} --proto <proto> --out <tmp>  (found via {via})", generator.display());
    println!(
        "  1 warm-up each, then {iters} interleaved pairs (A, B, A, B, ...), fresh temp dir per run, wall time per process"
    );

    // Warm up once each (page cache, Python bytecode, binary pages).
    timed_run(&python, protos.len(), deadline)?;
    timed_run(&ours, protos.len(), deadline)?;

    let mut a_ms = Vec::with_capacity(iters);
    let mut b_ms = Vec::with_capacity(iters);
    for i in 0..iters {
        a_ms.push(timed_run(&python, protos.len(), deadline).map_err(|e| format!("iteration {}: {e}", i + 1))?);
        b_ms.push(timed_run(&ours, protos.len(), deadline).map_err(|e| format!("iteration {}: {e}", i + 1))?);
    }

    let a = Stats::of(&a_ms);
    let b = Stats::of(&b_ms);
    println!();
    println!("{:<54} {:>9} {:>9} {:>9}", format!("wall time, ms ({iters} runs each)"), "min", "median", "mean");
    println!("{:<54} {:>9.1} {:>9.1} {:>9.1}", python.label, a.min, a.median, a.mean);
    println!("{:<54} {:>9.1} {:>9.1} {:>9.1}", ours.label, b.min, b.median, b.mean);
    let ratio_median = b.median / a.median;
    let ratio_min = b.min / a.min;
    println!("ratio B/A of medians: {ratio_median:.3}");
    println!("ratio B/A of mins:    {ratio_min:.3}");
    println!("total bench time: {:.1} s", started.elapsed().as_secs_f64());
    println!("generation time ratio (median): {ratio_median:.2} x of the Python SDK pipeline (goal <= {GOAL:.2})");
    if ratio_median <= GOAL {
        println!("goal verdict: MET (median ratio {ratio_median:.3} <= {GOAL:.2})");
    } else {
        println!("goal verdict: NOT MET (median ratio {ratio_median:.3} > {GOAL:.2})");
    }
    Ok(())
}

/// The `.proto` file names in `dir`, sorted.
fn proto_files(dir: &Path) -> Result<Vec<String>, String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        if let Ok(name) = entry.file_name().into_string()
            && name.ends_with(".proto")
        {
            names.push(name);
        }
    }
    names.sort();
    if names.is_empty() {
        return Err(format!("no .proto files in {}", dir.display()));
    }
    Ok(names)
}

/// Whether `python3` can import both pieces of the Python SDK pipeline.
fn python_ready() -> Result<(), String> {
    let out = Command::new("python3")
        .args(["-c", "import grpc_tools, mypy_protobuf"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().last().unwrap_or("").trim();
        Err(format!("`python3 -c \"import grpc_tools, mypy_protobuf\"` failed: {last}"))
    }
}

/// The release `mmplugin-gen` binary that `cargo bench` built alongside this
/// bench: Cargo hands benches its path in `CARGO_BIN_EXE_<name>`; failing
/// that, it is `target/release/mmplugin-gen`, one folder up from
/// `target/release/deps/generation-*`.
fn locate_generator() -> Result<(PathBuf, &'static str), String> {
    let (path, via) = match option_env!("CARGO_BIN_EXE_mmplugin-gen") {
        Some(p) => (PathBuf::from(p), "CARGO_BIN_EXE_mmplugin-gen"),
        None => {
            let exe = env::current_exe().map_err(|e| format!("cannot locate the bench executable: {e}"))?;
            let release = exe
                .parent()
                .and_then(Path::parent)
                .ok_or_else(|| format!("unexpected bench executable location {}", exe.display()))?;
            (release.join(format!("mmplugin-gen{}", env::consts::EXE_SUFFIX)), "next to the bench executable")
        }
    };
    if !path.is_file() {
        return Err(format!(
            "the mmplugin-gen binary is missing at {}; build it with `cargo build --release` or run `cargo bench --bench generation`",
            path.display()
        ));
    }
    Ok((path, via))
}

/// Runs `side` once into a fresh temp folder and returns its wall time in ms.
/// Folder creation, output capture set-up, checks and clean-up are untimed.
fn timed_run(side: &Side, proto_count: usize, deadline: Instant) -> Result<f64, String> {
    if Instant::now() >= deadline {
        return Err(format!("aborted: the run exceeded {} s", TIME_LIMIT.as_secs()));
    }
    let out_dir = tempfile::tempdir().map_err(|e| format!("cannot create a temp dir: {e}"))?;
    let out = out_dir.path().display().to_string();
    let mut stdout = tempfile::tempfile().map_err(|e| format!("cannot create a temp file: {e}"))?;
    let mut stderr = tempfile::tempfile().map_err(|e| format!("cannot create a temp file: {e}"))?;

    let mut cmd = Command::new(&side.program);
    cmd.args(&side.args)
        .args(side.out_flags.iter().map(|flag| format!("{flag}{out}")))
        .args(&side.trailing)
        .stdin(Stdio::null())
        .stdout(clone(&stdout)?)
        .stderr(clone(&stderr)?);

    let start = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("{}: cannot start {}: {e}", side.label, side.program.display()))?;
    // Bounded wait: poll so a hung process cannot outlive the time limit.
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "aborted: the run exceeded {} s while `{}` was running",
                    TIME_LIMIT.as_secs(),
                    side.label
                ));
            }
            Ok(None) => thread::sleep(POLL),
            Err(e) => return Err(format!("{}: cannot wait for the process: {e}", side.label)),
        }
    };
    let elapsed = start.elapsed();

    if !status.success() {
        let err = read_back(&mut stderr);
        let out_text = read_back(&mut stdout);
        return Err(format!("{} exited with {status}\n--- stderr ---\n{err}\n--- stdout ---\n{out_text}", side.label));
    }
    (side.check)(out_dir.path(), proto_count).map_err(|e| format!("{}: {e}", side.label))?;
    Ok(elapsed.as_secs_f64() * 1000.0)
}

fn clone(file: &File) -> Result<File, String> {
    file.try_clone().map_err(|e| format!("cannot duplicate a temp file handle: {e}"))
}

fn read_back(file: &mut File) -> String {
    let mut text = String::new();
    if file.rewind().is_ok() {
        let mut bytes = Vec::new();
        let _ = file.read_to_end(&mut bytes);
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    text
}

/// Four files per proto: `_pb2.py`, `_pb2.pyi`, `_pb2_grpc.py`, `_pb2_grpc.pyi`.
fn check_python_output(dir: &Path, proto_count: usize) -> Result<(), String> {
    let count = fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.ends_with(".py") || name.ends_with(".pyi")
        })
        .count();
    if count == 4 * proto_count {
        Ok(())
    } else {
        Err(format!("expected {} generated files, found {count}", 4 * proto_count))
    }
}

/// A crate: `Cargo.toml` and at least one file under `src/`.
fn check_sdk_output(dir: &Path, _proto_count: usize) -> Result<(), String> {
    let has_manifest = dir.join("Cargo.toml").is_file();
    let has_src = fs::read_dir(dir.join("src")).is_ok_and(|mut d| d.next().is_some());
    if has_manifest && has_src {
        Ok(())
    } else {
        Err(format!("no generated crate (Cargo.toml + src/) in {}", dir.display()))
    }
}

struct Stats {
    min: f64,
    median: f64,
    mean: f64,
}

impl Stats {
    fn of(samples: &[f64]) -> Stats {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 { sorted[n / 2] } else { (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0 };
        Stats { min: sorted[0], median, mean: sorted.iter().sum::<f64>() / n as f64 }
    }
}
