//! The table every backend uses to find a registration by fd number.

use std::os::fd::RawFd;

/// A map from fd number to an index (of a registration, or of an epoll
/// slot), stored as a plain array indexed by the number.
///
/// The kernel hands out the lowest free fd number, so a process's fds are
/// small, dense numbers: an array of 4-byte entries up to the highest
/// number registered is smaller than a hash map's buckets and a lookup is
/// one bounds check and one load, with no hashing. Entries hold the index
/// plus one; 0 is "not registered".
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

    /// Maps `fd` to `index`, replacing any previous index; grows the array
    /// (geometrically) to reach `fd`.
    ///
    /// `fd` is a live fd number (never negative) and `index` at most
    /// [`MAX_INDEX`](Self::MAX_INDEX): the backends check both before they
    /// call.
    pub(crate) fn insert(&mut self, fd: RawFd, index: usize) {
        debug_assert!(index <= Self::MAX_INDEX);
        let Ok(slot) = usize::try_from(fd) else {
            debug_assert!(false, "negative fd {fd}");
            return;
        };
        if slot >= self.entries.len() {
            self.entries.resize(slot + 1, 0);
        }
        if self.entries[slot] == 0 {
            self.len += 1;
        }
        self.entries[slot] = index as u32 + 1;
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

#[cfg(test)]
mod tests {
    use super::FdMap;

    #[test]
    fn insert_get_remove() {
        let mut m = FdMap::default();
        assert_eq!(m.get(0), None);
        assert_eq!(m.get(-1), None);
        assert_eq!(m.remove(7), None);
        m.insert(7, 0);
        m.insert(3, 5);
        assert_eq!(
            (m.get(7), m.get(3), m.get(4), m.get(8)),
            (Some(0), Some(5), None, None)
        );
        assert_eq!(m.len(), 2);
        m.insert(7, 9);
        assert_eq!((m.get(7), m.len()), (Some(9), 2));
        assert_eq!(m.remove(7), Some(9));
        assert_eq!((m.get(7), m.remove(7), m.len()), (None, None, 1));
        assert!(m.contains(3) && !m.contains(7));
        m.insert(100_000, FdMap::MAX_INDEX);
        assert_eq!(m.get(100_000), Some(FdMap::MAX_INDEX));
        assert_eq!(m.get(99_999), None);
    }
}
