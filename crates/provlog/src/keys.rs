//! Key files: the log's signing key (created on first start from OS randomness), and lists of
//! verifier keys (submitters, witnesses) in the C2SP signed-note `vkey` format.

use std::fmt;
use std::fs;
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};

use provenance::{CosignatureV1Verifier, Ed25519Signer, Ed25519Verifier, KeyError, NoteSigner};

/// Why a key file could not be used.
#[derive(Debug)]
#[non_exhaustive]
pub enum KeyFileError {
    Io {
        path: PathBuf,
        source: io::Error,
    },
    /// A line is not a key of the expected type.
    Key {
        path: PathBuf,
        line: usize,
        source: KeyError,
    },
    /// The stored log key is for another origin.
    Origin {
        path: PathBuf,
        stored: String,
        configured: String,
    },
}

impl fmt::Display for KeyFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyFileError::Io { path, .. } => write!(f, "cannot use key file {}", path.display()),
            KeyFileError::Key { path, line, source } => {
                write!(f, "{} line {line}: {source}", path.display())
            }
            KeyFileError::Origin {
                path,
                stored,
                configured,
            } => write!(
                f,
                "{} holds the key of log {stored:?}, but the configured origin is \
                 {configured:?}; configure {stored:?} or move the key away",
                path.display()
            ),
        }
    }
}

impl std::error::Error for KeyFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            KeyFileError::Io { source, .. } => Some(source),
            KeyFileError::Key { source, .. } => Some(source),
            KeyFileError::Origin { .. } => None,
        }
    }
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> KeyFileError {
    let path = path.to_path_buf();
    move |source| KeyFileError::Io { path, source }
}

/// 32 bytes from the operating system's random source.
pub fn random_seed() -> io::Result<[u8; 32]> {
    let mut seed = [0u8; 32];
    fs::File::open("/dev/urandom")?.read_exact(&mut seed)?;
    Ok(seed)
}

/// Loads the log's signing key from `path` (Go's `PRIVATE+KEY+…` format), or creates one for
/// `origin` from OS randomness: written to a temporary file readable only by its owner,
/// fsynced, renamed into place, directory fsynced.
pub fn load_or_create_log_key(path: &Path, origin: &str) -> Result<Ed25519Signer, KeyFileError> {
    match fs::read_to_string(path) {
        Ok(text) => {
            let signer =
                Ed25519Signer::from_skey(text.trim()).map_err(|source| KeyFileError::Key {
                    path: path.to_path_buf(),
                    line: 1,
                    source,
                })?;
            if signer.name() != origin {
                return Err(KeyFileError::Origin {
                    path: path.to_path_buf(),
                    stored: signer.name().to_string(),
                    configured: origin.to_string(),
                });
            }
            Ok(signer)
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            let seed = random_seed().map_err(io_error(path))?;
            let signer = Ed25519Signer::new(origin, &seed).map_err(|source| KeyFileError::Key {
                path: path.to_path_buf(),
                line: 0,
                source,
            })?;
            write_secret(path, &format!("{}\n", signer.skey()))?;
            Ok(signer)
        }
        Err(error) => Err(io_error(path)(error)),
    }
}

fn write_secret(path: &Path, text: &str) -> Result<(), KeyFileError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io_error(dir))?;
    let temporary = path.with_extension("tmp");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(&temporary).map_err(io_error(&temporary))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io_error(&temporary))?;
    fs::rename(&temporary, path).map_err(io_error(path))?;
    // IMPORTANT: the rename is durable only once the directory is.
    if cfg!(unix) {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_error(dir))?;
    }
    Ok(())
}

/// The keys of a list: one per line; blank lines and lines starting with `#` are skipped.
pub fn key_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(number, line)| (number + 1, line.trim()))
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
}

/// Reads a file of submitter verifier keys (Ed25519, type 0x01).
pub fn read_submitters(path: &Path) -> Result<Vec<Ed25519Verifier>, KeyFileError> {
    let text = fs::read_to_string(path).map_err(io_error(path))?;
    key_lines(&text)
        .map(|(line, key)| {
            Ed25519Verifier::from_vkey(key).map_err(|source| KeyFileError::Key {
                path: path.to_path_buf(),
                line,
                source,
            })
        })
        .collect()
}

/// Parses witness verifier keys (cosignature/v1, type 0x04).
pub fn parse_witnesses(keys: &[String]) -> Result<Vec<CosignatureV1Verifier>, KeyError> {
    keys.iter()
        .map(|key| CosignatureV1Verifier::from_vkey(key.trim()))
        .collect()
}
