//! Surviving a mapped file that shrinks under the server.
//!
//! Snapshot and CRL files are mapped, and a mapped file that another
//! process truncates (an operator copying a new snapshot over the old
//! directory, a filesystem fault) makes the next read of a page past its
//! new end raise SIGBUS, which by default ends the whole process. Every
//! mapping of a data file is registered here; once [`install`] has run (the
//! server does at start), a SIGBUS inside a registered mapping replaces the
//! rest of that mapping, from the faulting page on, with zero pages,
//! marks the mapping damaged and lets the read go on. It then reads zeros,
//! which the bounds-checked readers treat as damage, never as undefined
//! behaviour; and whoever answers from the mapping checks [`damaged`]
//! afterwards and refuses to answer from it. A SIGBUS anywhere else is
//! left to the default action.
//!
//! The handler only touches atomics and calls `mmap`, a system call.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Once;

/// Mappings registered at once at most (a national snapshot has 515 files;
/// a few generations of snapshots and CRLs are kept at once).
const SLOTS: usize = 8192;
/// A slot being filled in (its start is not yet valid).
const RESERVED: usize = 1;

struct Slot {
    start: AtomicUsize,
    len: AtomicUsize,
    damaged: AtomicBool,
}

static REGISTERED: [Slot; SLOTS] = [const {
    Slot {
        start: AtomicUsize::new(0),
        len: AtomicUsize::new(0),
        damaged: AtomicBool::new(false),
    }
}; SLOTS];
/// Faults caught (and writes noticed) since start: a reader checks a
/// mapping's damage only when this is not zero.
static CAUGHT: AtomicU64 = AtomicU64::new(0);
static INSTALL: Once = Once::new();

/// A registered mapping; unregistered when dropped (before the mapping is
/// unmapped, which its owner does afterwards).
#[derive(Debug)]
pub struct Registration {
    slot: Option<usize>,
    /// The inotify watch on the file, once the server watches (see
    /// [`super::watch`]).
    watch: Option<super::watch::Watch>,
}

impl Registration {
    /// Registers the mapping of `len` bytes at `start` of the file at
    /// `path`. When every slot is taken the mapping is simply not guarded
    /// (a SIGBUS in it then ends the process, as without this module).
    pub fn new(start: *const u8, len: usize, path: &std::path::Path) -> Registration {
        let slot = REGISTERED.iter().position(|slot| {
            slot.start
                .compare_exchange(0, RESERVED, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        });
        if let Some(index) = slot {
            let slot = &REGISTERED[index];
            slot.damaged.store(false, Ordering::Relaxed);
            slot.len.store(len, Ordering::Relaxed);
            slot.start.store(start as usize, Ordering::Release);
        }
        let watch = slot.and_then(|index| super::watch::add(path, index));
        Registration { slot, watch }
    }

    /// True once a SIGBUS was caught in this mapping: it no longer holds
    /// what the file held when it was mapped.
    #[inline]
    pub fn damaged(&self) -> bool {
        CAUGHT.load(Ordering::Relaxed) != 0
            && self
                .slot
                .is_some_and(|index| REGISTERED[index].damaged.load(Ordering::Acquire))
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // The watch first, so that no event marks the slot once it is free.
        drop(self.watch.take());
        if let Some(index) = self.slot {
            let slot = &REGISTERED[index];
            slot.start.store(RESERVED, Ordering::Release);
            slot.len.store(0, Ordering::Relaxed);
            slot.damaged.store(false, Ordering::Relaxed);
            slot.start.store(0, Ordering::Release);
        }
    }
}

/// Marks the mapping in `slot` damaged: its file was written to under it
/// (see [`super::watch`]).
pub(super) fn mark_damaged(slot: usize) {
    REGISTERED[slot].damaged.store(true, Ordering::Release);
    CAUGHT.fetch_add(1, Ordering::AcqRel);
}

/// Faults caught since start (and writes noticed, see [`super::watch`]).
#[inline]
pub fn caught() -> u64 {
    CAUGHT.load(Ordering::Relaxed)
}

/// True once for every new fault caught (so that each is logged once).
pub fn newly_caught() -> bool {
    static REPORTED: AtomicU64 = AtomicU64::new(0);
    let caught = caught();
    REPORTED.fetch_max(caught, Ordering::Relaxed) < caught
}

/// Installs the SIGBUS handler (once per process). Returns false when the
/// kernel refused it (SIGBUS then ends the process as by default).
pub fn install() -> bool {
    let mut installed = true;
    INSTALL.call_once(|| {
        // Read now, so that the handler never calls sysconf.
        let _ = page_size();
        // SAFETY: a zeroed sigaction is a valid starting point; the handler
        // is an `extern "C"` function of the signature SA_SIGINFO expects,
        // and sigemptyset/sigaction only read and write the struct given.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_sigbus as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_NODEFER;
            libc::sigemptyset(&mut action.sa_mask);
            installed = libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut()) == 0;
        }
    });
    installed
}

/// The page size, read once before any fault can happen.
fn page_size() -> usize {
    static PAGE: AtomicUsize = AtomicUsize::new(0);
    match PAGE.load(Ordering::Relaxed) {
        0 => {
            // SAFETY: sysconf takes no pointers.
            let size =
                usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
            PAGE.store(size, Ordering::Relaxed);
            size
        }
        size => size,
    }
}

extern "C" fn on_sigbus(
    _signal: libc::c_int,
    info: *mut libc::siginfo_t,
    _context: *mut libc::c_void,
) {
    // SAFETY: the kernel passes a valid siginfo_t for an SA_SIGINFO handler.
    let address = unsafe { (*info).si_addr() } as usize;
    for slot in REGISTERED.iter() {
        let start = slot.start.load(Ordering::Acquire);
        if start <= RESERVED {
            continue;
        }
        let len = slot.len.load(Ordering::Relaxed);
        if address < start || address >= start + len {
            continue;
        }
        slot.damaged.store(true, Ordering::Release);
        CAUGHT.fetch_add(1, Ordering::AcqRel);
        let page = page_size();
        let from = address & !(page - 1);
        let end = (start + len).div_ceil(page) * page;
        // SAFETY: `from..end` lies inside a live read-only mapping of a data
        // file (registered until just before it is unmapped); replacing it
        // with anonymous zero pages changes what later reads see, never
        // whether the addresses are mapped.
        let replaced = unsafe {
            libc::mmap(
                from as *mut libc::c_void,
                end - from,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if replaced != libc::MAP_FAILED {
            return;
        }
        break;
    }
    // Not ours (or the zero pages could not be mapped): the default action,
    // which ends the process when the read is tried again.
    // SAFETY: resetting a signal's disposition takes no pointers we own.
    unsafe {
        libc::signal(libc::SIGBUS, libc::SIG_DFL);
    }
}
