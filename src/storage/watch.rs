//! Noticing a mapped data file written to under the server.
//!
//! The SIGBUS guard ([`super::guard`]) catches a file that shrinks under its
//! mapping, but a file overwritten in place at the same length raises no
//! fault: the mapping simply shows the new bytes. Once [`install`] has run
//! (the server does at start), every registered mapping also gets an
//! inotify watch on its file, and a thread marks the mapping damaged as
//! soon as the kernel reports a write to the file (`IN_MODIFY`, which a
//! truncation raises too). Answers from it are then refused exactly as
//! after a SIGBUS. A write that lands between the event and the mark can
//! still be read by a check in flight: the window is the thread's wake-up.

use super::guard;
use std::collections::HashMap;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

/// The inotify descriptor and, per watch descriptor, the guard slots of
/// the mappings of that file (one file can be mapped more than once, and
/// the kernel gives each file one watch descriptor).
struct Watcher {
    fd: libc::c_int,
    slots: Mutex<HashMap<libc::c_int, Vec<usize>>>,
}

static WATCHER: OnceLock<Option<Watcher>> = OnceLock::new();

/// Starts watching (once per process). Returns false when inotify is not
/// available (files overwritten in place are then caught only by the next
/// verification).
pub fn install() -> bool {
    WATCHER
        .get_or_init(|| {
            // SAFETY: inotify_init1 takes no pointers.
            let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
            if fd < 0 {
                return None;
            }
            std::thread::Builder::new()
                .name("shikaku-watch".into())
                .spawn(move || read_events(fd))
                .ok()?;
            Some(Watcher {
                fd,
                slots: Mutex::new(HashMap::new()),
            })
        })
        .is_some()
}

/// A watch on a registered mapping's file; removed when dropped.
#[derive(Debug)]
pub(super) struct Watch {
    wd: libc::c_int,
    slot: usize,
}

/// Watches the file at `path` for the mapping in guard slot `slot`;
/// `None` when nothing is installed or the kernel refuses.
pub(super) fn add(path: &Path, slot: usize) -> Option<Watch> {
    let watcher = WATCHER.get()?.as_ref()?;
    let path = CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut slots = watcher.slots.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: `path` is a NUL-terminated string that outlives the call.
    let wd = unsafe { libc::inotify_add_watch(watcher.fd, path.as_ptr(), libc::IN_MODIFY) };
    if wd < 0 {
        return None;
    }
    slots.entry(wd).or_default().push(slot);
    Some(Watch { wd, slot })
}

impl Drop for Watch {
    fn drop(&mut self) {
        let Some(watcher) = WATCHER.get().and_then(Option::as_ref) else {
            return;
        };
        let mut slots = watcher.slots.lock().unwrap_or_else(|e| e.into_inner());
        let Some(watched) = slots.get_mut(&self.wd) else {
            return;
        };
        watched.retain(|&slot| slot != self.slot);
        if watched.is_empty() {
            slots.remove(&self.wd);
            // SAFETY: removing a watch descriptor takes no pointers.
            unsafe { libc::inotify_rm_watch(watcher.fd, self.wd) };
        }
    }
}

/// The watch thread: marks the mappings of every file written to.
fn read_events(fd: libc::c_int) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        // SAFETY: the buffer is valid for its whole length.
        let read = unsafe { libc::read(fd, buffer.as_mut_ptr().cast(), buffer.len()) };
        let Ok(read) = usize::try_from(read) else {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        };
        let Some(watcher) = WATCHER.get().and_then(Option::as_ref) else {
            continue;
        };
        for (wd, mask) in events(&buffer[..read]) {
            if mask & libc::IN_MODIFY == 0 {
                continue;
            }
            let slots = watcher.slots.lock().unwrap_or_else(|e| e.into_inner());
            for &slot in slots.get(&wd).into_iter().flatten() {
                guard::mark_damaged(slot);
            }
        }
    }
}

/// The (watch descriptor, mask) of each `struct inotify_event` in `bytes`.
fn events(mut bytes: &[u8]) -> impl Iterator<Item = (libc::c_int, u32)> + '_ {
    const HEADER: usize = 16;
    std::iter::from_fn(move || {
        let header = bytes.get(..HEADER)?;
        let wd = libc::c_int::from_ne_bytes(header[0..4].try_into().ok()?);
        let mask = u32::from_ne_bytes(header[4..8].try_into().ok()?);
        let name_len = u32::from_ne_bytes(header[12..16].try_into().ok()?) as usize;
        bytes = bytes.get(HEADER + name_len..).unwrap_or(&[]);
        Some((wd, mask))
    })
}
