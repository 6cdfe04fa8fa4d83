//! Thin wrappers over the bpf(2) system call (linux/bpf.h, `union bpf_attr`;
//! Documentation/userspace-api/ebpf/syscall.rst): MAP_CREATE, MAP_UPDATE_ELEM,
//! MAP_LOOKUP_ELEM, MAP_DELETE_ELEM, MAP_GET_NEXT_KEY, PROG_LOAD, PROG_TEST_RUN, OBJ_PIN,
//! OBJ_GET, OBJ_GET_INFO_BY_FD (of a map or a program) and LINK_CREATE (a tcx attachment).
//!
//! This is the one place in the crate with `unsafe` code, and the only reason is that
//! bpf(2) has no safe wrapper in `libc`, `nix` or std: the kernel takes a pointer to a
//! command-specific `union bpf_attr` whose fields are themselves user pointers. Keeping
//! every such call here, each with its attribute struct laid out as the UAPI header does
//! and a `// SAFETY:` note, makes the audit one file long. Everything above this module
//! (object parsing, map encoding, the loader) is safe code over these functions.
//!
//! Each attribute struct is `#[repr(C)]`, zero-initialised, and covers a prefix of the
//! command's member of `union bpf_attr`: the kernel reads `size` bytes and treats fields
//! past them as zero, so an older kernel that knows fewer fields still accepts them.

#![allow(unsafe_code)]

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_MAP_DELETE_ELEM: libc::c_long = 3;
const BPF_MAP_GET_NEXT_KEY: libc::c_long = 4;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_OBJ_PIN: libc::c_long = 6;
const BPF_OBJ_GET: libc::c_long = 7;
const BPF_PROG_TEST_RUN: libc::c_long = 10;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_LINK_CREATE: libc::c_long = 28;
/// `enum bpf_attach_type`: tc ingress through a bpf link, with no qdisc (Linux 6.6).
pub const BPF_TCX_INGRESS: u32 = 46;

/// `BPF_OBJ_NAME_LEN`: map and program names, NUL included.
const OBJ_NAME_LEN: usize = 16;

/// `BPF_ANY`: create a new element or update an existing one.
pub const UPDATE_ANY: u64 = 0;

/// The attributes of a new map (`BPF_MAP_CREATE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapAttributes<'a> {
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    /// Shown by `bpftool map`; cut to 15 bytes.
    pub name: &'a str,
}

#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; OBJ_NAME_LEN],
}

#[repr(C)]
#[derive(Default)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value_or_next_key: u64,
    flags: u64,
}

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; OBJ_NAME_LEN],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
}

#[repr(C)]
#[derive(Default)]
struct ObjAttr {
    pathname: u64,
    bpf_fd: u32,
    file_flags: u32,
}

fn name_bytes(name: &str) -> [u8; OBJ_NAME_LEN] {
    let mut out = [0u8; OBJ_NAME_LEN];
    for (slot, byte) in out.iter_mut().zip(name.bytes().take(OBJ_NAME_LEN - 1)) {
        *slot = byte;
    }
    out
}

fn address<T: ?Sized>(pointer: *const T) -> u64 {
    pointer.cast::<u8>() as usize as u64
}

