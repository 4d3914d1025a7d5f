//! mmplugin-gen: generates a typed Rust SDK for Mattermost server plugins
//! from the plugin gRPC contract.
//!
//! The pipeline is four steps, each a module with one job:
//! [`load`] (protox: sources → descriptors), [`classify`] (descriptors → the
//! plain [`model`]), [`render`] (model → files, through askama templates and
//! prost/tonic stubs), and [`emit`] (format, then write atomically or check).
//! [`inspect`] and [`diff`] report on a contract without generating.
//! [`bundle`] packages a plugin built with the SDK as the `.tar.gz` the
//! server installs and starts over gRPC. [`settings`] writes a plugin's
//! settings struct from its `plugin.json`. [`scaffold`] writes a new plugin
//! project. [`deploy`] puts a bundle on a Mattermost server and enables it.

pub mod bundle;
pub mod classify;
pub mod deploy;
pub mod diff;
pub mod emit;
pub mod inspect;
pub mod litter;
pub mod load;
pub mod manifest;
pub mod model;
pub mod names;
pub mod render;
pub mod scaffold;
pub mod settings;

use load::ProtoSources;
use model::Contract;

/// A generated SDK, in memory.
pub struct Generated {
    /// The contract it was made from.
    pub contract: Contract,
    /// Every file, formatted, sorted by path.
    pub files: Vec<emit::OutputFile>,
}

/// Runs load → classify → render → format on `sources`, writing nothing.
pub fn generate(sources: &ProtoSources, sdk: &render::SdkCrate) -> anyhow::Result<Generated> {
    let fds = sources.compile()?;
    let contract = classify::classify(&fds)?;
    let rendered = render::render(&contract, &fds, sdk)?;
    let files = emit::format(rendered, &contract.package)?;
    Ok(Generated { contract, files })
}
