//! The opt-in eBPF fast path for learned ESP SAs: the loader for `bpf/esp_fastpath.c` (a
//! tc clsact program, built by `bpf/build.sh` into one object per byte order), the typed
//! SA map it forwards from, and its attachment to a device's clsact ingress hook. The
//! shell's `offload` module runs it for the daemon when `esp_offload` is on.
//!
//! - [`object`]: the checked, pure reader of our ELF object (instructions, license, map
//!   definitions, map relocations);
//! - [`attach`]: [`TcAttacher`], which adds clsact and puts, replaces, removes and finds
//!   our `bpf` filter over rtnetlink ([`AttachError`] names the missing kernel package);
//! - [`syscall`]: the raw bpf(2) calls, the crate's one module with `unsafe`;
//! - [`sa_map`]: [`SaMap`], the per-CPU hash of rewrites and counters;
//! - here: [`FastPath::load`], which creates the map, points the program at it and asks
//!   the verifier to take it, and says which step failed ([`LoadError`]); [`Execution`]
//!   says whether the kernel JIT-compiled it.
//!
//! # Why a raw bpf(2) loader
//!
//! aya 0.13 adds about 350 KB to a static mipsel build, which takes the daemon over its
//! 800 KB budget; newer aya needs a newer Rust than OpenWrt 23.05 builds (1.85); libbpf is
//! C, a second toolchain and library on the router. Our object is fixed and small (one
//! program, one legacy map, no BTF), so the loader only has to read that: a raw loader of
//! about 300 lines measured +29 KB. This one, with every offset checked and the typed map,
//! has about three times that many lines of code and measured the same: +29.6 KB on a
//! static x86_64 musl build whose `main` called every public method. The program itself
//! is read from a file at run time, so cargo builds never need clang.

pub mod attach;
pub mod object;
pub mod sa_map;
pub mod syscall;

use std::ffi::CString;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

pub use attach::{AttachError, TcAttacher};
pub use object::{BpfObject, ByteOrder, ObjectError};
pub use sa_map::{Rewrite, SaCounters, SaEntry, SaKey, SaMap};

/// The name of the SA map in the object.
pub const SA_MAP_NAME: &str = "esp_sa";
/// `BPF_PROG_TYPE_SCHED_CLS`: a tc classifier.
pub const PROG_TYPE_SCHED_CLS: u32 = 3;
/// `BPF_PSEUDO_MAP_FD`: an `ld_imm64` whose immediate is a map's descriptor.
const PSEUDO_MAP_FD: u8 = 1;
/// The verifier log buffer when one is asked for; the kernel's cap is 16 MB.
const LOG_SIZE: usize = 4 << 20;
/// The size of the `struct __sk_buff` prefix a test run passes: up to `tc_index`.
const SKB_CONTEXT_SIZE: usize = 48;
const SKB_INGRESS_IFINDEX: usize = 36;
const SKB_IFINDEX: usize = 40;