/// Calls bpf(2) with one attribute struct; returns its non-negative result.
///
/// Every caller passes a `#[repr(C)]` struct that mirrors the command's member of
/// `union bpf_attr`, and keeps alive every buffer whose address is in it.
fn bpf<T>(command: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a valid, exclusively borrowed struct of `size_of::<T>()` bytes for
    // the whole call; the kernel reads at most that many bytes from it and (for
    // PROG_TEST_RUN) writes back into it. Pointers inside it are the callers' live buffers
    // with the lengths given next to them (see each caller).
    let rc = unsafe { libc::syscall(libc::SYS_bpf, command, attr as *mut T, std::mem::size_of::<T>() as libc::c_uint) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Takes ownership of a file descriptor bpf(2) returned.
fn owned(rc: libc::c_long) -> io::Result<OwnedFd> {
    let fd = libc::c_int::try_from(rc)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bpf(2) returned an impossible fd"))?;
    // SAFETY: the kernel just created `fd` for this process (MAP_CREATE, PROG_LOAD and
    // OBJ_GET return a new descriptor) and nothing else owns it yet.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn raw_fd(fd: BorrowedFd<'_>) -> u32 {
    // A valid descriptor is never negative.
    fd.as_raw_fd() as u32
}

/// `BPF_MAP_CREATE`.
pub fn map_create(attributes: &MapAttributes<'_>) -> io::Result<OwnedFd> {
    let mut attr = MapCreateAttr {
        map_type: attributes.map_type,
        key_size: attributes.key_size,
        value_size: attributes.value_size,
        max_entries: attributes.max_entries,
        map_flags: attributes.map_flags,
        map_name: name_bytes(attributes.name),
        ..MapCreateAttr::default()
    };
    owned(bpf(BPF_MAP_CREATE, &mut attr)?)
}

/// `BPF_MAP_UPDATE_ELEM`. `key` and `value` must be the map's key size and value size
/// (for per-CPU maps: the value size rounded up to 8, times the possible CPUs); the kernel
/// reads exactly that many bytes, so shorter slices are refused here.
pub fn map_update(map: BorrowedFd<'_>, key: &[u8], value: &[u8], flags: u64, sizes: (usize, usize)) -> io::Result<()> {
    check_len(key, sizes.0)?;
    check_len(value, sizes.1)?;
    // The kernel reads key.len() and value.len() bytes through these addresses while the
    // borrowed slices are alive.
    let mut attr = MapElemAttr {
        map_fd: raw_fd(map),
        key: address(key.as_ptr()),
        value_or_next_key: address(value.as_ptr()),
        flags,
        ..MapElemAttr::default()
    };
    bpf(BPF_MAP_UPDATE_ELEM, &mut attr).map(drop)
}

/// `BPF_MAP_LOOKUP_ELEM` into `value` (sized as for [`map_update`]).
pub fn map_lookup(map: BorrowedFd<'_>, key: &[u8], value: &mut [u8], sizes: (usize, usize)) -> io::Result<()> {
    check_len(key, sizes.0)?;
    check_len(value, sizes.1)?;
    // The kernel writes value.len() bytes into the exclusively borrowed `value`.
    let mut attr = MapElemAttr {
        map_fd: raw_fd(map),
        key: address(key.as_ptr()),
        value_or_next_key: address(value.as_mut_ptr()),
        ..MapElemAttr::default()
    };
    bpf(BPF_MAP_LOOKUP_ELEM, &mut attr).map(drop)
}

/// `BPF_MAP_DELETE_ELEM`.
pub fn map_delete(map: BorrowedFd<'_>, key: &[u8], key_size: usize) -> io::Result<()> {
    check_len(key, key_size)?;
    let mut attr = MapElemAttr { map_fd: raw_fd(map), key: address(key.as_ptr()), ..MapElemAttr::default() };
    bpf(BPF_MAP_DELETE_ELEM, &mut attr).map(drop)
}

/// `BPF_MAP_GET_NEXT_KEY`: the key after `key` (the first key for `None`) into `next`.
/// Fails with ENOENT after the last key.
pub fn map_next_key(map: BorrowedFd<'_>, key: Option<&[u8]>, next: &mut [u8], key_size: usize) -> io::Result<()> {
    if let Some(key) = key {
        check_len(key, key_size)?;
    }
    check_len(next, key_size)?;
    let key = key.map_or(0, |k| address(k.as_ptr()));
    // The kernel reads key_size bytes at `key` (when not null) and writes key_size into `next`.
    let mut attr = MapElemAttr {
        map_fd: raw_fd(map),
        key,
        value_or_next_key: address(next.as_mut_ptr()),
        ..MapElemAttr::default()
    };
    bpf(BPF_MAP_GET_NEXT_KEY, &mut attr).map(drop)
}

fn check_len(buffer: &[u8], expected: usize) -> io::Result<()> {
    if buffer.len() == expected {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bpf map buffer of {} bytes, the map wants {expected}", buffer.len()),
        ))
    }
}

