//! Checks of the OpenWrt package that run without an OpenWrt SDK: the recipe
//! (`package/ike-esp-alg/Makefile`) installs exactly the files under `files/`, each to the
//! same path on the router and with the mode it has here, protects the configuration as a
//! conffile, copies what Cargo needs, and depends on the kernel modules the datapath uses;
//! the capabilities file grants CAP_NET_ADMIN and CAP_BPF only; the rpcd ACL grants the rpcd plugin's
//! methods (status read, clear write); and shellcheck passes on the init and uci-defaults
//! scripts and the rpcd plugin (skipped with a message where shellcheck is missing).

// Tests may unwrap: a panic is a test failure with its message.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One `$(INSTALL_*) SOURCE $(1)/DEST` line of `Package/ike-esp-alg/install`.
#[derive(Debug)]
struct Install {
    macro_name: String,
    source: String,
    dest: String,
}

#[test]
fn install_lines_mirror_files_exactly() {
    // Both packages' install blocks: files/ holds what either puts on the router.
    let mut installs = installs();
    installs.extend(installs_in(&define_block(&makefile(), "Package/ike-esp-alg-fastpath/install")));
    let mut from_files = BTreeSet::new();
    for install in &installs {
        if let Some(relative) = install.source.strip_prefix("$(PKG_BUILD_DIR)/files/") {
            assert_eq!(relative, install.dest, "files/ mirrors the router: {install:?}");
            let executable = mode(&root().join("files").join(relative)) & 0o111 != 0;
            let wanted = if relative.starts_with("etc/config/") {
                "INSTALL_CONF"
            } else if executable {
                "INSTALL_BIN"
            } else {
                "INSTALL_DATA"
            };
            assert_eq!(install.macro_name, wanted, "{relative}: mode {:o}", mode(&root().join("files").join(relative)));
            assert!(from_files.insert(relative.to_owned()), "{relative} installed twice");
        }
    }
    let on_disk = files_under(&root().join("files"));
    assert_eq!(from_files, on_disk, "install lines and files/ differ");
}

#[test]
fn binary_goes_to_usr_sbin() {
    let binaries: Vec<_> = installs().into_iter().filter(|i| i.source.starts_with("$(PKG_INSTALL_DIR)/")).collect();
    assert_eq!(binaries.len(), 1, "{binaries:?}");
    let bin = binaries.first().unwrap();
    assert_eq!(bin.macro_name, "INSTALL_BIN");
    assert_eq!(bin.source, "$(PKG_INSTALL_DIR)/bin/ike-esp-alg");
    assert_eq!(bin.dest, "usr/sbin/ike-esp-alg");
    let cargo = fs::read_to_string(root().join("Cargo.toml")).unwrap();
    assert!(cargo.contains("[[bin]]\nname = \"ike-esp-alg\""), "Cargo.toml's binary is ike-esp-alg");
    let init = fs::read_to_string(root().join("files/etc/init.d/ike-esp-alg")).unwrap();
    assert!(init.contains("PROG=/usr/sbin/ike-esp-alg"));
}

#[test]
fn every_installed_file_has_its_directory() {
    assert_directories_come_first(&define_block(&makefile(), "Package/ike-esp-alg/install"));
}

/// Every `$(INSTALL_X) SOURCE $(1)/DEST` of an install block follows an
/// `$(INSTALL_DIR) $(1)/DIR` of DEST's directory.
fn assert_directories_come_first(body: &str) {
    let mut dirs = BTreeSet::new();
    for line in body.lines() {
        if let Some(dir) = line.trim().strip_prefix("$(INSTALL_DIR) $(1)/") {
            dirs.insert(dir.trim_end_matches('/').to_owned());
        } else if let Some(install) = install_line(line) {
            let parent = Path::new(&install.dest).parent().unwrap().to_str().unwrap().to_owned();
            assert!(dirs.contains(&parent), "no $(INSTALL_DIR) $(1)/{parent} before {line}");
        }
    }
}

#[test]
fn configuration_is_a_conffile() {
    let conffiles: BTreeSet<String> = define_block(&makefile(), "Package/ike-esp-alg/conffiles")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let configs: BTreeSet<String> =
        installs().into_iter().filter(|i| i.dest.starts_with("etc/config/")).map(|i| format!("/{}", i.dest)).collect();
    assert!(configs.contains("/etc/config/ike-esp-alg"));
    assert_eq!(conffiles, configs);
}

