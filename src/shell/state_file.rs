//! The state file: the engine's snapshot written tmp + fsync + rename, so a crash leaves the
//! old file or the new one, never half of one (as odhcpd does with its leases).

use crate::engine::{Snapshot, SnapshotError};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

/// Writes the snapshot atomically.
pub fn save(path: &Path, snapshot: &Snapshot) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut file = File::create(&tmp)?;
        file.write_all(snapshot.encode().as_bytes())?;
        file.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        // The rename itself is durable once the directory is synced.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
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
}
