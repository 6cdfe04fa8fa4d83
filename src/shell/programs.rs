//! Where the daemon finds the programs it runs (`nft`, `iptables-nft`, `ip`).
//!
//! procd starts a jailed instance (procd-ujail) with no environment at all, so a bare
//! `Command::new("nft")` finds nothing and the daemon cannot apply its ruleset. A program is
//! therefore looked up along `PATH` when there is one, then in the directories where OpenWrt
//! and Debian install these tools, and run by its absolute path.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// Where OpenWrt (`/usr/sbin/nft`, `/sbin/ip`) and Debian put the tools, searched after `PATH`.
pub const SYSTEM_DIRS: [&str; 4] = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"];

/// The absolute path of `name`: the first executable file along `path` (a `PATH` value), then
/// in `system_dirs`. `None` when there is none; the caller then runs the bare name, so that
/// the error it reports names the program.
pub fn locate_in(name: &str, path: Option<&OsStr>, system_dirs: &[&str]) -> Option<PathBuf> {
    let from_path = path.into_iter().flat_map(std::env::split_paths);
    let from_system = system_dirs.iter().map(PathBuf::from);
    from_path.filter(|dir| dir.is_absolute()).chain(from_system).map(|dir| dir.join(name)).find(|p| is_executable(p))
}

/// [`locate_in`] with this process's `PATH` and [`SYSTEM_DIRS`]; the bare name when nothing
/// is found.
pub fn program(name: &str) -> PathBuf {
    locate_in(name, std::env::var_os("PATH").as_deref(), &SYSTEM_DIRS).unwrap_or_else(|| PathBuf::from(name))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ike-esp-alg-programs-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    fn install(dir: &Path, name: &str, mode: u32) -> PathBuf {
        let file = dir.join(name);
        std::fs::write(&file, "#!/bin/sh\n").expect("write");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).expect("chmod");
        file
    }

    #[test]
    fn with_no_path_the_system_directories_are_searched() {
        let system = scratch("system");
        let nft = install(&system, "nft", 0o755);
        let dirs = [system.to_str().expect("utf-8 temp dir")];
        assert_eq!(locate_in("nft", None, &dirs), Some(nft.clone()));
        assert_eq!(locate_in("nft", Some(OsStr::new("")), &dirs), Some(nft));
        let _ = std::fs::remove_dir_all(&system);
    }

    #[test]
    fn path_comes_before_the_system_directories_and_relative_entries_are_skipped() {
        let system = scratch("sys2");
        let on_path = scratch("path");
        install(&system, "nft", 0o755);
        let preferred = install(&on_path, "nft", 0o755);
        let path = std::env::join_paths([PathBuf::from("relative"), on_path.clone()]).expect("join");
        let dirs = [system.to_str().expect("utf-8 temp dir")];
        assert_eq!(locate_in("nft", Some(&path), &dirs), Some(preferred));
        let _ = std::fs::remove_dir_all(&system);
        let _ = std::fs::remove_dir_all(&on_path);
    }

    #[test]
    fn files_that_are_not_executable_are_passed_over() {
        let system = scratch("noexec");
        install(&system, "nft", 0o644);
        let dirs = [system.to_str().expect("utf-8 temp dir")];
        assert_eq!(locate_in("nft", None, &dirs), None);
        let _ = std::fs::remove_dir_all(&system);
    }

    #[test]
    fn this_machines_shell_is_found_without_path() {
        // Every Debian and OpenWrt system has /bin/sh: the fallback alone finds it.
        let found = locate_in("sh", None, &SYSTEM_DIRS).expect("sh in a system directory");
        assert!(found.is_absolute() && found.ends_with("sh"), "{found:?}");
    }
}
