//! The example plugin as a library: the plugin itself ([`Hello`], served by
//! `src/main.rs` and driven in-process by the tests with the SDK's test
//! kit), and its post filter, which the hook benchmark's bare tonic
//! baseline (`src/bin/bare-tonic.rs`) runs too, and its settings
//! (`src/settings.rs`, printed by `mmplugin-gen settings plugin.json`).

pub mod filter;
pub mod kv_hook;
mod plugin;
pub mod settings;
mod web;

pub use plugin::Hello;
