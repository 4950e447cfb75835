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
/// `RLIMIT_NOFILE` allows). The array shrinks again when the highest
/// numbers are removed, and an allocation that fails is `ENOMEM` from the
/// registration, never an abort.
#[derive(Default)]
pub(crate) struct FdMap {
    entries: Vec<u32>,
    len: usize,
}

/// Below this many entries the array is never shrunk: 4 KiB is not worth
/// a reallocation.
const KEEP: usize = 1024;

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
        let slot = usize::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
        if slot >= self.entries.len() {
            let more = slot + 1 - self.entries.len();
            self.entries
                .try_reserve(more)
                .map_err(|_| io::Error::from_raw_os_error(libc::ENOMEM))?;
            self.entries.resize(slot + 1, 0);
        }
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
        self.reserve(fd)?;
        // reserve() made the number a valid, non-negative index.
        let e = &mut self.entries[fd as usize];
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

    /// Unmaps `fd`, giving back its index if it had one. Removing the
    /// highest numbers shortens the array, and gives memory back once it
    /// uses under a quarter of its capacity.
    pub(crate) fn remove(&mut self, fd: RawFd) -> Option<usize> {
        let i = self.get(fd)?;
        // get() succeeded, so the number is in range and not negative.
        self.entries[fd as usize] = 0;
        self.len -= 1;
        while self.entries.last() == Some(&0) {
            self.entries.pop();
        }
        let cap = self.entries.capacity();
        if cap > KEEP && cap / 4 > self.entries.len() {
            self.entries.shrink_to((self.entries.len() * 2).max(KEEP));
        }
        Some(i)
    }

    /// How many fds are mapped.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
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
    fn removing_the_highest_numbers_gives_memory_back() {
        let mut m = FdMap::default();
        m.insert(3, 0).unwrap();
        m.insert(1_000_000, 1).unwrap();
        assert!(m.entries.capacity() > 1_000_000);
        assert_eq!(m.remove(1_000_000), Some(1));
        assert_eq!(m.entries.len(), 4);
        assert!(m.entries.capacity() <= super::KEEP);
        assert_eq!(m.get(3), Some(0));
        // A registration churning below the top allocates nothing.
        m.insert(500, 1).unwrap();
        let cap = m.entries.capacity();
        for _ in 0..100 {
            m.insert(20, 2).unwrap();
            m.remove(20);
        }
        assert_eq!(m.entries.capacity(), cap);
    }
}