#[test]
fn recipe_uses_the_feed_rust_support_and_the_datapath_modules() {
    let makefile = makefile();
    let variable = |name: &str| -> String {
        let prefix = format!("{name}:=");
        let line = makefile
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("{name} not set"));
        line.trim_start_matches(&prefix).to_owned()
    };
    assert!(makefile.contains("../../lang/rust/rust-package.mk"));
    assert_eq!(variable("PKG_BUILD_DEPENDS"), "rust/host bpf-headers");
    assert!(makefile.contains("$(eval $(call RustBinPackage,ike-esp-alg))"));
    assert!(makefile.contains("$(eval $(call BuildPackage,ike-esp-alg))"));
    assert!(makefile.contains("CARGO_PKG_VARS += CARGO_PROFILE_RELEASE_PANIC=abort"));
    // The feed's rust-values.mk builds RUSTFLAGS from CARGO_RUSTFLAGS, appended to with +=.
    assert!(makefile.lines().any(|l| l.trim() == "CARGO_RUSTFLAGS += -Cforce-unwind-tables=no"));
    let depends: Vec<String> = variable("DEPENDS").split_whitespace().map(str::to_owned).collect();
    for module in [
        "$(RUST_ARCH_DEPENDS)",
        "+kmod-nft-queue",
        "+kmod-nfnetlink-queue",
        "+kmod-nft-nat",
        "+kmod-nf-conntrack-netlink",
        "+nftables-json",
    ] {
        assert!(depends.iter().any(|d| d == module), "DEPENDS lacks {module}: {depends:?}");
    }
    let cargo = fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let version = cargo.lines().find_map(|l| l.strip_prefix("version = ")).unwrap().trim_matches('"');
    assert_eq!(variable("PKG_VERSION"), version, "PKG_VERSION follows Cargo.toml");
}

#[test]
fn prepare_copies_what_cargo_needs() {
    let prepare = define_block(&makefile(), "Build/Prepare");
    let copied: BTreeSet<&str> =
        prepare.split_whitespace().filter_map(|w| w.strip_prefix("$(IKE_ESP_ALG_SRC)/")).collect();
    let mut needed: BTreeSet<&str> = ["Cargo.toml", "Cargo.lock", "files"].into_iter().collect();
    let cargo = fs::read_to_string(root().join("Cargo.toml")).unwrap();
    // Every target Cargo.toml names by path must exist, or cargo refuses the manifest.
    let paths: Vec<String> = cargo
        .lines()
        .filter_map(|l| l.trim().strip_prefix("path = \""))
        .filter_map(|p| p.split('/').next().map(str::to_owned))
        .collect();
    for top in &paths {
        needed.insert(top.as_str());
    }
    for item in &needed {
        assert!(copied.contains(item), "Build/Prepare does not copy {item}: {copied:?}");
        assert!(root().join(item).exists(), "{item} missing from the checkout");
    }
    // Not the host's cargo settings (zig linker, static musl): the SDK sets its own.
    assert!(!copied.contains(".cargo"));
}

#[test]
fn capabilities_grant_net_admin_and_bpf_only() {
    let json = fs::read_to_string(root().join("files/etc/capabilities/ike-esp-alg.json")).unwrap();
    for set in ["bounding", "effective", "ambient", "permitted", "inheritable"] {
        let start = json.find(&format!("\"{set}\"")).unwrap_or_else(|| panic!("no {set} set"));
        let rest = json.get(start..).unwrap();
        let list = rest.get(rest.find('[').unwrap()..=rest.find(']').unwrap()).unwrap();
        let caps: Vec<&str> = list.split('"').skip(1).step_by(2).collect();
        assert_eq!(caps, ["CAP_NET_ADMIN", "CAP_BPF"], "{set}");
    }
    let init = fs::read_to_string(root().join("files/etc/init.d/ike-esp-alg")).unwrap();
    assert!(init.contains("procd_set_param capabilities \"/etc/capabilities/$NAME.json\""));
    assert!(init.contains("procd_add_jail"), "procd applies capabilities to jailed instances only");
}

