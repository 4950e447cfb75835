//! The table every backend uses to find a registration by fd number.

use std::io;
use std::os::fd::RawFd;

/// A map from fd number to an index (of a registration, or of an epoll
/// slot), stored as a plain array indexed by the number.
///
/// The kernel hands out the lowest free fd number, so a process's fds are
/// usually small, dense numbers: then an array of 4-byte entries up to the
/// highest number registered is smaller than a hash map's buckets, and a
/// lookup is one bounds check and one load, with no hashing. Entries hold
/// the index plus one; 0 is "not registered".
///
/// The price is paid for sparse numbers: registering fd N alone costs
/// 4 × N bytes (16 MB for N = 4,000,000, which `dup2` reaches when
/// `RLIMIT_NOFILE` allows). Like std's collections, the array never
/// shrinks: the highest number ever registered sets its size until the
/// poller is dropped, and every operation stays O(1) however the top
/// number churns. An allocation that fails is `ENOMEM` from the
/// registration, never an abort.
#[derive(Default)]
pub(crate) struct FdMap {
    entries: Vec<u32>,
    len: usize,
}

impl FdMap {
    /// The largest index the map can hold.
    pub(crate) const MAX_INDEX: usize = u32::MAX as usize - 1;

    /// The index mapped to `fd`, if any. A negative number (never a live
    /// fd) has none.
    pub(crate) fn get(&self, fd: RawFd) -> Option<usize> {
        let slot = usize::try_from(fd).ok()?;
        match self.entries.get(slot) {
            Some(&e) if e != 0 => Some(e as usize - 1),
            _ => None,
        }
    }

    /// Whether `fd` is mapped.
    pub(crate) fn contains(&self, fd: RawFd) -> bool {
        self.get(fd).is_some()
    }

    /// Makes room for `fd`, so that a later [`insert`](Self::insert) of it
    /// cannot fail.
    ///
    /// # Errors
    ///
    /// `EBADF` for a negative number (no open fd has one: only
    /// `BorrowedFd::borrow_raw` of a bad number gets here); `ENOMEM` when
    /// the array cannot grow to reach it.
    pub(crate) fn reserve(&mut self, fd: RawFd) -> io::Result<()> {
        let slot = usize::try_from(fd).map_err(|_| ebadf())?;
        if slot >= self.entries.len() {
            self.grow(slot)?;
        }
        Ok(())
    }

    /// Grows the array to hold `slot`. Rare (the array doubles), so out of
    /// line: registration's common path stays a compare and a store.
    #[cold]
    #[inline(never)]
    fn grow(&mut self, slot: usize) -> io::Result<()> {
        let more = slot + 1 - self.entries.len();
        self.entries
            .try_reserve(more)
            .map_err(|_| io::Error::from_raw_os_error(libc::ENOMEM))?;
        self.entries.resize(slot + 1, 0);
        Ok(())
    }

    /// Maps `fd` to `index`, replacing any previous index.
    ///
    /// # Errors
    ///
    /// As [`reserve`](Self::reserve), and `ENOMEM` for an index above
    /// [`MAX_INDEX`](Self::MAX_INDEX). On error nothing changed.
    pub(crate) fn insert(&mut self, fd: RawFd, index: usize) -> io::Result<()> {
        if index > Self::MAX_INDEX {
            return Err(io::Error::from_raw_os_error(libc::ENOMEM));
        }
        let slot = usize::try_from(fd).map_err(|_| ebadf())?;
        if slot >= self.entries.len() {
            self.grow(slot)?;
        }
        let e = &mut self.entries[slot];
        if *e == 0 {
            self.len += 1;
        }
        *e = index as u32 + 1;
        Ok(())
    }

    /// Points an fd that is already mapped at another index (a
    /// registration moved by `swap_remove`). An unmapped `fd` is left
    /// alone.
    pub(crate) fn repoint(&mut self, fd: RawFd, index: usize) {
        debug_assert!(index <= Self::MAX_INDEX);
        if let Some(e) = usize::try_from(fd)
            .ok()
            .and_then(|slot| self.entries.get_mut(slot))
            .filter(|e| **e != 0)
        {
            *e = index as u32 + 1;
        }
    }

    /// Unmaps `fd`, giving back its index if it had one.
    pub(crate) fn remove(&mut self, fd: RawFd) -> Option<usize> {
        let i = self.get(fd)?;
        // get() succeeded, so the number is in range and not negative.
        self.entries[fd as usize] = 0;
        self.len -= 1;
        Some(i)
    }

    /// How many fds are mapped.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

#[cold]
fn ebadf() -> io::Error {
    io::Error::from_raw_os_error(libc::EBADF)
}

#[cfg(test)]
mod tests {
    use super::FdMap;

    #[test]
    fn insert_get_remove() {
        let mut m = FdMap::default();
        assert_eq!(m.get(0), None);
        assert_eq!(m.get(-1), None);
        assert_eq!(m.remove(7), None);
        m.insert(7, 0).unwrap();
        m.insert(3, 5).unwrap();
        assert_eq!(
            (m.get(7), m.get(3), m.get(4), m.get(8)),
            (Some(0), Some(5), None, None)
        );
        assert_eq!(m.len(), 2);
        m.insert(7, 9).unwrap();
        assert_eq!((m.get(7), m.len()), (Some(9), 2));
        m.repoint(3, 4);
        m.repoint(5, 4);
        assert_eq!((m.get(3), m.get(5), m.len()), (Some(4), None, 2));
        assert_eq!(m.remove(7), Some(9));
        assert_eq!((m.get(7), m.remove(7), m.len()), (None, None, 1));
        assert!(m.contains(3) && !m.contains(7));
        m.insert(100_000, FdMap::MAX_INDEX).unwrap();
        assert_eq!(m.get(100_000), Some(FdMap::MAX_INDEX));
        assert_eq!(m.get(99_999), None);
    }

    #[test]
    fn bad_numbers_and_indices_are_errors() {
        let mut m = FdMap::default();
        let e = m.insert(-1, 0).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EBADF));
        let e = m.insert(3, FdMap::MAX_INDEX + 1).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOMEM));
        assert_eq!((m.len(), m.get(3)), (0, None));
        m.reserve(10).unwrap();
        assert_eq!((m.len(), m.get(10)), (0, None));
    }

    #[test]
    fn churn_at_the_top_allocates_nothing() {
        let mut m = FdMap::default();
        m.insert(3, 0).unwrap();
        m.insert(100_000, 1).unwrap();
        let cap = m.entries.capacity();
        for _ in 0..100 {
            assert_eq!(m.remove(100_000), Some(1));
            m.insert(100_000, 1).unwrap();
        }
        assert_eq!((m.entries.capacity(), m.len(), m.get(3)), (cap, 2, Some(0)));
    }
}