/// Why the fast path did not load, by step.
#[derive(Debug)]
pub enum LoadError {
    /// The object file is not ours or is damaged.
    Object(ObjectError),
    /// The object was built for the other byte order (`bpf/build.sh` builds both).
    WrongByteOrder { object: ByteOrder, host: ByteOrder },
    /// The object's SA map is missing or not the layout [`SaMap`] encodes.
    SaMapShape(&'static str),
    /// This kernel has no bpf(2) (ENOSYS), or this process may not use it (EPERM: needs
    /// CAP_BPF and CAP_NET_ADMIN, or root). `step` is the call that said so.
    NoBpfSyscall { step: &'static str, error: io::Error },
    /// Another bpf(2) failure at `step` (out of memory, a map type this kernel lacks).
    Syscall { step: &'static str, error: io::Error },
    /// The verifier refused the program; its log says why.
    Verifier { error: io::Error, log: String },
    /// `/sys/devices/system/cpu/possible` could not be read (per-CPU map values need it).
    PossibleCpus(io::Error),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Object(e) => write!(f, "bad BPF object: {e}"),
            LoadError::WrongByteOrder { object, host } => write!(f, "BPF object is {object}, this machine is {host}"),
            LoadError::SaMapShape(what) => write!(f, "BPF object's `{SA_MAP_NAME}` map: {what}"),
            LoadError::NoBpfSyscall { step, error } => write!(f, "no BPF here ({step}: {error})"),
            LoadError::Syscall { step, error } => write!(f, "{step}: {error}"),
            LoadError::Verifier { error, log } => write!(f, "the verifier refused the program ({error}):\n{log}"),
            LoadError::PossibleCpus(e) => write!(f, "reading /sys/devices/system/cpu/possible: {e}"),
        }
    }
}

impl std::error::Error for LoadError {}

impl From<ObjectError> for LoadError {
    fn from(e: ObjectError) -> LoadError {
        LoadError::Object(e)
    }
}

fn syscall_error(step: &'static str, error: io::Error) -> LoadError {
    match error.raw_os_error() {
        Some(libc::ENOSYS) | Some(libc::EPERM) => LoadError::NoBpfSyscall { step, error },
        _ => LoadError::Syscall { step, error },
    }
}

/// One test run's outcome ([`FastPath::test_run`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRunOutput {
    /// The program's return value: `TC_ACT_UNSPEC` (-1, read as `u32::MAX`: not taken),
    /// `TC_ACT_SHOT` (2), `TC_ACT_REDIRECT` (7).
    pub retval: u32,
    /// The frame as the program left it.
    pub frame: Vec<u8>,
    /// Mean nanoseconds per run.
    pub duration_ns: u32,
}

/// The loaded program and its SA map.
#[derive(Debug)]
pub struct FastPath {
    program: OwnedFd,
    sa_map: SaMap,
}

impl FastPath {
    /// Loads our object (the bytes of `esp_fastpath.bpfel.o` or `.bpfeb.o`, whichever is
    /// this machine's byte order): creates the SA map, points the program at it and loads
    /// the program. A refusal is retried once with the verifier's log, for the error.
    pub fn load(object_bytes: &[u8]) -> Result<FastPath, LoadError> {
        FastPath::load_with_log(object_bytes, 0).map(|(fast_path, _)| fast_path)
    }

    /// As [`FastPath::load`], with the verifier's log at `log_level` (1, or 2 for every
    /// state; both end with "processed N insns"), also on success.
    pub fn load_with_log(object_bytes: &[u8], log_level: u32) -> Result<(FastPath, String), LoadError> {
        let object = checked_object(object_bytes)?;
        let sa_map = create_sa_map(&object)?;
        load_program(&object, sa_map, log_level)
    }

    /// As [`FastPath::load`], with the SA map pinned at `map_path` (on a bpf filesystem),
    /// so that a daemon started after this one takes back the map and its counters:
    /// a map pinned there by an earlier run is reused when it has our object's shape, and
    /// replaced when it has not. Pinning is best effort: with no bpf filesystem there the
    /// map is only this process's, and [`MapOrigin::Unpinned`] says why.
    pub fn load_pinned(object_bytes: &[u8], map_path: &Path) -> Result<(FastPath, MapOrigin), LoadError> {
        let object = checked_object(object_bytes)?;
        let c_path = CString::new(std::os::unix::ffi::OsStrExt::as_bytes(map_path.as_os_str()))
            .map_err(|_| LoadError::Syscall { step: "BPF_OBJ_GET", error: io::ErrorKind::InvalidInput.into() })?;
        let definition = sa_map_definition(&object)?;
        let mut origin = MapOrigin::New;
        if let Ok(fd) = syscall::obj_get(&c_path) {
            match syscall::map_info(fd.as_fd()) {
                Ok(info)
                    if info.map_type == definition.map_type
                        && info.key_size == definition.key_size
                        && info.value_size == definition.value_size
                        && info.max_entries == definition.max_entries =>
                {
                    let sa_map = SaMap::new(fd, possible_cpus()?, definition.max_entries);
                    let (fast_path, _) = load_program(&object, sa_map, 0)?;
                    return Ok((fast_path, MapOrigin::TakenBack));
                }
                _ => {
                    // Another version's map: ours replaces it (its SAs come back from the
                    // nft table, which still forwards them).
                    let _ = std::fs::remove_file(map_path);
                    origin = MapOrigin::Replaced;
                }
            }
        }
        let sa_map = create_sa_map(&object)?;
        if let Some(dir) = map_path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Err(error) = syscall::obj_pin(sa_map.fd().as_fd(), &c_path) {
            origin = MapOrigin::Unpinned(error);
        }
        let (fast_path, _) = load_program(&object, sa_map, 0)?;
        Ok((fast_path, origin))
    }

