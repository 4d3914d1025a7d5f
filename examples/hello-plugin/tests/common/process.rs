//! What a plugin process holds, read from `/proc` (Linux), and the
//! ServeHTTP init the server sends; for the limits test and the benches.

#![allow(dead_code, reason = "each user takes a different part")]

use mattermost_plugin::proto;

/// How many file descriptors process `pid` has open (`/proc/<pid>/fd`).
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|dir| dir.count()).unwrap_or(0)
}

/// The resident set size of process `pid` (`VmRSS`), in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS:")
}

/// The peak resident set size of process `pid` so far (`VmHWM`), in KiB.
pub fn peak_rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmHWM:")
}

/// A KiB figure of `/proc/<pid>/status`; 0 if it cannot be read.
fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with(field))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

/// A ServeHTTP init for `path` as the server sends it (no `access_token`,
/// length unknown).
pub fn http_init(method: &str, path: &str) -> proto::ServeHttpRequestInit {
    proto::ServeHttpRequestInit {
        method: method.into(),
        url: path.into(),
        request_uri: format!("/plugins/com.example.hello-rust{path}"),
        proto: "HTTP/1.1".into(),
        proto_major: 1,
        proto_minor: 1,
        content_length: -1,
        ..Default::default()
    }
}