/// A program the verifier (or the kernel before it) refused: the error and the log.
#[derive(Debug)]
pub struct ProgLoadError {
    pub error: io::Error,
    /// The verifier's log (empty when no log was asked for or none was written).
    pub log: String,
}

/// What a loaded program brings back: its descriptor and the verifier's log.
#[derive(Debug)]
pub struct LoadedProgram {
    pub fd: OwnedFd,
    pub log: String,
}

/// `BPF_PROG_LOAD` of `instructions` (host byte order, whole `struct bpf_insn`s).
/// `log_level` 0 asks for no log; 1 for the verifier's log, 2 for every state (both end
/// with "processed N insns"), in a buffer of `log_size` bytes.
pub fn prog_load(
    prog_type: u32,
    instructions: &[u8],
    license: &CStr,
    name: &str,
    log_level: u32,
    log_size: usize,
) -> Result<LoadedProgram, ProgLoadError> {
    let fail = |error: io::Error| ProgLoadError { error, log: String::new() };
    if instructions.len() % 8 != 0 {
        return Err(fail(io::Error::new(io::ErrorKind::InvalidInput, "not a whole number of instructions")));
    }
    let insn_cnt = u32::try_from(instructions.len() / 8).map_err(|_| fail(io::ErrorKind::InvalidInput.into()))?;
    let mut log = vec![0u8; if log_level == 0 { 0 } else { log_size.max(1) }];
    let log_size = u32::try_from(log.len()).map_err(|_| fail(io::ErrorKind::InvalidInput.into()))?;
    // The kernel reads insn_cnt * 8 bytes of `instructions`, the NUL-terminated `license`,
    // and writes at most log_size bytes into `log`; all three outlive the call.
    let mut attr = ProgLoadAttr {
        prog_type,
        insn_cnt,
        insns: address(instructions.as_ptr()),
        license: address(license.as_ptr()),
        log_level,
        log_size,
        log_buf: if log.is_empty() { 0 } else { address(log.as_mut_ptr()) },
        prog_name: name_bytes(name),
        ..ProgLoadAttr::default()
    };
    let result = bpf(BPF_PROG_LOAD, &mut attr);
    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
    log.truncate(end);
    let log = String::from_utf8_lossy(&log).into_owned();
    match result {
        Ok(rc) => owned(rc).map(|fd| LoadedProgram { fd, log }).map_err(fail),
        Err(error) => Err(ProgLoadError { error, log }),
    }
}

/// What `BPF_PROG_TEST_RUN` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestRun {
    /// The program's return value (of the last run).
    pub retval: u32,
    /// Bytes of packet the kernel wrote into `data_out`.
    pub data_size_out: u32,
    /// Mean nanoseconds per run over `repeat` runs.
    pub duration_ns: u32,
}

/// `BPF_PROG_TEST_RUN`: runs the program `repeat` times on `data_in` (and a context,
/// for tc programs a `struct __sk_buff`), in the calling thread's network namespace.
/// The packet after the last run lands in `data_out`.
pub fn prog_test_run(
    program: BorrowedFd<'_>,
    data_in: &[u8],
    data_out: &mut [u8],
    ctx_in: Option<&[u8]>,
    repeat: u32,
) -> io::Result<TestRun> {
    let len = |n: usize| u32::try_from(n).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput));
    let mut attr = TestRunAttr {
        prog_fd: raw_fd(program),
        data_size_in: len(data_in.len())?,
        data_size_out: len(data_out.len())?,
        data_in: address(data_in.as_ptr()),
        data_out: address(data_out.as_mut_ptr()),
        repeat,
        ctx_size_in: len(ctx_in.map_or(0, <[u8]>::len))?,
        ctx_in: ctx_in.map_or(0, |c| address(c.as_ptr())),
        ..TestRunAttr::default()
    };
    // The kernel reads data_size_in bytes of `data_in` and ctx_size_in of `ctx_in`, and
    // writes at most data_size_out bytes into `data_out`; all are borrowed for the call.
    bpf(BPF_PROG_TEST_RUN, &mut attr)?;
    Ok(TestRun { retval: attr.retval, data_size_out: attr.data_size_out, duration_ns: attr.duration })
}

