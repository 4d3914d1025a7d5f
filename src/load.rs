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
    /// A file could not be read. The message names the file; the cause is
    /// the error's source, so an error chain prints it once.
    #[error("reading {path}")]
    Io {
        /// The file or folder.
        path: String,
        /// What went wrong (the operating system's error).
        source: std::io::Error,
    },
    /// A file is not UTF-8 text, first at this line and column.
    #[error("{path}:{line}:{col}: not valid UTF-8 (a .proto file is UTF-8 text)")]
    InvalidUtf8 {
        /// The file.
        path: String,
        /// 1-based line of the first byte that is not UTF-8.
        line: usize,
        /// 1-based column (in characters) of that byte.
        col: usize,
    },
    /// The folder holds no `.proto` file.
    #[error("{0}: no .proto files found")]
    Empty(String),
    /// protox refused the sources.
    #[error(transparent)]
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
                // walkdir's error repeats the path and the OS error in its
                // text; the OS error alone is the cause (a loop has none).
                let source = if e.io_error().is_some() {
                    e.into_io_error().expect("checked")
                } else {
                    std::io::Error::other(e.to_string())
                };
                io(&path, source)
            })?;
            let path = entry.path();
            if !entry.file_type().is_file() || path.extension().is_none_or(|ext| ext != "proto") {
                continue;
            }
            let rel = path.strip_prefix(dir).expect("walkdir stays below its root");
            let name = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
            let bytes = std::fs::read(path).map_err(|e| io(path, e))?;
            let text = String::from_utf8(bytes).map_err(|e| {
                let valid = e.utf8_error().valid_up_to();
                let (line, col) = line_col(&String::from_utf8_lossy(&e.as_bytes()[..valid]), valid);
                LoadError::InvalidUtf8 { path: path.display().to_string(), line, col }
            })?;
            files.insert(name, text);
        }
        if files.is_empty() {
            return Err(LoadError::Empty(dir.display().to_string()));
        }
        Ok(Self { files })
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
        let message = error.to_string();
        let offset = error.labels().and_then(|mut labels| labels.next()).map(|label| label.offset());
        let line_col = match (&file, offset) {
            (Some(file), Some(offset)) => self.get(file).map(|text| line_col(text, offset)),
            (Some(file), None) => self.cycle_import(file, &message),
            _ => None,
        };
        CompileError { file, line_col, message }
    }

    /// Where `file` imports the next file of the import cycle that protox
    /// reports in `message` ("import cycle detected: a.proto -> b.proto ->
    /// a.proto", `file` being the one the cycle returns to): the line and
    /// column of that `import` statement.
    fn cycle_import(&self, file: &str, message: &str) -> Option<(usize, usize)> {
        let cycle: Vec<&str> = message.strip_prefix(CYCLE_PREFIX)?.split(" -> ").collect();
        let start = cycle.iter().position(|name| *name == file)?;
        let next = *cycle.get(start + 1)?;
        let text = self.get(file)?;
        let parsed = File::from_source(file, text).ok()?;
        let descriptor = parsed.file_descriptor_proto();
        let index = descriptor.dependency.iter().position(|dependency| dependency == next)?;
        // FileDescriptorProto.dependency is field 3.
        let path = [3, i32::try_from(index).ok()?];
        let location = descriptor.source_code_info.as_ref()?.location.iter().find(|l| l.path == path)?;
        match location.span.as_slice() {
            [line, col, ..] => Some((usize::try_from(*line).ok()? + 1, usize::try_from(*col).ok()? + 1)),
            _ => None,
        }
    }
}

/// How protox starts the message of an import cycle.
const CYCLE_PREFIX: &str = "import cycle detected: ";

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
    fn import_cycle_is_located_at_the_import() {
        let src = sources(&[
            ("a.proto", "syntax = \"proto3\";\npackage c.v1;\nimport \"b.proto\";\n"),
            ("b.proto", "syntax = \"proto3\";\npackage c.v1;\n\n  import \"a.proto\";\n"),
        ]);
        let err = src.compile().unwrap_err().to_string();
        assert_eq!(err, "a.proto:3:1: import cycle detected: a.proto -> b.proto -> a.proto");
        let own = sources(&[("s.proto", "syntax = \"proto3\";\n\n\nimport \"s.proto\";\n")]);
        assert_eq!(own.compile().unwrap_err().to_string(), "s.proto:4:1: import cycle detected: s.proto -> s.proto");
    }

    #[test]
    fn invalid_utf8_is_located() {
        let dir = std::env::temp_dir().join(format!("mmplugin-gen-utf8-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("u.proto"), b"syntax = \"proto3\";\n// caf\xc3\xa9 ok, then \xe9 not\n").unwrap();
        let err = ProtoSources::from_dir(&dir).unwrap_err().to_string();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            err,
            format!("{}:2:18: not valid UTF-8 (a .proto file is UTF-8 text)", dir.join("u.proto").display())
        );
    }

    #[test]
    fn embedded_contract_compiles() {
        let fds = ProtoSources::embedded().compile().expect("the committed proto/ compiles");
        assert!(fds.file.iter().any(|f| f.name() == "hooks.proto"));
    }
}
