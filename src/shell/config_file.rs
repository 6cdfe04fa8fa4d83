//! Reading `/etc/config/ike-esp-alg` into a checked [`AlgConfig`]: the one place the daemon
//! and the operator's commands (`check`, `show security ...`, `print-ruleset`) load it.

use crate::config::model::{AlgConfig, Problem};
use core::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Why the configuration file gave no configuration. Both are the operator's to fix.
#[derive(Debug)]
pub enum ConfigFileError {
    /// The file could not be read.
    Unreadable { path: PathBuf, source: io::Error },
    /// It was read, and has these problems (each names file:line).
    Invalid(Vec<Problem>),
}

impl fmt::Display for ConfigFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigFileError::Unreadable { path, source } => write!(f, "{}: cannot read: {source}", path.display()),
            ConfigFileError::Invalid(problems) => {
                for (i, problem) in problems.iter().enumerate() {
                    if i > 0 {
                        f.write_str("\n")?;
                    }
                    write!(f, "{problem}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ConfigFileError {}

/// Loads and checks the file at `path`.
pub fn load(path: &Path) -> Result<AlgConfig, ConfigFileError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigFileError::Unreadable { path: path.to_path_buf(), source })?;
    AlgConfig::load(&text, &path.display().to_string()).map_err(ConfigFileError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_and_a_bad_one_say_which_and_why() {
        let dir = std::env::temp_dir().join(format!("iea-config-file-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let missing = dir.join("missing");
        let e = load(&missing).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.starts_with(&format!("{}: cannot read: ", missing.display())), "{e}");

        let bad = dir.join("bad");
        std::fs::write(&bad, "config alg 'ike_esp_nat'\n\toption enabled 'maybe'\n\toption bogus '1'\n").unwrap();
        let e = load(&bad).err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(e.lines().count(), 2, "one line per problem: {e}");
        assert!(e.lines().all(|l| l.starts_with(&format!("{}:", bad.display()))), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
