//! Host-side bookkeeping of the paged cache, no GPU needed: a pool of page ids with reference
//! counts and a free list, and the block table, length and slot of every live sequence.
//!
//! One pool and one block table per sequence serve every layer: a sequence has the same
//! length in each layer, so page `p` of a sequence is page `p` of every layer's storage. That
//! keeps one allocation decision (and one table upload) per step however many layers there
//! are, as vLLM and SGLang do.
//!
//! Invariants: a sequence of `len` tokens holds at least `ceil(coded / page_tokens)` pages,
//! `coded` being its coded rows (more when pages were reserved ahead, for steps whose lengths
//! advance on the GPU); a page's reference count is the number of sequences whose table holds
//! it; a page is on the free list exactly when its count is zero. Coded rows are only ever
//! appended, so of the pages in use only the last one is written again, and it is copied first
//! if another sequence shares it; pages reserved ahead are never shared.

use crate::error::{Result, RuntimeError};
use crate::view::HostBatch;
use std::collections::{BTreeMap, HashMap, HashSet};
use vecinfer_quant::CacheLayout;

/// Page ids and their reference counts.
#[derive(Clone, Debug)]
pub struct PagePool {
    references: Vec<u32>,
    /// Popped from the back.
    free: Vec<u32>,
}

impl PagePool {
    /// `pages` free pages, handed out in increasing order.
    pub fn new(pages: usize) -> Self {
        Self {
            references: vec![0; pages],
            free: (0..pages as u32).rev().collect(),
        }
    }

    /// `pages` free pages, handed out in a random order (`seed`): tests use it so that no
    /// sequence's pages are contiguous.
    pub fn shuffled(pages: usize, seed: u64) -> Self {
        let mut pool = Self::new(pages);
        let mut state = seed;
        // Fisher-Yates with splitmix64.
        for i in (1..pool.free.len()).rev() {
            state = state.wrapping_add(0x9e3779b97f4a7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
            let j = ((z ^ (z >> 31)) % (i as u64 + 1)) as usize;
            pool.free.swap(i, j);
        }
        pool
    }

    pub fn capacity(&self) -> usize {
        self.references.len()
    }

    pub fn free_pages(&self) -> usize {
        self.free.len()
    }

    /// Sequences holding `page`.
    pub fn references(&self, page: u32) -> u32 {
        self.references[page as usize]
    }

    fn take(&mut self) -> u32 {
        let page = self.free.pop().expect("callers check free_pages first");
        self.references[page as usize] = 1;
        page
    }

    fn retain(&mut self, page: u32) {
        self.references[page as usize] += 1;
    }

    fn release(&mut self, page: u32) {
        let count = &mut self.references[page as usize];
        *count -= 1;
        if *count == 0 {
            self.free.push(page);
        }
    }
}

/// A live sequence's handle. Ids are never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SequenceId(pub u64);

impl std::fmt::Display for SequenceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Clone, Debug)]
struct Sequence {
    pages: Vec<u32>,
    len: usize,
    slot: usize,
}

/// A page to copy before a step writes into it (copy-on-write).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageCopy {
    pub from: u32,
    pub to: u32,
}

/// The block tables of every live sequence, over one [`PagePool`].
#[derive(Clone, Debug)]
pub struct SequenceTable {
    pool: PagePool,
    page_tokens: usize,
    window: CacheLayout,
    sequences: BTreeMap<SequenceId, Sequence>,
    /// Free sequence slots (fp16 windows), popped from the back.
    free_slots: Vec<usize>,
    slots: usize,
    next_id: u64,
}

impl SequenceTable {
    pub fn new(pool: PagePool, page_tokens: usize, window: CacheLayout, slots: usize) -> Self {
        Self {
            pool,
            page_tokens,
            window,
            sequences: BTreeMap::new(),
            free_slots: (0..slots).rev().collect(),
            slots,
            next_id: 0,
        }
    }