    /// The SA map the program forwards from.
    pub fn sa_map(&self) -> &SaMap {
        &self.sa_map
    }

    /// How the kernel runs the program; `None` when it does not say (see
    /// [`Execution::from_info`]) or the query fails.
    pub fn execution(&self) -> Option<Execution> {
        syscall::prog_info(self.program.as_fd()).ok().as_ref().and_then(Execution::from_info)
    }

    /// The program's descriptor (to attach or pin it).
    pub fn program_fd(&self) -> &OwnedFd {
        &self.program
    }

    /// Pins the program and the SA map on a bpf filesystem, so they outlive this process.
    pub fn pin(&self, program_path: &str, map_path: &str) -> io::Result<()> {
        let c_path = |p: &str| CString::new(p).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput));
        syscall::obj_pin(self.program.as_fd(), &c_path(program_path)?)?;
        syscall::obj_pin(self.sa_map.fd().as_fd(), &c_path(map_path)?)
    }

    /// Runs the program `repeat` times on `frame` (`BPF_PROG_TEST_RUN`) as if it arrived
    /// on `ingress_ifindex`, in the calling thread's network namespace (its FIB, its
    /// neighbours). Nothing is sent: a redirect is only the return value.
    pub fn test_run(&self, frame: &[u8], ingress_ifindex: u32, repeat: u32) -> io::Result<TestRunOutput> {
        let mut context = [0u8; SKB_CONTEXT_SIZE];
        for at in [SKB_INGRESS_IFINDEX, SKB_IFINDEX] {
            if let Some(field) = context.get_mut(at..at + 4) {
                field.copy_from_slice(&ingress_ifindex.to_ne_bytes());
            }
        }
        let mut out = vec![0u8; frame.len() + 256];
        let run = syscall::prog_test_run(self.program.as_fd(), frame, &mut out, Some(&context), repeat)?;
        out.truncate(run.data_size_out as usize);
        Ok(TestRunOutput { retval: run.retval, frame: out, duration_ns: run.duration_ns })
    }
}

/// How the kernel runs the loaded program: compiled by its BPF JIT, or instruction by
/// instruction in its interpreter (no JIT in this kernel, `net.core.bpf_jit_enable` 0, or
/// a JIT that gave up on the program). The interpreter forwards the same packets, slower.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Execution {
    /// JIT-compiled into `machine_code_bytes` of native code from `bpf_bytes` of BPF.
    Jit { machine_code_bytes: u32, bpf_bytes: u32 },
    /// Interpreted: `bpf_bytes` of BPF.
    Interpreter { bpf_bytes: u32 },
}

impl Execution {
    /// From the kernel's program info; `None` when it hides the sizes (both 0: a process
    /// without CAP_BPF sees them so).
    pub fn from_info(info: &syscall::ProgInfo) -> Option<Execution> {
        match (info.jited_prog_len, info.xlated_prog_len) {
            (_, 0) => None,
            (0, bpf_bytes) => Some(Execution::Interpreter { bpf_bytes }),
            (machine_code_bytes, bpf_bytes) => Some(Execution::Jit { machine_code_bytes, bpf_bytes }),
        }
    }

