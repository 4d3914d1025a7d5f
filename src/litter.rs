//! What `bundle` and `new` leave behind when they are stopped halfway: the
//! temporary file or folder each writes beside its output and renames into
//! place at the end.
//!
//! While a command writes, its temporary paths are [`track`]ed: Ctrl-C,
//! SIGTERM or SIGHUP removes them before the process exits
//! ([`remove_on_interrupt`]). SIGKILL cannot be caught, so each command
//! also removes, when it starts, the temporary paths of processes that are
//! gone ([`remove_stale`]): the names carry the writer's pid.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

/// The paths being written now.
static IN_PROGRESS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// A path [`track`]ed until dropped.
#[derive(Debug)]
pub struct Tracked(PathBuf);

impl Tracked {
    /// The path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        IN_PROGRESS.lock().unwrap_or_else(PoisonError::into_inner).retain(|p| *p != self.0);
    }
}

/// Removes `path` (a file, or a folder with what is in it) if the process
/// is interrupted before the guard is dropped.
pub fn track(path: &Path) -> Tracked {
    IN_PROGRESS.lock().unwrap_or_else(PoisonError::into_inner).push(path.to_owned());
    Tracked(path.to_owned())
}

/// On Ctrl-C, SIGTERM or SIGHUP: removes every [`track`]ed path, then exits
/// with status 130 (as a shell reports an interrupted command). Call once,
/// at start; a second call does nothing.
pub fn remove_on_interrupt() {
    let _ = ctrlc::set_handler(|| {
        let paths = std::mem::take(&mut *IN_PROGRESS.lock().unwrap_or_else(PoisonError::into_inner));
        for path in paths.iter().rev() {
            remove(path);
        }
        eprintln!("interrupted: removed what was half-written");
        std::process::exit(130);
    });
}

fn remove(path: &Path) {
    let _ = if path.is_dir() { fs::remove_dir_all(path) } else { fs::remove_file(path) };
}

/// Removes what a process that is gone left in `dir`: the entries whose name
/// `pid_of` reads a writer's pid from, when that process no longer runs.
/// Where processes cannot be looked up (no `/proc`), only entries older
/// than a day are taken for abandoned.
pub fn remove_stale(dir: &Path, pid_of: impl Fn(&str) -> Option<u32>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    let own = std::process::id();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = pid_of(&name) else { continue };
        if pid != own && abandoned(pid, &entry.path()) {
            remove(&entry.path());
        }
    }
}

fn abandoned(pid: u32, path: &Path) -> bool {
    let proc = Path::new("/proc");
    if proc.join("self").exists() {
        return !proc.join(pid.to_string()).exists();
    }
    let age = fs::symlink_metadata(path).and_then(|m| m.modified()).ok().and_then(|t| SystemTime::now().duration_since(t).ok());
    age.is_some_and(|age| age > Duration::from_secs(24 * 3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_entries_of_gone_processes_go_and_the_rest_stay() {
        let dir = tempfile::tempdir().unwrap();
        // A pid that ran and is gone, and this process's own.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let gone = child.id();
        child.wait().unwrap();
        let own = std::process::id();
        let pid_of = |name: &str| name.strip_prefix(".x.")?.strip_suffix(".tmp")?.parse().ok();
        for name in [format!(".x.{gone}.tmp"), format!(".x.{own}.tmp"), "keep.tmp".to_owned()] {
            fs::write(dir.path().join(name), b"").unwrap();
        }
        fs::create_dir(dir.path().join(format!(".x.{}.tmp", gone.wrapping_add(1_000_000)))).unwrap();
        remove_stale(dir.path(), pid_of);
        let mut left: Vec<String> =
            fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        left.sort();
        assert_eq!(left, [format!(".x.{own}.tmp"), "keep.tmp".to_owned()]);
    }

    #[test]
    fn a_tracked_path_is_forgotten_when_its_guard_goes() {
        let path = Path::new("/nonexistent/tracked");
        let guard = track(path);
        assert!(IN_PROGRESS.lock().unwrap().iter().any(|p| p == path));
        drop(guard);
        assert!(!IN_PROGRESS.lock().unwrap().iter().any(|p| p == path));
    }
}