    pub fn pool(&self) -> &PagePool {
        &self.pool
    }

    pub fn page_tokens(&self) -> usize {
        self.page_tokens
    }

    /// Live sequences, in id order.
    pub fn sequences(&self) -> impl Iterator<Item = SequenceId> + '_ {
        self.sequences.keys().copied()
    }

    fn get(&self, id: SequenceId) -> Result<&Sequence> {
        self.sequences
            .get(&id)
            .ok_or(RuntimeError::UnknownSequence(id.0))
    }

    pub fn len(&self, id: SequenceId) -> Result<usize> {
        Ok(self.get(id)?.len)
    }

    pub fn is_empty(&self, id: SequenceId) -> Result<bool> {
        Ok(self.len(id)? == 0)
    }

    pub fn pages(&self, id: SequenceId) -> Result<&[u32]> {
        Ok(&self.get(id)?.pages)
    }

    pub fn slot(&self, id: SequenceId) -> Result<usize> {
        Ok(self.get(id)?.slot)
    }

    fn coded(&self, len: usize) -> usize {
        len.saturating_sub(self.window.sinks + self.window.residual)
    }

    fn pages_for(&self, len: usize) -> usize {
        self.coded(len).div_ceil(self.page_tokens)
    }

    /// A new, empty sequence in a free slot.
    pub fn add(&mut self) -> Result<SequenceId> {
        let slot = self
            .free_slots
            .pop()
            .ok_or(RuntimeError::NoFreeSlot { slots: self.slots })?;
        let id = SequenceId(self.next_id);
        self.next_id += 1;
        self.sequences.insert(
            id,
            Sequence {
                pages: Vec::new(),
                len: 0,
                slot,
            },
        );
        Ok(id)
    }

    /// Removes a sequence: its pages lose a reference (those no other sequence holds go back
    /// to the pool) and its slot is free again.
    pub fn remove(&mut self, id: SequenceId) -> Result<()> {
        let sequence = self
            .sequences
            .remove(&id)
            .ok_or(RuntimeError::UnknownSequence(id.0))?;
        for page in sequence.pages {
            self.pool.release(page);
        }
        self.free_slots.push(sequence.slot);
        Ok(())
    }

    /// A new sequence that shares every page of `parent` (copy-on-write) and has its length.
    /// Returns the child and the (parent, child) slots, whose fp16 contents the caller copies.
    pub fn fork(&mut self, parent: SequenceId) -> Result<(SequenceId, usize, usize)> {
        let mut source = self.get(parent)?.clone();
        // Pages reserved ahead stay the parent's alone.
        source.pages.truncate(self.pages_for(source.len));
        let child = self.add()?;
        for &page in &source.pages {
            self.pool.retain(page);
        }
        let entry = self.sequences.get_mut(&child).expect("added above");
        entry.pages = source.pages;
        entry.len = source.len;
        Ok((child, source.slot, entry.slot))
    }

    /// Makes room for `count` more tokens in each of `ids` and counts them: new pages where the
    /// coded rows grow into them, and a private copy of a shared page that the step will
    /// write into. All or nothing: if the pool cannot supply every page, nothing changes.
    /// Returns the pages to copy (on the GPU, in every layer) before the step's appends.
    pub fn reserve(&mut self, ids: &[SequenceId], count: usize) -> Result<Vec<PageCopy>> {
        self.make_room(ids, count, true)
    }

    /// Makes room for `count` more tokens in each of `ids` without counting them: steps that
    /// advance their lengths on the GPU (a captured CUDA graph) then count them one by one
    /// with [`Self::reserve`], which needs no page and copies none.
    pub fn reserve_ahead(&mut self, ids: &[SequenceId], count: usize) -> Result<Vec<PageCopy>> {
        self.make_room(ids, count, false)
    }

    fn make_room(
        &mut self,
        ids: &[SequenceId],
        count: usize,
        advance: bool,
    ) -> Result<Vec<PageCopy>> {
        let mut seen = HashSet::with_capacity(ids.len());
        let mut needed = 0usize;
        // References the copies made earlier in this batch give up, so that two sharers of a
        // page do not both count a copy (the second then writes in place).
        let mut given_up: HashMap<u32, u32> = HashMap::new();
        for &id in ids {
            if !seen.insert(id) {
                return Err(RuntimeError::DuplicateSequence(id.0));
            }
            let s = self.get(id)?;
            let after = s.len.checked_add(count).ok_or_else(|| {
                RuntimeError::Invalid(format!("sequence {id} would pass 2^64 tokens"))
            })?;
            needed += self.pages_for(after).saturating_sub(s.pages.len());
            if let Some((_, page)) = self.shared_page_written(s, after, &given_up) {
                needed += 1;
                *given_up.entry(page).or_default() += 1;
            }
        }
        if needed > self.pool.free_pages() {
            return Err(RuntimeError::OutOfPages {
                needed,
                free: self.pool.free_pages(),
                pool: self.pool.capacity(),
            });
        }
        let mut copies = Vec::new();
        for &id in ids {
            let s = &self.sequences[&id];
            let after = s.len + count;
            let shared = self.shared_page_written(s, after, &HashMap::new());
            let grow = self.pages_for(after).saturating_sub(s.pages.len());
            if let Some((index, page)) = shared {
                let copy = self.pool.take();
                self.pool.release(page);
                copies.push(PageCopy {
                    from: page,
                    to: copy,
                });
                self.sequences.get_mut(&id).expect("live").pages[index] = copy;
            }
            let fresh: Vec<u32> = (0..grow).map(|_| self.pool.take()).collect();
            let s = self.sequences.get_mut(&id).expect("live");
            s.pages.extend(fresh);
            if advance {
                s.len = after;
            }
        }
        Ok(copies)
    }

    /// The page of `s` (and its index) that growing it to `after` tokens writes rows into while
    /// another sequence holds it too (`given_up`: references about to be dropped). Only the
    /// page holding the first new row can be shared: later ones are new or reserved ahead.
    fn shared_page_written(
        &self,
        s: &Sequence,
        after: usize,
        given_up: &HashMap<u32, u32>,
    ) -> Option<(usize, u32)> {
        let before = self.coded(s.len);
        let writes = self.coded(after) > before && !before.is_multiple_of(self.page_tokens);
        let index = before / self.page_tokens;
        let page = *s.pages.get(index)?;
        let holders = self.pool.references(page) - given_up.get(&page).copied().unwrap_or(0);
        (writes && holders > 1).then_some((index, page))
    }

    /// The tables of a batch of `ids`, in order.
    pub fn batch(&self, ids: &[SequenceId]) -> Result<HostBatch> {
        let mut host = HostBatch {
            page_indptr: vec![0],
            ..HostBatch::default()
        };
        for &id in ids {
            let s = self.get(id)?;
            host.lengths.push(s.len);
            host.slots.push(s.slot);
            host.page_indices
                .extend(s.pages.iter().map(|&p| p as usize));
            host.page_indptr.push(host.page_indices.len());
        }
        Ok(host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: CacheLayout = CacheLayout {
        sinks: 4,
        residual: 8,
        precision: vecinfer_quant::WindowPrecision::Fp16,
    };

    fn table(pages: usize, slots: usize) -> SequenceTable {
        SequenceTable::new(PagePool::new(pages), 16, WINDOW, slots)
    }

    /// Every invariant of the module docs.
    fn assert_consistent(t: &SequenceTable) {
        let mut counts = vec![0u32; t.pool.capacity()];
        for s in t.sequences.values() {
            assert!(
                s.pages.len() >= t.pages_for(s.len),
                "pages of a {}-token sequence",
                s.len
            );
            for &p in &s.pages {
                counts[p as usize] += 1;
            }
        }
        for (page, &count) in counts.iter().enumerate() {
            assert_eq!(t.pool.references(page as u32), count, "page {page}");
            assert_eq!(
                t.pool.free.contains(&(page as u32)),
                count == 0,
                "page {page}"
            );
        }
        let mut slots: Vec<usize> = t.sequences.values().map(|s| s.slot).collect();
        slots.extend(&t.free_slots);
        slots.sort();
        assert_eq!(slots, (0..t.slots).collect::<Vec<_>>(), "slots");
    }

    #[test]
    fn pages_come_as_coded_rows_grow() {
        let mut t = table(10, 2);
        let a = t.add().unwrap();
        // The first 12 tokens are sinks and window: no page yet.
        assert!(t.reserve(&[a], 12).unwrap().is_empty());
        assert_eq!(t.pages(a).unwrap().len(), 0);
        t.reserve(&[a], 1).unwrap();
        assert_eq!(t.pages(a).unwrap(), &[0]);
        t.reserve(&[a], 15).unwrap(); // 16 coded rows: still one page
        assert_eq!(t.pages(a).unwrap().len(), 1);
        t.reserve(&[a], 1).unwrap();
        assert_eq!(t.pages(a).unwrap(), &[0, 1]);
        assert_eq!(t.len(a).unwrap(), 29);
        assert_consistent(&t);
    }

    #[test]
    fn running_out_of_pages_changes_nothing() {
        let mut t = table(3, 3);
        let (a, b) = (t.add().unwrap(), t.add().unwrap());
        t.reserve(&[a], 12 + 32).unwrap(); // 2 pages
        let before = (
            t.pages(a).unwrap().to_vec(),
            t.len(a).unwrap(),
            t.len(b).unwrap(),
        );
        // a grows to 76 coded rows (3 more pages), b to 32 (2 pages): 5 > 1 free.
        match t.reserve(&[a, b], 12 + 32) {
            Err(RuntimeError::OutOfPages { needed, free, pool }) => {
                assert_eq!((needed, free, pool), (5, 1, 3));
            }
            other => panic!("expected OutOfPages, got {other:?}"),
        }
        let after = (
            t.pages(a).unwrap().to_vec(),
            t.len(a).unwrap(),
            t.len(b).unwrap(),
        );
        assert_eq!(before, after);
        assert_eq!(t.pool.free_pages(), 1);
        assert_consistent(&t);
    }

    #[test]
    fn removal_returns_pages_and_slots_for_reuse() {
        let mut t = table(4, 1);
        let a = t.add().unwrap();
        assert!(matches!(
            t.add(),
            Err(RuntimeError::NoFreeSlot { slots: 1 })
        ));
        t.reserve(&[a], 12 + 64).unwrap();
        assert_eq!(t.pool.free_pages(), 0);
        t.remove(a).unwrap();
        assert_eq!(t.pool.free_pages(), 4);
        assert!(matches!(t.len(a), Err(RuntimeError::UnknownSequence(0))));
        assert!(matches!(t.remove(a), Err(RuntimeError::UnknownSequence(0))));
        let b = t.add().unwrap();
        assert_ne!(a, b, "ids are never reused");
        t.reserve(&[b], 12 + 64).unwrap();
        assert_eq!(t.pages(b).unwrap().len(), 4);
        assert_consistent(&t);
    }

    #[test]
    fn fork_shares_pages_and_copies_the_last_one_on_write() {
        let mut t = table(8, 3);
        let a = t.add().unwrap();
        t.reserve(&[a], 12 + 20).unwrap(); // 20 coded rows: a full page and 4 rows
        let (b, slot_a, slot_b) = t.fork(a).unwrap();
        assert_ne!(slot_a, slot_b);
        assert_eq!(t.pages(a).unwrap(), t.pages(b).unwrap());
        assert_eq!(t.len(b).unwrap(), 32);
        for &p in t.pages(a).unwrap() {
            assert_eq!(t.pool.references(p), 2);
        }
        assert_consistent(&t);
        // a writes row 20, in the shared last page: it gets a copy; the full page stays shared.
        let shared_last = t.pages(a).unwrap()[1];
        let copies = t.reserve(&[a], 1).unwrap();
        assert_eq!(copies.len(), 1);
        assert_eq!(copies[0].from, shared_last);
        assert_eq!(t.pages(a).unwrap()[1], copies[0].to);
        assert_eq!(t.pages(b).unwrap()[1], shared_last);
        assert_eq!(t.pages(a).unwrap()[0], t.pages(b).unwrap()[0]);
        assert_eq!(t.pool.references(shared_last), 1);
        // b is now the last page's only holder: it writes in place.
        assert!(t.reserve(&[b], 1).unwrap().is_empty());
        assert_consistent(&t);
        // Removing a keeps b's pages.
        t.remove(a).unwrap();
        assert_eq!(t.pages(b).unwrap().len(), 2);
        assert_consistent(&t);
    }

    #[test]
    fn pages_reserved_ahead_serve_later_steps_and_are_never_shared() {
        let mut t = table(16, 3);
        let a = t.add().unwrap();
        t.reserve(&[a], 12 + 20).unwrap(); // 2 pages in use
        assert!(t.reserve_ahead(&[a], 40).unwrap().is_empty());
        assert_eq!(t.len(a).unwrap(), 32, "reserving ahead counts no token");
        assert_eq!(t.pages(a).unwrap().len(), 4);
        let free = t.pool.free_pages();
        for _ in 0..40 {
            assert!(t.reserve(&[a], 1).unwrap().is_empty());
        }
        assert_eq!(t.pool.free_pages(), free, "the steps took no page");
        t.reserve(&[a], 5).unwrap(); // 65 coded rows, past the reservation: a new page
        assert_eq!(t.pages(a).unwrap().len(), 5);
        let (b, _, _) = t.fork(a).unwrap();
        assert_eq!(t.pages(b).unwrap().len(), 5);
        t.reserve_ahead(&[a], 64).unwrap();
        let (c, _, _) = t.fork(a).unwrap();
        assert_eq!(
            t.pages(c).unwrap().len(),
            5,
            "the child shares only the pages in use"
        );
        assert_consistent(&t);
        // A shared page in use is copied when written, even with pages reserved behind it.
        let copies = t.reserve(&[a], 1).unwrap();
        assert_eq!(copies.len(), 1);
        assert_consistent(&t);
    }

    #[test]
    fn two_sharers_writing_in_one_step_copy_once() {
        let mut t = table(3, 2);
        let a = t.add().unwrap();
        t.reserve(&[a], 12 + 20).unwrap(); // 2 pages, 1 free
        let (b, _, _) = t.fork(a).unwrap();
        // Both write into the shared last page: a copies it, b then holds it alone.
        let copies = t.reserve(&[a, b], 1).unwrap();
        assert_eq!(copies.len(), 1);
        assert_ne!(t.pages(a).unwrap()[1], t.pages(b).unwrap()[1]);
        assert_consistent(&t);
    }

    #[test]
    fn a_fork_on_a_page_boundary_copies_nothing() {
        let mut t = table(8, 2);
        let a = t.add().unwrap();
        t.reserve(&[a], 12 + 16).unwrap();
        let (b, _, _) = t.fork(a).unwrap();
        // Row 16 starts a new page: nothing shared is written.
        assert!(t.reserve(&[a, b], 1).unwrap().is_empty());
        assert_ne!(t.pages(a).unwrap()[1], t.pages(b).unwrap()[1]);
        assert_consistent(&t);
    }

    #[test]
    fn copy_on_write_counts_against_the_pool() {
        let mut t = table(2, 2);
        let a = t.add().unwrap();
        t.reserve(&[a], 12 + 4).unwrap();
        let (b, _, _) = t.fork(a).unwrap();
        t.reserve(&[a], 1).unwrap(); // takes the last free page for its copy
        assert!(matches!(
            t.reserve(&[b], 13),
            Err(RuntimeError::OutOfPages {
                needed: 1,
                free: 0,
                ..
            })
        ));
        assert_consistent(&t);
    }

    #[test]
    fn a_batch_names_each_sequence_once() {
        let mut t = table(4, 2);
        let a = t.add().unwrap();
        assert!(matches!(
            t.reserve(&[a, a], 1),
            Err(RuntimeError::DuplicateSequence(0))
        ));
        assert!(matches!(
            t.reserve(&[SequenceId(7)], 1),
            Err(RuntimeError::UnknownSequence(7))
        ));
        assert_eq!(t.len(a).unwrap(), 0);
    }

    #[test]
    fn batch_tables_are_csr_in_batch_order() {
        let mut t = SequenceTable::new(PagePool::shuffled(16, 3), 16, WINDOW, 4);
        let ids: Vec<_> = (0..3).map(|_| t.add().unwrap()).collect();
        t.reserve(&ids, 12 + 20).unwrap();
        t.reserve(&ids[1..2], 40).unwrap();
        let host = t.batch(&[ids[2], ids[1]]).unwrap();
        assert_eq!(host.lengths, vec![32, 72]);
        assert_eq!(host.page_indptr, vec![0, 2, 6]);
        let pages: Vec<usize> = t
            .pages(ids[1])
            .unwrap()
            .iter()
            .map(|&p| p as usize)
            .collect();
        assert_eq!(&host.page_indices[2..], &pages[..]);
        assert_eq!(
            host.slots,
            vec![t.slot(ids[2]).unwrap(), t.slot(ids[1]).unwrap()]
        );
        assert_consistent(&t);
    }

    #[test]
    fn shuffled_pools_hand_out_scattered_pages() {
        let mut t = SequenceTable::new(PagePool::shuffled(64, 11), 16, WINDOW, 1);
        let a = t.add().unwrap();
        t.reserve(&[a], 12 + 16 * 32).unwrap();
        let pages = t.pages(a).unwrap();
        let runs = pages.windows(2).filter(|w| w[1] == w[0] + 1).count();
        assert!(runs < 8, "{runs} consecutive pairs in {pages:?}");
        let distinct: HashSet<_> = pages.iter().collect();
        assert_eq!(distinct.len(), 32);
    }

    #[test]
    fn a_random_workload_keeps_every_invariant() {
        let mut t = SequenceTable::new(PagePool::shuffled(40, 5), 16, WINDOW, 6);
        let mut live: Vec<SequenceId> = Vec::new();
        let mut state = 17u64;
        let mut next = |n: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) % n
        };
        for _ in 0..2000 {
            match next(5) {
                0 => {
                    if let Ok(id) = t.add() {
                        live.push(id);
                    }
                }
                1 if !live.is_empty() => {
                    let id = live.remove(next(live.len() as u64) as usize);
                    t.remove(id).unwrap();
                }
                2 if !live.is_empty() => {
                    let parent = live[next(live.len() as u64) as usize];
                    if let Ok((child, _, _)) = t.fork(parent) {
                        live.push(child);
                    }
                }
                _ if !live.is_empty() => {
                    let k = 1 + next(live.len() as u64) as usize;
                    let batch: Vec<_> = live.iter().copied().take(k).collect();
                    let count = 1 + next(24) as usize;
                    let lengths: Vec<_> = batch.iter().map(|&id| t.len(id).unwrap()).collect();
                    match t.reserve(&batch, count) {
                        Ok(_) => {
                            for (id, len) in batch.iter().zip(&lengths) {
                                assert_eq!(t.len(*id).unwrap(), len + count);
                            }
                        }
                        Err(RuntimeError::OutOfPages { .. }) => {
                            for (id, len) in batch.iter().zip(&lengths) {
                                assert_eq!(t.len(*id).unwrap(), *len);
                            }
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
                _ => {}
            }
            assert_consistent(&t);
        }
    }
}
