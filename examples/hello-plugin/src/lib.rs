//! The example plugin's post filter, a library so that the plugin
//! (`src/main.rs`) and the hook benchmark's bare tonic baseline
//! (`src/bin/bare-tonic.rs`) run the same code.

pub mod filter;
