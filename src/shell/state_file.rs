//! The state file: the engine's snapshot written tmp + fsync + rename, so a crash leaves the
//! old file or the new one, never half of one (as odhcpd does with its leases).

use crate::engine::{Snapshot, SnapshotError};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

/// Writes the snapshot atomically. On failure the old file is untouched, and the partial
/// temporary file is removed, so a full `/var/run` is not left fuller.
pub fn save(path: &Path, snapshot: &Snapshot) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let written = write_synced(&tmp, snapshot.encode().as_bytes()).and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    if let Some(dir) = path.parent() {
        // The rename itself is durable once the directory is synced.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Why a state file could not be taken back.
#[derive(Debug)]
pub enum LoadError {
    Io(io::Error),
    Damaged(SnapshotError),
}

impl core::fmt::Display for LoadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LoadError::Io(e) => write!(f, "{e}"),
            LoadError::Damaged(e) => write!(f, "{e}"),
        }
    }
}

/// Reads a snapshot; a missing file is an empty snapshot.
pub fn load(path: &Path) -> Result<Snapshot, LoadError> {
    match fs::read_to_string(path) {
        Ok(text) => Snapshot::decode(&text).map_err(LoadError::Damaged),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Snapshot::default()),
        Err(e) => Err(LoadError::Io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::BindingRecord;

    #[test]
    fn saves_and_loads_back() {
        let dir = std::env::temp_dir().join(format!("ike-esp-alg-state-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state");
        assert_eq!(load(&path).unwrap(), Snapshot::default());
        let snapshot = Snapshot {
            bindings: vec![BindingRecord {
                client: "192.168.1.10".parse().unwrap(),
                nat: "203.0.113.7".parse().unwrap(),
                pool: None,
            }],
            ..Snapshot::default()
        };
        save(&path, &snapshot).unwrap();
        assert_eq!(load(&path).unwrap(), snapshot);
        assert!(!path.with_extension("tmp").exists());
        fs::write(&path, "garbage\n").unwrap();
        assert!(matches!(load(&path), Err(LoadError::Damaged(_))));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_save_leaves_the_old_file_and_no_temporary_file() {
        let dir = std::env::temp_dir().join(format!("ike-esp-alg-state-fail-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        // A directory in the file's place: the temporary file is written, the rename fails.
        let path = dir.join("state");
        fs::create_dir_all(path.join("kept")).unwrap();
        assert!(save(&path, &Snapshot::default()).is_err());
        assert!(!path.with_extension("tmp").exists(), "the partial file is gone");
        assert!(path.join("kept").is_dir(), "what was there is untouched");
        fs::remove_dir_all(&dir).unwrap();
    }
}