#[test]
fn init_script_is_procd_with_reload_by_signal() {
    let init = fs::read_to_string(root().join("files/etc/init.d/ike-esp-alg")).unwrap();
    assert!(init.starts_with("#!/bin/sh /etc/rc.common\n"));
    for needle in [
        "USE_PROCD=1",
        "procd_set_param respawn",
        "procd_set_param stdout 1",
        "procd_set_param stderr 1",
        "procd_send_signal \"$NAME\" daemon HUP",
        "procd_add_reload_trigger \"$NAME\"",
        "procd_add_interface_trigger",
        "config_get_bool enabled \"$ALG_SECTION\" enabled 0",
        "--egress-device",
    ] {
        assert!(init.contains(needle), "init script lacks {needle}");
    }
}

#[test]
fn shellcheck_passes() {
    let scripts =
        ["files/etc/init.d/ike-esp-alg", "files/etc/uci-defaults/90-ike-esp-alg", "files/usr/libexec/rpcd/ike-esp-alg"];
    let version = Command::new("shellcheck").arg("--version").output();
    if !version.is_ok_and(|o| o.status.success()) {
        eprintln!("shellcheck_passes: SKIPPED, shellcheck is not installed (apt-get install shellcheck)");
        return;
    }
    let output = Command::new("shellcheck").args(scripts).current_dir(root()).output().unwrap();
    assert!(
        output.status.success(),
        "shellcheck:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The rpcd ACL is JSON (read with python3: no JSON crate here) and grants exactly the
/// methods the plugin's `list` registers: `clear` as write, every other one as read.
#[test]
fn rpcd_acl_grants_every_plugin_method() {
    let plugin = root().join("files/usr/libexec/rpcd/ike-esp-alg");
    let list = Command::new("/bin/sh").arg(&plugin).arg("list").env_clear().output().unwrap();
    assert!(list.status.success(), "{}", String::from_utf8_lossy(&list.stderr));
    if !Command::new("python3").arg("--version").output().is_ok_and(|o| o.status.success()) {
        eprintln!("rpcd_acl_grants_every_plugin_method: SKIPPED, python3 is not installed");
        return;
    }
    let check = r#"
import json, sys
methods = json.loads(sys.argv[1])
assert isinstance(methods, dict) and all(isinstance(s, dict) for s in methods.values()), methods
acl = json.load(open(sys.argv[2]))["ike-esp-alg"]
read = acl["read"]["ubus"]["ike-esp-alg"]
write = acl["write"]["ubus"]["ike-esp-alg"]
assert write == ["clear"], write
assert sorted(read + write) == sorted(methods), (read, write, sorted(methods))
"#;
    let acl = root().join("files/usr/share/rpcd/acl.d/ike-esp-alg.json");
    let output = Command::new("python3")
        .args(["-c", check])
        .arg(String::from_utf8(list.stdout).unwrap())
        .arg(acl)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

/// Without a daemon the plugin still answers one JSON object: `running: false` for a
/// status, and a `clear` without a valid scope is refused before the daemon is asked.
/// The environment is empty, as a minimal rpcd's may be.
#[test]
fn rpcd_plugin_answers_json_without_a_daemon() {
    let call = |bin: &str, method: &str, args: &str| -> String {
        let mut child = Command::new("/bin/sh")
            .arg(root().join("files/usr/libexec/rpcd/ike-esp-alg"))
            .args(["call", method])
            .env_clear()
            .env("IKE_ESP_ALG_BIN", bin)
            .env("IKE_ESP_ALG_CONTROL", root().join("target/no-such-socket"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Only `clear` reads its arguments: the others may exit before the write, and a
        // broken pipe then is the plugin's right, not a failure.
        let _ = std::io::Write::write_all(&mut child.stdin.take().unwrap(), args.as_bytes());
        String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap()
    };
    let missing = call("/nonexistent/ike-esp-alg", "status", "{}");
    assert_eq!(missing, "{\"error\":\"/nonexistent/ike-esp-alg is not installed\"}\n");
    // Any executable passes the binary check; the missing socket then answers.
    let stopped = call("/bin/sh", "sessions", "{}");
    assert!(stopped.starts_with("{\"error\":\"ike-esp-alg is not running (no control socket at "), "{stopped}");
    assert!(stopped.ends_with("\",\"running\":false}\n"), "{stopped}");
    for (args, error) in [
        ("{}", "nothing cleared"),
        ("{\"all\":false}", "nothing cleared"),
        ("{\"client\":\"1.2.3\"}", "'1.2.3' is not an IPv4 address"),
        ("{\"client\":\"192.168.1.010\"}", "'192.168.1.010' is not an IPv4 address"),
        ("{\"client\":\"192.168.1.10\",\"all\":true}", "not both"),
        ("[]", "not a JSON object"),
    ] {
        let answer = call("/bin/sh", "clear", args);
        assert!(answer.starts_with("{\"error\":\"") && answer.contains(error), "clear {args}: {answer}");
    }
    assert!(call("/bin/sh", "nosuch", "{}").starts_with("{\"error\":\"unknown method 'nosuch'"));
}

/// The fast path's package: the object the daemon reads by default, built by the SDK's
/// CompileBPF from our source only when selected, with the tc modules it needs.
#[test]
fn fastpath_package_installs_the_object_where_the_daemon_looks() {
    let makefile = makefile();
    let installs = installs_in(&define_block(&makefile, "Package/ike-esp-alg-fastpath/install"));
    let [object, jit] = installs.as_slice() else { panic!("{installs:?}") };
    assert_eq!(object.source, "$(PKG_BUILD_DIR)/bpf/esp_fastpath.o");
    // The JIT on at boot (OpenWrt's sysctl service reads /etc/sysctl.d before the daemon
    // starts): without CONFIG_BPF_JIT_DEFAULT_ON the kernel interprets.
    assert_eq!(jit.dest, "etc/sysctl.d/12-ike-esp-alg-bpf-jit.conf");
    assert_eq!(jit.source, format!("$(PKG_BUILD_DIR)/files/{}", jit.dest));
    let settings: Vec<String> = std::fs::read_to_string(root().join("files").join(&jit.dest))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    assert_eq!(settings, ["net.core.bpf_jit_enable=1"]);
    assert_eq!(format!("/{}", object.dest), ike_esp_alg::shell::offload::DEFAULT_OBJECT);
    assert_eq!(object.macro_name, "INSTALL_DATA");
    let compile = define_block(&makefile, "Build/Compile");
    assert!(compile.contains("$(call Build/Compile/Cargo)"), "{compile}");
    assert!(
        compile.contains(
            "$(if $(CONFIG_PACKAGE_ike-esp-alg-fastpath),$(call CompileBPF,$(PKG_BUILD_DIR)/bpf/esp_fastpath.c))"
        ),
        "{compile}"
    );
    assert!(root().join("bpf/esp_fastpath.c").exists());
    assert!(define_block(&makefile, "Build/Prepare").contains("$(IKE_ESP_ALG_SRC)/bpf"));
    assert!(makefile.contains("include $(INCLUDE_DIR)/bpf.mk"));
    assert!(makefile.contains("$(eval $(call BuildPackage,ike-esp-alg-fastpath))"));
    let package = define_block(&makefile, "Package/ike-esp-alg-fastpath");
    let depends = package.lines().find_map(|l| l.trim().strip_prefix("DEPENDS:=")).unwrap();
    let depends: Vec<&str> = depends.split_whitespace().collect();
    assert_eq!(depends, ["ike-esp-alg", "+kmod-sched-core", "+kmod-sched-bpf", "$(BPF_DEPENDS)"]);
}

fn installs() -> Vec<Install> {
    installs_in(&define_block(&makefile(), "Package/ike-esp-alg/install"))
}

/// The file installs of an install block, in order.
fn installs_in(body: &str) -> Vec<Install> {
    let installs: Vec<Install> = body.lines().filter_map(install_line).collect();
    assert!(!installs.is_empty());
    installs
}

/// One `$(INSTALL_X) SOURCE $(1)/DEST` line (not `$(INSTALL_DIR)`); `None` for others.
fn install_line(line: &str) -> Option<Install> {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        [m, source, dest] if m.starts_with("$(INSTALL_") && *m != "$(INSTALL_DIR)" => Some(Install {
            macro_name: m.trim_start_matches("$(").trim_end_matches(')').to_owned(),
            source: (*source).to_owned(),
            dest: dest.strip_prefix("$(1)/").unwrap_or_else(|| panic!("destination outside $(1): {line}")).to_owned(),
        }),
        [m, ..] if m.starts_with("$(INSTALL_") && *m != "$(INSTALL_DIR)" => {
            panic!("install line not of the form $(INSTALL_X) SOURCE $(1)/DEST: {line}")
        }
        _ => None,
    }
}

/// The lines between `define NAME` and its `endef` in `makefile`.
fn define_block(makefile: &str, name: &str) -> String {
    let start = makefile.find(&format!("define {name}\n")).unwrap_or_else(|| panic!("no define {name}"));
    let body = makefile.get(start..).unwrap();
    let body = body.get(body.find('\n').unwrap() + 1..).unwrap();
    body.get(..body.find("\nendef").unwrap()).unwrap().to_owned()
}

fn makefile() -> String {
    fs::read_to_string(root().join("package/ike-esp-alg/Makefile")).unwrap()
}

fn files_under(dir: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.insert(path.strip_prefix(dir).unwrap().to_str().unwrap().to_owned());
            }
        }
    }
    found
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode()
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A WAN going down and up again reloads the daemon once. netifd tells procd
/// `interface.down` then `interface.update`, and runs hotplug.d/iface with `ifdown` then
/// `ifup`; procd matches each trigger's event pattern as a glob (`fnmatch`) and debounces
/// one trigger's events by its delay only, so events seconds apart reload once each. The
/// triggers are read from the init script itself, through stand-ins for procd.sh's
/// trigger functions.
#[test]
fn one_wan_down_and_up_reloads_the_daemon_once() {
    let init = root().join("files/etc/init.d/ike-esp-alg");
    let record = r#"
        procd_add_reload_trigger() { echo "config $*"; }
        procd_add_interface_trigger() { echo "interface $1 $2 $4"; }
        . "$1"
        egress_zone() { echo wan; }
        zone_networks() { echo wan; }
        service_triggers
    "#;
    let output = Command::new("sh").args(["-c", record, "sh"]).arg(&init).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let triggers = String::from_utf8(output.stdout).unwrap();
    let interface_triggers: Vec<Vec<&str>> =
        triggers.lines().filter_map(|l| l.strip_prefix("interface ")).map(|l| l.split(' ').collect()).collect();
    assert!(!interface_triggers.is_empty(), "no interface trigger in:\n{triggers}");
    let mut reloads = 0;
    for event in ["interface.down", "interface.update"] {
        reloads += interface_triggers.iter().filter(|t| glob(t[0], event) && t[1] == "wan" && t[2] == "reload").count();
    }
    // Every hotplug.d/iface script that reloads does so on `ifup` at least.
    let hotplug = root().join("files/etc/hotplug.d/iface");
    for script in if hotplug.exists() { files_under(&hotplug) } else { BTreeSet::new() } {
        if fs::read_to_string(hotplug.join(&script)).unwrap().contains("reload") {
            reloads += 1;
        }
    }
    assert_eq!(reloads, 1, "one WAN down and up reloads {reloads} times; triggers:\n{triggers}");
}

/// `fnmatch` without brackets: `*` matches any run of characters.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            text.starts_with(head) && (0..=text.len() - head.len()).any(|skip| glob(tail, &text[head.len() + skip..]))
        }
    }
}

