//! The process's allocator: the system's, with transparent huge pages asked for on blocks of
//! 32 MiB and more.
//!
//! glibc serves such blocks with mmap whatever `mallopt` says (32 MiB is the most its threshold
//! takes), so a training step maps the same large tensors afresh every step — a VGG or AlexNet
//! classifier's weights, gradients and their copies — and the kernel faults in and zeroes each
//! page: 4 KiB at a time, 28–43% of a VGG-11 step at 32×32 (perf, BENCHMARKS.md "Large tensors").
//! `madvise(MADV_HUGEPAGE)` makes those faults 2 MiB at a time where the system's transparent
//! huge pages are set to `madvise` (Debian's default) or `always`; with `never` it does nothing.
//! Keeping freed blocks for reuse instead was measured too and was slower: burn-flex allocates
//! zeroed buffers it only reads before copying, and a reused block must then be cleared in full.

use std::alloc::{GlobalAlloc, Layout, System};

/// Blocks this large and larger get huge pages.
pub const LARGE: usize = 32 << 20;

/// The system allocator, with huge pages for large blocks (see the module's doc).
pub struct HugePages;

/// Asks for huge pages over the 2 MiB-aligned part of the block at `ptr` of `size` bytes.
fn advise(ptr: *mut u8, size: usize) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let start = (ptr as usize).next_multiple_of(HUGE);
        let end = (ptr as usize + size) & !(HUGE - 1);
        if !ptr.is_null() && end > start {
            // SAFETY: the range lies inside a block just allocated; madvise only sets a hint
            // and fails harmlessly (EINVAL) where THP is not built in.
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (ptr, size);
}

// SAFETY: every call is the system allocator's; the hint changes how pages are backed, not which
// memory is handed out.
unsafe impl GlobalAlloc for HugePages {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if layout.size() >= LARGE {
            advise(ptr, layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if layout.size() >= LARGE {
            advise(ptr, layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if new_size >= LARGE {
            advise(new, new_size);
        }
        new
    }
}
