//! Ages a young run database once, so that its durable commits cost what they cost in an old one.
//!
//! Every group commit ends with sled's `flush()` and an `fdatasync` of its data file. How long
//! that `fdatasync` takes depends on where sled wrote: sled 0.34.7 appends its log in 512 KiB
//! segments and reuses the lowest *free* segment before it extends the file. A young database
//! has no free segment, so every commit writes past the end of the file, into blocks the file
//! system allocates then, and on ext4 an `fdatasync` after such a write must commit the
//! journal (new blocks, new size). An older database rewrites segments it already holds, whose
//! `fdatasync` only writes the data (the likely cause; what was measured is the effect). Measured
//! here (raw sled, insert + `flush()` + `fdatasync` of 250 bytes, means over 2,000 writes, 10
//! alternations): 103–155 µs per `fdatasync` in a fresh database, 73–105 µs in a long-lived one,
//! 55–96 µs in a fresh database aged as below. Timed per 500 writes, a fresh database pays the
//! higher price for its first ~2,500 writes, and a run of a few thousand steps lives in them.
//!
//! Aging writes [`ENTRIES`] throw-away entries into a tree of their own, makes sled write them
//! out, and drops the tree: its segments become free and the run's next commits rewrite them.
//! It costs ~20–30 ms and a few MiB of disk once, so it is only done for runs that commit often:
//! once, right after the run's [`AGE_AFTER_COMMITS`]th group commit (counted over the run's
//! life, so a resumed run is not aged twice), after that commit was answered. Nothing in the
//! tree is ever read; a crash during aging leaves at most the tree, which [`drop_leftover`]
//! removes when the database is opened again. Durability does not depend on any of this: the
//! aging's own writes are made durable by the next group commit like any other sled write, and
//! they are not part of any commit.

/// The tree that holds the throw-away entries while the database is aged.
pub(super) const TREE: &[u8] = b"drbook-aging";

/// A run's database is aged right after this many group commits.
pub const AGE_AFTER_COMMITS: u64 = 256;

/// Throw-away entries written, of [`VALUE_BYTES`] each: about 6 MiB of sled log with its page
/// rewrites, enough free segments for a few thousand later commits. (Fewer or larger entries,
/// e.g. 4,000 of 250 bytes or 1,000 of 2 KiB, left the `fdatasync`s as slow as before.)
const ENTRIES: u32 = 4000;

/// The size of one throw-away value; far below sled's blob threshold (a quarter of a segment),
/// so aging never writes a blob file.
const VALUE_BYTES: usize = 500;

/// Writes the throw-away entries, has sled write them out (`flush()`, without `fdatasync`: they
/// need not be durable) and drops their tree.
pub(super) fn age(db: &sled::Db) -> sled::Result<()> {
    let tree = db.open_tree(TREE)?;
    let value = vec![0u8; VALUE_BYTES];
    for index in 0..ENTRIES {
        tree.insert(index.to_be_bytes(), value.as_slice())?;
    }
    db.flush()?;
    drop(tree);
    db.drop_tree(TREE)?;
    Ok(())
}

/// Drops the aging tree if a crash left it behind. Returns whether there was one.
pub(super) fn drop_leftover(db: &sled::Db) -> sled::Result<bool> {
    if db.tree_names().iter().any(|name| name.as_ref() == TREE) {
        db.drop_tree(TREE)
    } else {
        Ok(false)
    }
}