/// The LuCI app's recipe (`package/luci-app-ike-esp-alg/Makefile`) installs exactly the
/// files under its `htdocs/` (to `/www`) and `root/` (to `/`), as data files, each to the
/// path LuCI loads it from, and depends on the daemon's package.
#[test]
fn luci_app_install_lines_mirror_its_files_exactly() {
    let app = root().join("package/luci-app-ike-esp-alg");
    let makefile = fs::read_to_string(app.join("Makefile")).unwrap();
    let body = define_block(&makefile, "Package/luci-app-ike-esp-alg/install");
    assert_directories_come_first(&body);
    let mut installed = BTreeSet::new();
    for install in installs_in(&body) {
        assert_eq!(install.macro_name, "INSTALL_DATA", "{install:?}");
        let source = install.source.strip_prefix("./").unwrap();
        let wanted = match source.strip_prefix("htdocs/") {
            Some(rest) => format!("www/{rest}"),
            None => source.strip_prefix("root/").unwrap().to_owned(),
        };
        assert_eq!(install.dest, wanted, "{install:?}");
        installed.insert(source.to_owned());
    }
    let mut present: BTreeSet<String> =
        files_under(&app.join("htdocs")).into_iter().map(|f| format!("htdocs/{f}")).collect();
    present.extend(files_under(&app.join("root")).into_iter().map(|f| format!("root/{f}")));
    assert_eq!(installed, present);
    assert!(makefile.contains("DEPENDS:=+ike-esp-alg +luci-base"));
    assert!(makefile.contains("$(eval $(call BuildPackage,luci-app-ike-esp-alg))"));
}
