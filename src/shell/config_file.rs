//! Reading `/etc/config/ike-esp-alg` into a checked [`AlgConfig`]: the one place the daemon
//! and the operator's commands (`check`, `show security ...`, `print-ruleset`) load it.

use crate::config::model::{AlgConfig, Problem};
use crate::config::uci::Warning;
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
    load_with_warnings(path).0
}

/// Loads and checks the file at `path`, with what libuci's reading silently ignores in it
/// (each displays as `FILE:LINE: warning: ...`), whether or not it checks out.
pub fn load_with_warnings(path: &Path) -> (Result<AlgConfig, ConfigFileError>, Vec<Warning>) {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(source) => return (Err(ConfigFileError::Unreadable { path: path.to_path_buf(), source }), Vec::new()),
    };
    let (loaded, warnings) = AlgConfig::load_with_warnings(&text, &path.display().to_string());
    (loaded.map_err(ConfigFileError::Invalid), warnings)
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

        let odd = dir.join("odd");
        std::fs::write(&odd, "config alg 'ike_esp_nat'\n\toption enabled 1; option bogus 2\n").unwrap();
        let (loaded, warnings) = load_with_warnings(&odd);
        assert!(loaded.is_ok(), "what libuci ignores is not checked");
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].to_string().starts_with(&format!("{}:2: warning: ", odd.display())), "{}", warnings[0]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
