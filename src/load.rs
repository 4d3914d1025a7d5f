//! Load: read `.proto` sources (from a folder or the embedded contract) and
//! compile them with protox into descriptors with source info (comments).
//!
//! Every source is held in memory, so a compile error can be reported as
//! `file:line:col` from the byte offset protox gives.

use std::{collections::BTreeMap, fmt, path::Path};

use miette::Diagnostic;
use prost_types::FileDescriptorSet;
use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver};

/// The `.proto` files of a contract, by name relative to their root folder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProtoSources {
    files: BTreeMap<String, String>,
}

/// Why a contract could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: String,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The folder holds no `.proto` file.
    #[error("{0}: no .proto files found")]
    Empty(String),
    /// protox refused the sources.
    #[error("{0}")]
    Compile(#[from] CompileError),
}

/// A proto syntax or semantic error, located in its file.
#[derive(Debug, PartialEq, Eq)]
pub struct CompileError {
    /// The file the error is in, when known.
    pub file: Option<String>,
    /// 1-based line and column, when protox gave a location.
    pub line_col: Option<(usize, usize)>,
    /// What protox said.
    pub message: String,
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line_col) {
            (Some(file), Some((line, col))) => write!(f, "{file}:{line}:{col}: {}", self.message),
            (Some(file), None) => write!(f, "{file}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for CompileError {}

impl ProtoSources {
    /// The contract embedded in this binary at build time (the project's `proto/`).
    pub fn embedded() -> Self {
        const FILES: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/embedded_protos.rs"));
        FILES.iter().map(|(name, text)| ((*name).to_owned(), (*text).to_owned())).collect()
    }

    /// Every `.proto` file below `dir`, named by its path relative to `dir`
    /// (with `/` separators, as proto imports spell them).
    pub fn from_dir(dir: &Path) -> Result<Self, LoadError> {
        let io = |path: &Path, source| LoadError::Io { path: path.display().to_string(), source };
        let mut files = BTreeMap::new();
        for entry in walkdir::WalkDir::new(dir).follow_links(true).sort_by_file_name() {
            let entry = entry.map_err(|e| {
                let path = e.path().unwrap_or(dir).to_owned();
                io(&path, e.into())
            })?;
            let path = entry.path();
            if !entry.file_type().is_file() || path.extension().is_none_or(|ext| ext != "proto") {
                continue;
            }
            let rel = path.strip_prefix(dir).expect("walkdir stays below its root");
            let name = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
            let text = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
            files.insert(name, text);
        }
        if files.is_empty() {
            return Err(LoadError::Empty(dir.display().to_string()));
        }
        Ok(Self { files })
    }

    /// The file names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// The text of one file.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.files.get(name).map(String::as_str)
    }

    /// Compiles every file (imports resolved among these sources and the
    /// google well-known types) into one descriptor set with comments, in a
    /// stable order: dependencies before the files that import them.
    pub fn compile(&self) -> Result<FileDescriptorSet, CompileError> {
        let mut resolver = ChainFileResolver::new();
        resolver.add(MemoryResolver(self.clone()));
        resolver.add(GoogleFileResolver::new());
        let mut compiler = protox::Compiler::with_file_resolver(resolver);
        compiler.include_source_info(true).include_imports(true);
        compiler.open_files(self.files.keys()).map_err(|e| self.locate(&e))?;
        Ok(compiler.file_descriptor_set())
    }

    /// Turns a protox error into `file:line:col: message`.
    fn locate(&self, error: &protox::Error) -> CompileError {
        let file = error.file().map(str::to_owned);
        let offset = error.labels().and_then(|mut labels| labels.next()).map(|label| label.offset());
        let line_col = match (&file, offset) {
            (Some(file), Some(offset)) => self.get(file).map(|text| line_col(text, offset)),
            _ => None,
        };
        CompileError { file, line_col, message: error.to_string() }
    }
}

impl FromIterator<(String, String)> for ProtoSources {
    fn from_iter<T: IntoIterator<Item = (String, String)>>(iter: T) -> Self {
        Self { files: iter.into_iter().collect() }
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

struct MemoryResolver(ProtoSources);

impl FileResolver for MemoryResolver {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        match self.0.get(name) {
            Some(text) => File::from_source(name, text),
            None => Err(protox::Error::file_not_found(name)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(files: &[(&str, &str)]) -> ProtoSources {
        files.iter().map(|(n, t)| ((*n).to_owned(), (*t).to_owned())).collect()
    }

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("ab\ncd", 99), (2, 3));
    }

    #[test]
    fn syntax_error_is_located() {
        let src = sources(&[("a.proto", "syntax = \"proto3\";\nmessage A {\n  int32 x = ;\n}\n")]);
        let err = src.compile().unwrap_err();
        assert_eq!(err.file.as_deref(), Some("a.proto"));
        assert_eq!(err.line_col.map(|(l, _)| l), Some(3), "{err}");
        assert!(err.to_string().starts_with("a.proto:3:"), "{err}");
    }

    #[test]
    fn unknown_type_is_located() {
        let src = sources(&[("b.proto", "syntax = \"proto3\";\nmessage B {\n  Nope x = 1;\n}\n")]);
        let err = src.compile().unwrap_err();
        assert!(err.to_string().starts_with("b.proto:3:3:"), "{err}");
    }

    #[test]
    fn embedded_contract_compiles() {
        let fds = ProtoSources::embedded().compile().expect("the committed proto/ compiles");
        assert!(fds.file.iter().any(|f| f.name() == "hooks.proto"));
    }
}
