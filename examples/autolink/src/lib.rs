//! Autolink: rewrites text matching a regular expression into a Markdown
//! link. The server side of mattermost-community/mattermost-plugin-autolink,
//! ported to the generated Rust SDK (README.md compares the two).

pub mod client;
mod command;
pub mod config;
pub mod goregex;
pub mod link;
mod plugin;
mod web;

pub use plugin::{Autolink, Place, in_scope, is_authorized_admin, resolve_scope, rewrite};