    /// Why the kernel interprets, from `net.core.bpf_jit_enable` as read when the program
    /// was loaded (`None`: no such sysctl, so no JIT in this kernel).
    pub fn interpreter_reason(jit_enable: Option<&str>) -> &'static str {
        match jit_enable.map(str::trim) {
            None => "this kernel has no BPF JIT",
            Some("0") => {
                "net.core.bpf_jit_enable is 0 (the default without CONFIG_BPF_JIT_DEFAULT_ON): set it to 1 (ike-esp-alg-fastpath's \
                 /etc/sysctl.d/12-ike-esp-alg-bpf-jit.conf does at boot) and restart the daemon; compiled, \
                 the program costs about 1.5x less per packet"
            }
            Some(_) => "the kernel's JIT did not take this program",
        }
    }

    /// `"jit"` or `"interpreter"`, as the status JSON says it.
    pub fn name(&self) -> &'static str {
        match self {
            Execution::Jit { .. } => "jit",
            Execution::Interpreter { .. } => "interpreter",
        }
    }
}

/// As its [`Execution::name`], for the status JSON.
impl serde::Serialize for Execution {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl fmt::Display for Execution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Execution::Jit { machine_code_bytes, bpf_bytes } => {
                write!(f, "JIT-compiled ({machine_code_bytes} bytes of machine code from {bpf_bytes} of BPF)")
            }
            Execution::Interpreter { bpf_bytes } => write!(f, "interpreted ({bpf_bytes} bytes of BPF)"),
        }
    }
}

/// Where [`FastPath::load_pinned`] got the SA map from.
#[derive(Debug)]
pub enum MapOrigin {
    /// Created and pinned: nothing was pinned there.
    New,
    /// The map an earlier run pinned, with its SAs and counters.
    TakenBack,
    /// Something else was pinned there (another version's map): replaced by a new one.
    Replaced,
    /// Created, but it could not be pinned (no bpf filesystem at the path's directory, say):
    /// it lives as long as this process or the attached program.
    Unpinned(io::Error),
}