/// The `link_create` member of `union bpf_attr`, up to `flags` (the tcx fields after it,
/// relative_fd and expected_revision, stay zero: append at the end, any revision).
#[repr(C)]
#[derive(Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
}

/// `BPF_LINK_CREATE`: attaches `program` to device `ifindex` at `attach_type` (e.g.
/// [`BPF_TCX_INGRESS`]) and returns the link. Closing the last reference to the link (its
/// fd, or its pin) detaches the program.
pub fn link_create(program: BorrowedFd<'_>, ifindex: u32, attach_type: u32) -> io::Result<OwnedFd> {
    let mut attr = LinkCreateAttr { prog_fd: raw_fd(program), target_ifindex: ifindex, attach_type, flags: 0 };
    owned(bpf(BPF_LINK_CREATE, &mut attr)?)
}

/// `BPF_OBJ_PIN`: pins a map or program at `path` (on a bpf filesystem).
pub fn obj_pin(object: BorrowedFd<'_>, path: &CStr) -> io::Result<()> {
    // The kernel reads the NUL-terminated `path`, borrowed for the call.
    let mut attr = ObjAttr { pathname: address(path.as_ptr()), bpf_fd: raw_fd(object), ..ObjAttr::default() };
    bpf(BPF_OBJ_PIN, &mut attr).map(drop)
}

/// `BPF_OBJ_GET`: opens the map or program pinned at `path`.
pub fn obj_get(path: &CStr) -> io::Result<OwnedFd> {
    let mut attr = ObjAttr { pathname: address(path.as_ptr()), ..ObjAttr::default() };
    owned(bpf(BPF_OBJ_GET, &mut attr)?)
}

/// What the kernel says of a map (`struct bpf_map_info`, its first fields).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MapInfo {
    pub map_type: u32,
    pub id: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
}

#[repr(C)]
#[derive(Default)]
struct InfoAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// `BPF_OBJ_GET_INFO_BY_FD` for a map: its type, sizes and flags (to check that a pinned
/// map is the one our object defines before taking it back).
pub fn map_info(map: BorrowedFd<'_>) -> io::Result<MapInfo> {
    object_info(map)
}

/// `BPF_OBJ_GET_INFO_BY_FD` into `T`, a `#[repr(C)]` head of the kernel's info struct for
/// the object's kind, all integers ([`MapInfo`], [`ProgInfo`]): the kernel fills as many
/// bytes as `T` has and leaves the pointers in it alone, which are 0.
fn object_info<T: Default>(object: BorrowedFd<'_>) -> io::Result<T> {
    let mut info = T::default();
    let mut attr = InfoAttr {
        bpf_fd: raw_fd(object),
        info_len: std::mem::size_of::<T>() as u32,
        info: address(&mut info as *mut T),
    };
    // The kernel writes at most `info_len` bytes into `info`, whose address escaped into
    // the call from a mutable borrow; every bit pattern is valid for its integer fields.
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr)?;
    Ok(info)
}

/// The head of `struct bpf_prog_info`, up to the two program sizes.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ProgInfo {
    pub prog_type: u32,
    pub id: u32,
    pub tag: [u8; 8],
    /// Bytes of machine code the JIT made; 0 when the program runs in the interpreter.
    pub jited_prog_len: u32,
    /// Bytes of the program as the verifier left it; 0 when this process may not see it.
    pub xlated_prog_len: u32,
}

/// `BPF_OBJ_GET_INFO_BY_FD` for a program: its sizes, to tell JIT from interpreter (the
/// instruction pointers stay 0, so the kernel copies no code).
pub fn prog_info(program: BorrowedFd<'_>) -> io::Result<ProgInfo> {
    object_info(program)
}
