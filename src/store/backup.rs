//! Online backups and restores: every tree copied record by record into one file with a
//! SHA-256 over it all, written while the write gate holds off new writes.

use std::path::Path;

use serde::Serialize;

use super::{Result, Store, StoreError, TREES, from_be};

impl Store {
    /// Writes a consistent copy of every tree to `out` (writes wait meanwhile) in the format
    /// [`Store::restore`] reads: a header, each tree's records, and a SHA-256 of it all.
    pub fn backup(&self, out: &mut impl std::io::Write) -> Result<BackupStats> {
        use sha2::Digest;
        let _gate = self.gate.write().unwrap_or_else(|p| p.into_inner());
        let mut hasher = sha2::Sha256::new();
        let mut stats = BackupStats::default();
        let mut put = |bytes: &[u8]| -> Result<()> {
            hasher.update(bytes);
            out.write_all(bytes)
                .map_err(|e| StoreError::Backup(e.to_string()))
        };
        put(BACKUP_MAGIC)?;
        for name in TREES {
            let tree = self.db.open_tree(name)?;
            put(&[1])?;
            put(&(name.len() as u32).to_be_bytes())?;
            put(name.as_bytes())?;
            put(&(tree.len() as u64).to_be_bytes())?;
            for kv in tree.iter() {
                let (k, v) = kv?;
                put(&(k.len() as u32).to_be_bytes())?;
                put(&k)?;
                put(&(v.len() as u32).to_be_bytes())?;
                put(&v)?;
                stats.records += 1;
                stats.bytes += (k.len() + v.len()) as u64;
            }
        }
        put(&[0])?;
        let digest = hasher.finalize();
        out.write_all(&digest)
            .map_err(|e| StoreError::Backup(e.to_string()))?;
        stats.tickets = self.tickets.len();
        Ok(stats)
    }

    /// Creates the store in `dir` from a backup made by [`Store::backup`], after checking the
    /// whole file, and returns it open. Refuses a directory that already holds a store.
    pub fn restore(dir: &Path, input: &mut impl std::io::Read) -> Result<(Store, BackupStats)> {
        use sha2::Digest;
        if dir.join("db").exists() {
            return Err(StoreError::Backup(format!(
                "{} already holds a store; move it aside first (restore never overwrites one)",
                dir.display()
            )));
        }
        let mut data = Vec::new();
        input
            .read_to_end(&mut data)
            .map_err(|e| StoreError::Backup(e.to_string()))?;
        let bad = |why: &str| StoreError::Backup(format!("not a usable Frontdesk backup: {why}"));
        if data.len() < BACKUP_MAGIC.len() + 33 || !data.starts_with(BACKUP_MAGIC) {
            return Err(bad("wrong header"));
        }
        let (body, digest) = data.split_at(data.len() - 32);
        if sha2::Sha256::digest(body).as_slice() != digest {
            return Err(bad("checksum mismatch (truncated or damaged)"));
        }
        let mut trees: Vec<(String, Vec<Record>)> = Vec::new();
        let mut r = &body[BACKUP_MAGIC.len()..];
        let mut take = |n: usize| -> Result<&[u8]> {
            if r.len() < n {
                return Err(bad("truncated record"));
            }
            let (head, rest) = r.split_at(n);
            r = rest;
            Ok(head)
        };
        let u32_of = |b: &[u8]| u32::from_be_bytes(b.try_into().unwrap_or([0; 4])) as usize;
        loop {
            match take(1)?[0] {
                0 => break,
                1 => {}
                _ => return Err(bad("unknown record")),
            }
            let n = u32_of(take(4)?);
            let name = String::from_utf8(take(n)?.to_vec()).map_err(|_| bad("tree name"))?;
            if !TREES.contains(&name.as_str()) {
                return Err(bad(&format!("unknown tree {name}")));
            }
            let count = from_be(take(8)?);
            let mut records = Vec::new();
            for _ in 0..count {
                let kl = u32_of(take(4)?);
                let k = take(kl)?.to_vec();
                let vl = u32_of(take(4)?);
                let v = take(vl)?.to_vec();
                records.push((k, v));
            }
            trees.push((name, records));
        }
        let store = Store::open(dir)?;
        let mut stats = BackupStats::default();
        for (name, records) in trees {
            let tree = store.db.open_tree(&name)?;
            tree.clear()?;
            let mut batch = sled::Batch::default();
            for (k, v) in records {
                stats.records += 1;
                stats.bytes += (k.len() + v.len()) as u64;
                batch.insert(k, v);
            }
            tree.apply_batch(batch)?;
        }
        // sled's id counter lives outside the trees: a fresh database starts it at 0, and new
        // mail or outbox entries would overwrite restored records. Move it past every id used.
        let mut used = 0u64;
        for tree in [&store.inbound, &store.outbox, &store.dead, &store.sent] {
            if let Some((k, _)) = tree.last()? {
                used = used.max(from_be(&k));
            }
        }
        while store.db.generate_id()? <= used {}
        store.db.flush()?;
        stats.tickets = store.tickets.len();
        Ok((store, stats))
    }
}

/// The first bytes of a backup file (format version 1).
const BACKUP_MAGIC: &[u8] = b"FRONTDESK-BACKUP 1\n";

/// What a backup or restore copied.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BackupStats {
    /// Records in all trees.
    pub records: u64,
    /// Bytes of keys and values.
    pub bytes: u64,
    /// Tickets among them.
    pub tickets: usize,
}

/// One key and value of a tree, as a backup carries it.
type Record = (Vec<u8>, Vec<u8>);