/// Removes the pinned SA map (the map itself goes once no program uses it). `false` if
/// nothing was pinned there.
pub fn unpin(map_path: &Path) -> io::Result<bool> {
    match std::fs::remove_file(map_path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

fn checked_object(object_bytes: &[u8]) -> Result<BpfObject, LoadError> {
    let object = object::parse(object_bytes)?;
    if object.byte_order != ByteOrder::host() {
        return Err(LoadError::WrongByteOrder { object: object.byte_order, host: ByteOrder::host() });
    }
    sa_map_definition(&object)?;
    Ok(object)
}

fn sa_map_definition(object: &BpfObject) -> Result<&object::MapDefinition, LoadError> {
    let [definition] = object.maps.as_slice() else {
        return Err(LoadError::SaMapShape("the object must define exactly one map"));
    };
    if definition.name != SA_MAP_NAME {
        return Err(LoadError::SaMapShape("not found"));
    }
    if definition.map_type != sa_map::MAP_TYPE_PERCPU_HASH {
        return Err(LoadError::SaMapShape("not a BPF_MAP_TYPE_PERCPU_HASH"));
    }
    if definition.key_size as usize != sa_map::KEY_SIZE || definition.value_size as usize != sa_map::VALUE_SIZE {
        return Err(LoadError::SaMapShape("key or value size differs from this loader's"));
    }
    Ok(definition)
}

fn possible_cpus() -> Result<usize, LoadError> {
    std::fs::read_to_string("/sys/devices/system/cpu/possible").map_err(LoadError::PossibleCpus).and_then(|text| {
        sa_map::parse_possible_cpus(&text).ok_or_else(|| LoadError::PossibleCpus(io::ErrorKind::InvalidData.into()))
    })
}

fn create_sa_map(object: &BpfObject) -> Result<SaMap, LoadError> {
    let definition = sa_map_definition(object)?;
    let map_fd = syscall::map_create(&syscall::MapAttributes {
        map_type: definition.map_type,
        key_size: definition.key_size,
        value_size: definition.value_size,
        max_entries: definition.max_entries,
        map_flags: definition.map_flags,
        name: SA_MAP_NAME,
    })
    .map_err(|e| syscall_error("BPF_MAP_CREATE", e))?;
    Ok(SaMap::new(map_fd, possible_cpus()?, definition.max_entries))
}

/// Points the program at `sa_map` and asks the verifier to take it. A refusal is retried
/// once with the verifier's log, for the error.
fn load_program(object: &BpfObject, sa_map: SaMap, log_level: u32) -> Result<(FastPath, String), LoadError> {
    let license = CString::new(object.license.clone()).map_err(|_| LoadError::Object(ObjectError::License))?;
    let instructions = relocated_instructions(object, sa_map.fd().as_raw_fd())?;
    let load = |log_level: u32| {
        syscall::prog_load(PROG_TYPE_SCHED_CLS, &instructions, &license, "esp_fastpath", log_level, LOG_SIZE)
    };
    let loaded = match load(log_level) {
        Ok(loaded) => loaded,
        Err(refused) => {
            if matches!(refused.error.raw_os_error(), Some(libc::ENOSYS) | Some(libc::EPERM)) {
                return Err(LoadError::NoBpfSyscall { step: "BPF_PROG_LOAD", error: refused.error });
            }
            let log =
                if log_level == 0 { load(1).err().map(|again| again.log).unwrap_or_default() } else { refused.log };
            return Err(LoadError::Verifier { error: refused.error, log });
        }
    };
    Ok((FastPath { program: loaded.fd, sa_map }, loaded.log))
}

/// The program's instructions in host byte order, each map `ld_imm64` given `map_fd`.
fn relocated_instructions(object: &BpfObject, map_fd: i32) -> Result<Vec<u8>, LoadError> {
    let mut instructions = object.instructions.clone();
    for relocation in &object.map_relocations {
        let first = instructions.get_mut(relocation.instruction).ok_or(LoadError::Object(
            ObjectError::RelocationNotLdImm64 { instruction: relocation.instruction as u64 },
        ))?;
        first.src = PSEUDO_MAP_FD;
        first.imm = map_fd;
        let second = instructions.get_mut(relocation.instruction + 1).ok_or(LoadError::Object(
            ObjectError::RelocationNotLdImm64 { instruction: relocation.instruction as u64 },
        ))?;
        second.imm = 0;
    }
    Ok(instructions.into_iter().flat_map(object::Instruction::to_host_bytes).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(jited_prog_len: u32, xlated_prog_len: u32) -> syscall::ProgInfo {
        syscall::ProgInfo { jited_prog_len, xlated_prog_len, ..syscall::ProgInfo::default() }
    }

    #[test]
    fn machine_code_means_jit_and_hidden_sizes_mean_unknown() {
        assert_eq!(
            Execution::from_info(&info(900, 1664)),
            Some(Execution::Jit { machine_code_bytes: 900, bpf_bytes: 1664 })
        );
        assert_eq!(Execution::from_info(&info(0, 1664)), Some(Execution::Interpreter { bpf_bytes: 1664 }));
        assert_eq!(Execution::from_info(&info(0, 0)), None);
        assert_eq!(Execution::Jit { machine_code_bytes: 1, bpf_bytes: 8 }.name(), "jit");
        assert!(Execution::interpreter_reason(Some("0\n")).contains("set it to 1"));
        assert_eq!(Execution::interpreter_reason(None), "this kernel has no BPF JIT");
        assert_eq!(Execution::interpreter_reason(Some("1")), "the kernel's JIT did not take this program");
        assert_eq!(Execution::Interpreter { bpf_bytes: 8 }.to_string(), "interpreted (8 bytes of BPF)");
    }

    #[test]
    fn the_prog_info_head_is_the_kernels_layout() {
        // struct bpf_prog_info: type, id, tag[8], jited_prog_len, xlated_prog_len.
        assert_eq!(std::mem::size_of::<syscall::ProgInfo>(), 24);
        assert_eq!(std::mem::offset_of!(syscall::ProgInfo, jited_prog_len), 16);
        assert_eq!(std::mem::offset_of!(syscall::ProgInfo, xlated_prog_len), 20);
    }
}
