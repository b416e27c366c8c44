//! Read-only arrays for the lookup tables: placed on 2 MiB transparent huge pages when
//! the kernel allows it (a random lookup then costs no page walk), and a prefetch hint
//! so that batched lookups can start their memory loads early.

use std::marker::PhantomData;

use bytemuck::Pod;

/// Size and alignment of a huge page.
const HUGE: usize = 2 << 20;

/// An immutable array in its own anonymous mapping, aligned to a huge page.
pub(super) struct Pages<T> {
    map: memmap2::MmapMut,
    offset: usize,
    len: usize,
    _items: PhantomData<T>,
}

impl<T: Pod> Pages<T> {
    /// Copies `items` into a fresh mapping. Huge pages are requested for arrays of at
    /// least one huge page; where the kernel refuses them the array works the same on
    /// small pages.
    pub(super) fn from_slice(items: &[T]) -> std::io::Result<Pages<T>> {
        let bytes = std::mem::size_of_val(items);
        let huge = bytes >= HUGE;
        // The slack before the first aligned address is never touched, so it costs
        // address space only.
        let mut map = memmap2::MmapMut::map_anon((bytes + if huge { HUGE } else { 0 }).max(1))?;
        let offset = if huge {
            // Advice only: a kernel without transparent huge pages keeps small pages.
            let _ = map.advise(memmap2::Advice::HugePage);
            (HUGE - map.as_ptr() as usize % HUGE) % HUGE
        } else {
            0
        };
        map[offset..offset + bytes].copy_from_slice(bytemuck::cast_slice(items));
        Ok(Pages { map, offset, len: items.len(), _items: PhantomData })
    }

    #[inline]
    pub(super) fn as_slice(&self) -> &[T] {
        bytemuck::cast_slice(&self.map[self.offset..self.offset + self.len * std::mem::size_of::<T>()])
    }

    /// Bytes the array holds (without the untouched alignment slack).
    pub(super) fn bytes(&self) -> usize {
        self.len * std::mem::size_of::<T>()
    }
}

/// Asks the processor to bring `items[index]` into cache. Only a hint: an index out of
/// range is harmless.
#[inline(always)]
pub(super) fn prefetch<T>(items: &[T], index: usize) {
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    // SAFETY: PREFETCHT0 never reads the address architecturally and never faults, even
    // for an invalid one; `wrapping_add` keeps the pointer arithmetic defined.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
            items.as_ptr().wrapping_add(index).cast(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (items, index);
}
