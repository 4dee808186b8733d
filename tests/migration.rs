//! Issue 12: a store written by an older format (schema 1: mail bodies inside sled, our own
//! Message-IDs indexed, a record per sent mail) opens with this build, migrates in place
//! (schema 3) after a backup, and keeps every ticket, message, outbox entry, cursor and mail
//! body, and every Message-ID still leads to its ticket.
//!
//! The fixture `tests/fixtures/schema1-store.tar.gz` holds a state directory filled by
//! `examples/fill_store.rs` built at commit b867fbc (schema 1) with only the `--unsent`
//! option of c964064 added (it changes which mails the generator marks sent, not how the
//! store writes them), run as
//! `fill_store --count 240 --exact 60 --unsent 4 --batch 25 --spread-days 30`: 60 tickets
//! through the daemon's own calls (the last 4 with their acknowledgement and notification
//! still queued), 180 in bulk. Beside it, `manifest.json`: every record of every sled tree of
//! that store as the old build wrote it, as the SHA-256 of its value by tree and hex key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use frontdesk::domain::{MessageIdKind, TicketId};
use frontdesk::store::Store;
use sha2::Digest;

/// Every record of the old store: tree → hex key → SHA-256 (hex) of the value.
type Manifest = BTreeMap<String, BTreeMap<String, String>>;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(key: &str) -> Vec<u8> {
    (0..key.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&key[i..i + 2], 16).expect("hex"))
        .collect()
}

fn sha(bytes: &[u8]) -> String {
    hex(&sha2::Sha256::digest(bytes))
}

/// The fixture, unpacked into a fresh directory: `state/` and `manifest.json`.
fn unpack() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let archive = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema1-store.tar.gz");
    let status = std::process::Command::new("tar")
        .arg("xzf")
        .arg(&archive)
        .arg("-C")
        .arg(dir.path())
        .status()
        .expect("tar runs");
    assert!(status.success(), "unpacking {}", archive.display());
    dir
}

/// sled's own view of a state directory's database, once the store has let go of it (sled
/// releases its lock a moment after the last handle is dropped).
fn sled_of(state: &Path) -> sled::Db {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match sled::Config::new().path(state.join("db")).open() {
            Ok(db) => return db,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("sled: {e}"),
        }
    }
}

/// The backups the migration left in the state directory.
fn migration_backups(state: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(state)
        .expect("state dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with("store-schema-1-") && name.ends_with(".backup")
        })
        .collect()
}

fn open(state: &Path) -> Store {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match Store::open(state) {
            Ok(s) => return s,
            Err(frontdesk::store::StoreError::Locked { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("open: {e}"),
        }
    }
}

#[test]
fn a_schema_1_store_migrates_in_place_and_keeps_every_record() {
    use frontdesk::mail::thread::ThreadLookup;
    let dir = unpack();
    let state = dir.path().join("state");
    let manifest: Manifest =
        serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).expect("manifest"))
            .expect("manifest parses");
    let old_raw = &manifest["raw"];
    assert_eq!(old_raw.len(), 240, "the fixture has a body per mail");

    // Through the store: every ticket, the queued mail, the cursor, every body.
    let mut ours = Vec::new();
    {
        let store = open(&state);
        assert_eq!(store.tickets_full().expect("tickets").len(), 240);
        for n in 1001..=1240 {
            let t = store
                .ticket(TicketId::new(n))
                .expect("read")
                .expect("ticket");
            assert!(!t.messages.is_empty(), "ticket {n} kept its history");
        }
        let queued = store.outbox_entries().expect("outbox");
        assert_eq!(
            queued.len(),
            8,
            "4 tickets' acknowledgement and notification"
        );
        let (due, _) = store.due(i64::MAX, 100).expect("due");
        assert_eq!(
            due.len(),
            8,
            "the due index was built: all of it will be sent"
        );
        for e in &queued {
            let bytes = store.outbox_raw(e.id).expect("read").expect("queued bytes");
            assert_eq!(
                sha(&bytes),
                manifest["outbox_raw"][&hex(&e.id.to_be_bytes())]
            );
        }
        // Every indexed id still leads to its ticket; ours now through its history.
        for key in manifest["msgids"].keys() {
            let id = String::from_utf8(unhex(key)).expect("utf-8 id");
            let ticket = store
                .ticket_by_message_id(&id)
                .expect("lookup")
                .unwrap_or_else(|| panic!("{id} leads nowhere"));
            if MessageIdKind::ticket_of(&id) == Some(ticket) {
                ours.push(key.clone());
            }
        }
        let cursor = store.cursor("fill/INBOX").expect("read").expect("cursor");
        assert_eq!(cursor.last_uid, 240);
        let mails = store.inbound_all().expect("inbound");
        assert_eq!(mails.len(), 240);
        for m in &mails {
            let body = store.raw(m.seq).expect("read").expect("body kept");
            assert_eq!(
                &sha(&body),
                &old_raw[&hex(&m.seq.to_be_bytes())],
                "mail {}",
                m.seq
            );
        }
    }

    // In sled: every record as it was (the schema number aside), but for our own ids in
    // `msgids` and the `sent` records (schema 3), whose highest id is kept. Its mails are all
    // under 64 KiB, so their bodies stay in sled (bigger ones move to files: the store's
    // unit test `a_store_with_big_bodies_in_sled_moves_them_to_files_after_a_backup`).
    assert_eq!(
        ours.len(),
        480,
        "an acknowledgement and a notification per ticket"
    );
    {
        let db = sled_of(&state);
        for (tree, records) in &manifest {
            let t = db.open_tree(tree).expect("tree");
            for (key, digest) in records {
                let k = unhex(key);
                let value = t.get(&k).expect("get");
                if tree == "sent" || (tree == "msgids" && ours.contains(key)) {
                    assert_eq!(value, None, "{tree}/{key} kept");
                    continue;
                }
                let value = value.unwrap_or_else(|| panic!("{tree}/{key} lost"));
                if tree == "meta" && k == b"schema" {
                    assert_eq!(&*value, &3u64.to_be_bytes(), "schema raised");
                } else {
                    assert_eq!(&sha(&value), digest, "{tree}/{key} changed");
                }
            }
        }
        let highest_sent = manifest["sent"].keys().max().map(|k| unhex(k));
        let meta = db.open_tree("meta").expect("meta");
        assert_eq!(
            meta.get("sent_high").expect("get").map(|v| v.to_vec()),
            highest_sent,
            "the highest id sent is kept for a restore's counter"
        );
    }

    // It changed the layout, so a backup was taken first.
    assert_eq!(migration_backups(&state).len(), 1);

    // Opened again, there is nothing left to migrate and no second backup.
    drop(open(&state));
    assert_eq!(migration_backups(&state).len(), 1);
}
