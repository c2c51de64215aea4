//! `shikaku snapshot verify`: everything that can be checked without the
//! sources. Checksums first (a damaged byte is named by its file), then a
//! walk of every person: each block and row must decode, and each key of
//! each person (linkage number, serials, online numbers, card faces) must
//! lead back to that person through the engine's own lookups. Every index
//! slot must point at a person, and each index must hold exactly as many
//! slots as the walk found keys, so no slot is left unaccounted for. Then
//! the counts the manifest promises.
//!
//! The walk also sums a digest of the content ([`ContentDigest`]); the
//! build compares it with the digest of the rows and links it accepted, so
//! that a row changed on the way (not only one lost) fails the build.

use super::format::{ArchivedKeyShard, ArchivedPersonShard, ArchivedSlot, UNMATCHED};
use super::lookup::{push_unmatched, unmatched_entries, Index};
use super::manifest::{keys_file, person_file, Manifest, MANIFEST_FILE};
use super::open::Snapshot;
use super::view::PersonRef;
use crate::crl::revocations::REVOCATIONS_FILE;
use crate::model::{EligibilityRow, LinkageNo, OnlineNumber, Serial, TextField};
use crate::storage::{FileError as SnapshotError, Verification};
use rayon::prelude::*;
use std::path::Path;
use std::time::Instant;

/// What `verify` checked.
#[derive(Clone, Debug, serde::Serialize)]
pub struct VerifyReport {
    /// Snapshot id from the manifest.
    pub id: String,
    /// Data files checked against their checksums.
    pub files: usize,
    /// Total size of those files, headers included.
    pub bytes: u64,
    /// Persons found by walking the person shards.
    pub persons: u64,
    /// Qualification rows found by walking the person shards.
    pub rows: u64,
    /// Linked certificate serials found (in persons and without rows).
    pub serials: u64,
    /// Wall-clock seconds the verification took.
    pub seconds: f64,
    /// The manifest verified against ([`Manifest::digest`]).
    pub manifest_digest: String,
}

/// An order-independent digest of rows and links: their counts and the
/// wrapping sums of a 128-bit hash of each. Two sets of rows with the same
/// digest are the same rows (barring a 2^-128 accident).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ContentDigest {
    /// Rows counted.
    pub rows: u64,
    /// Sum of the rows' hashes.
    pub row_sum: u128,
    /// Links counted.
    pub links: u64,
    /// Sum of the links' hashes.
    pub link_sum: u128,
}

impl ContentDigest {
    /// The hash of a row: every field, and the person it belongs to.
    pub fn row_hash(row: &EligibilityRow) -> u128 {
        let (text, ends) = row.text_parts();
        let mut bytes = Vec::with_capacity(text.len() + 128);
        bytes.extend_from_slice(&row.linkage_no.to_le_bytes());
        for end in ends {
            bytes.extend_from_slice(&end.to_le_bytes());
        }
        for date in &row.dates {
            bytes.push(u8::from(date.is_some()));
            bytes.extend_from_slice(&date.unwrap_or(0).to_le_bytes());
        }
        bytes.extend_from_slice(&row.codes);
        bytes.extend_from_slice(&row.qualification_seq.to_le_bytes());
        bytes.extend_from_slice(text.as_bytes());
        xxhash_rust::xxh3::xxh3_128(&bytes)
    }

    /// Adds a row.
    pub fn add_row(&mut self, row: &EligibilityRow) {
        self.add_row_hash(ContentDigest::row_hash(row));
    }

    /// Adds a row by its [`ContentDigest::row_hash`].
    pub fn add_row_hash(&mut self, hash: u128) {
        self.rows += 1;
        self.row_sum = self.row_sum.wrapping_add(hash);
    }

    /// Adds a link of `serial` to `linkage`.
    pub fn add_link(&mut self, serial: &Serial, linkage: LinkageNo) {
        let mut bytes = [0u8; 37];
        let serial = serial.as_bytes();
        bytes[0] = serial.len() as u8;
        bytes[1..1 + serial.len()].copy_from_slice(serial);
        bytes[21..].copy_from_slice(&linkage.0.to_le_bytes());
        self.links += 1;
        self.link_sum = self
            .link_sum
            .wrapping_add(xxhash_rust::xxh3::xxh3_128(&bytes));
    }

    /// Adds everything `other` holds.
    pub fn merge(&mut self, other: &ContentDigest) {
        self.rows += other.rows;
        self.row_sum = self.row_sum.wrapping_add(other.row_sum);
        self.links += other.links;
        self.link_sum = self.link_sum.wrapping_add(other.link_sum);
    }

    /// Takes out everything `other` holds (rows and links dropped after
    /// they were counted).
    pub fn remove(&mut self, other: &ContentDigest) {
        self.rows = self.rows.wrapping_sub(other.rows);
        self.row_sum = self.row_sum.wrapping_sub(other.row_sum);
        self.links = self.links.wrapping_sub(other.links);
        self.link_sum = self.link_sum.wrapping_sub(other.link_sum);
    }
}

/// What walking a snapshot found.
#[derive(Clone, Debug, Default)]
pub struct Walk {
    /// Persons walked.
    pub persons: u64,
    /// Digest of every row and link.
    pub content: ContentDigest,
    /// Distinct (online number, person) pairs: the online index's slots.
    pub online_keys: u64,
    /// Distinct (card face, person) pairs: the card-face index's slots.
    pub face_keys: u64,
    /// Serials linked to persons.
    pub person_serials: u64,
    /// Serials linked to a linkage number without rows.
    pub unmatched_serials: u64,
    /// Online numbers whose rows belong to more than one person.
    pub shared_online_numbers: u64,
    /// Up to five of those numbers.
    pub shared_examples: Vec<String>,
}

impl Walk {
    fn merge(mut self, other: Walk) -> Walk {
        self.persons += other.persons;
        self.content.merge(&other.content);
        self.online_keys += other.online_keys;
        self.face_keys += other.face_keys;
        self.person_serials += other.person_serials;
        self.unmatched_serials += other.unmatched_serials;
        self.shared_online_numbers += other.shared_online_numbers;
        self.shared_examples.extend(other.shared_examples);
        self.shared_examples.truncate(5);
        self
    }
}

/// Where verification reports its progress, each call with the number of
/// steps in all: each file checksummed, then each shard walked.
#[derive(Clone, Copy)]
pub struct VerifyProgress<'a> {
    /// Called as each file is opened and checksummed.
    pub file_checked: &'a dyn Fn(u64),
    /// Called as the walk finishes each shard (see [`walk_reporting`]).
    pub shard_walked: &'a (dyn Fn(u64) + Sync),
}

fn ignore(_steps: u64) {}

impl VerifyProgress<'static> {
    /// Reports nothing.
    pub const QUIET: VerifyProgress<'static> = VerifyProgress {
        file_checked: &ignore,
        shard_walked: &ignore,
    };
}

/// Verifies the snapshot at `dir` (checksums, structure, counts) and closes it.
pub fn verify(dir: &Path) -> Result<VerifyReport, SnapshotError> {
    verify_reporting(dir, VerifyProgress::QUIET)
}

/// [`verify`], reporting its progress to `progress`.
pub fn verify_reporting(
    dir: &Path,
    progress: VerifyProgress<'_>,
) -> Result<VerifyReport, SnapshotError> {
    verify_walking(dir, progress).map(|(_, report)| report)
}

/// Checks every file of `dir` against its checksum, and the counts that
/// need no walk (revocation sets, insurer master), and keeps it open: what
/// the server activates is exactly what was verified. The walk is left
/// out: a published snapshot passed the build's key check (the same walk,
/// and more) before its manifest was written, and equal checksums prove
/// its files are still those bytes. At national size the walk would add
/// minutes to every activation for nothing (docs/performance.md).
pub fn verify_checksums(
    dir: &Path,
    verification: Verification,
) -> Result<(Snapshot, VerifyReport), SnapshotError> {
    let started = Instant::now();
    let manifest_digest =
        Manifest::digest(dir).map_err(|problem| SnapshotError::new(MANIFEST_FILE, problem))?;
    let snapshot = Snapshot::open_with(dir, verification)?;
    check_side_counts(&snapshot)?;
    let report = VerifyReport::of_manifest(snapshot.manifest(), started, manifest_digest);
    Ok((snapshot, report))
}

impl VerifyReport {
    /// The report of a verification of the snapshot `manifest` describes,
    /// begun at `started`, its counts as the manifest gives them (the
    /// caller has checked them, or trusts them).
    pub fn of_manifest(
        manifest: &Manifest,
        started: Instant,
        manifest_digest: String,
    ) -> VerifyReport {
        VerifyReport {
            id: manifest.id.clone(),
            files: manifest.files.len(),
            bytes: manifest.files.iter().map(|f| f.bytes).sum(),
            persons: manifest.counts.persons,
            rows: manifest.counts.rows,
            serials: manifest.counts.serials,
            seconds: started.elapsed().as_secs_f64(),
            manifest_digest,
        }
    }
}

/// `found` is what the manifest promised, or an error saying both.
fn expect(what: &str, found: u64, promised: u64) -> Result<(), SnapshotError> {
    if found == promised {
        Ok(())
    } else {
        Err(SnapshotError::new(
            MANIFEST_FILE,
            format!("{what}: the snapshot holds {found}, the manifest says {promised}"),
        ))
    }
}

/// The counts of the revocation sets and the insurer master.
fn check_side_counts(snapshot: &Snapshot) -> Result<(), SnapshotError> {
    let counts = &snapshot.manifest().counts;
    let revocations = snapshot.revocations();
    expect(
        "revoked serials",
        revocations.revoked_count(),
        counts.revoked,
    )
    .and_then(|()| {
        expect(
            "suspended serials",
            revocations.suspended_count(),
            counts.suspended,
        )
    })
    .map_err(|e| SnapshotError::new(REVOCATIONS_FILE, e.problem))?;
    expect(
        "insurers",
        snapshot.insurer_master().numbers.len() as u64,
        counts.insurers,
    )
}

fn verify_walking(
    dir: &Path,
    progress: VerifyProgress<'_>,
) -> Result<(Snapshot, VerifyReport), SnapshotError> {
    let started = Instant::now();
    let manifest_digest =
        Manifest::digest(dir).map_err(|problem| SnapshotError::new(MANIFEST_FILE, problem))?;
    let snapshot = Snapshot::open_reporting(dir, Verification::Checksums, progress.file_checked)?;
    let walk = walk_reporting(&snapshot, progress.shard_walked)?;
    let manifest = snapshot.manifest();
    let counts = &manifest.counts;
    let serials = walk.person_serials + walk.unmatched_serials;
    expect("persons", walk.persons, counts.persons)?;
    expect("rows", walk.content.rows, counts.rows)?;
    expect(
        "online-number keys",
        walk.online_keys,
        counts.online_numbers,
    )?;
    expect("card-face keys", walk.face_keys, counts.card_faces)?;
    expect("serials", serials, counts.serials)?;
    expect(
        "serials without rows",
        walk.unmatched_serials,
        counts.serials_without_rows,
    )?;
    check_side_counts(&snapshot)?;
    let report = VerifyReport::of_manifest(manifest, started, manifest_digest);
    Ok((snapshot, report))
}

/// Walks every person and key shard of `snapshot` (in parallel, a shard per
/// worker), checking what the module docs say.
pub fn walk(snapshot: &Snapshot) -> Result<Walk, SnapshotError> {
    walk_reporting(snapshot, &|_| {})
}

/// [`walk`], calling `shard_walked(steps)` as each person shard and then
/// each key shard has been walked, `steps` being how many calls there are
/// in all (twice the shard count), for a progress bar: at national size the
/// walk takes minutes.
pub fn walk_reporting(
    snapshot: &Snapshot,
    shard_walked: &(dyn Fn(u64) + Sync),
) -> Result<Walk, SnapshotError> {
    let steps = 2 * u64::from(snapshot.shard_count());
    let persons = (0..snapshot.shard_count())
        .into_par_iter()
        .map(|shard| {
            let name = person_file(shard);
            let stored = snapshot
                .person_shard(shard)
                .ok_or_else(|| SnapshotError::new(&name, "missing"))?;
            check_person_shard(stored, shard).map_err(|p| SnapshotError::new(&name, p))?;
            let walked = walk_persons(snapshot, shard).map_err(|p| SnapshotError::new(&name, p));
            shard_walked(steps);
            walked
        })
        .try_reduce(Walk::default, |a, b| Ok(a.merge(b)))?;
    let keys = (0..snapshot.shard_count())
        .into_par_iter()
        .map(|shard| {
            let name = keys_file(shard);
            let stored = snapshot
                .key_shard(shard)
                .ok_or_else(|| SnapshotError::new(&name, "missing"))?;
            let counted =
                check_key_shard(snapshot, stored, shard).map_err(|p| SnapshotError::new(&name, p));
            shard_walked(steps);
            counted
        })
        .try_reduce(SlotCounts::default, |a, b| Ok(a.merge(b)))?;
    let walked = persons.merge(Walk {
        content: keys.unmatched_content,
        unmatched_serials: keys.unmatched,
        ..Walk::default()
    });
    let expect = |what: &str, slots: u64, keys: u64| {
        if slots == keys {
            Ok(())
        } else {
            Err(SnapshotError::new(
                keys_file(0),
                format!("{what}: {slots} slots in use for {keys} keys"),
            ))
        }
    };
    expect("online-number index", keys.online, walked.online_keys)?;
    expect("card-face index", keys.face, walked.face_keys)?;
    expect("linkage index", keys.linkage, walked.persons)?;
    expect(
        "serial index",
        keys.serial,
        walked.person_serials + walked.unmatched_serials,
    )?;
    Ok(walked)
}

fn check_person_shard(shard: &ArchivedPersonShard, index: u32) -> Result<(), String> {
    if shard.shard.to_native() != index {
        return Err(format!(
            "holds shard {} in the place of shard {index}",
            shard.shard
        ));
    }
    let rising = |ends: &[rkyv::Archived<u32>], len: usize| {
        ends.windows(2).all(|w| w[0] <= w[1])
            && ends.last().map_or(0, |end| end.to_native() as usize) == len
    };
    if !rising(&shard.block_ends, shard.blocks.len()) {
        return Err("the person blocks' ends do not rise to the end of the blocks".into());
    }
    Ok(())
}

/// Walks the persons of one shard.
fn walk_persons(snapshot: &Snapshot, shard: u32) -> Result<Walk, String> {
    let mut walk = Walk::default();
    let first = snapshot.first_person_of(shard);
    let count = snapshot
        .person_shard(shard)
        .map_or(0, |s| s.block_ends.len() as u32);
    for number in first..first + count {
        let person = snapshot
            .person(number)
            .ok_or_else(|| format!("person {}: its block does not decode", number - first))?;
        walk_person(snapshot, person, &mut walk).map_err(|problem| {
            format!(
                "person {} ({}): {problem}",
                number - first,
                person.linkage()
            )
        })?;
    }
    Ok(walk)
}

fn walk_person(snapshot: &Snapshot, person: PersonRef<'_>, walk: &mut Walk) -> Result<(), String> {
    walk.persons += 1;
    let number = person.number();
    let rows: Vec<_> = person.rows().collect();
    if rows.is_empty() || rows.len() != person.row_count() as usize {
        return Err(format!(
            "{} of its {} rows decode",
            rows.len(),
            person.row_count()
        ));
    }
    let found = snapshot.person_by_linkage(person.linkage());
    if found.map(|p| p.number()) != Some(number) {
        return Err("not found by its linkage number".into());
    }
    for serial in person.serials() {
        walk.person_serials += 1;
        walk.content.add_link(&serial, person.linkage());
        let linked = snapshot.serial_link(&serial);
        if linked.and_then(|l| l.person).map(|p| p.number()) != Some(number) {
            return Err(format!("serial {serial}: not found by it"));
        }
    }
    let mut online_seen: smallvec::SmallVec<[&str; 4]> = smallvec::SmallVec::new();
    let mut faces_seen: smallvec::SmallVec<[(&str, &str, &str); 4]> = smallvec::SmallVec::new();
    for row in &rows {
        walk.content.add_row(row.row());
        let online = row.text(TextField::OnlineNumber);
        let by_online = OnlineNumber::parse(online)
            .map(|n| snapshot.online_number_locs(&n))
            .unwrap_or_default();
        if !by_online.contains(&row.loc()) {
            return Err(format!("online number {online}: not found by it"));
        }
        if !online_seen.contains(&online) {
            online_seen.push(online);
            let lowest = by_online.iter().map(|loc| loc.person).min();
            if lowest == Some(number) && by_online.iter().any(|loc| loc.person != number) {
                walk.shared_online_numbers += 1;
                if walk.shared_examples.len() < 5 {
                    walk.shared_examples
                        .push(format!("{online} (linkage_no {})", person.linkage()));
                }
            }
        }
        let face = (
            row.text(TextField::InsurerNumber),
            row.text(TextField::CardSymbol),
            row.text(TextField::CardNumber),
        );
        let by_face = snapshot.card_face_locs(face.0, face.1, face.2);
        if !by_face.contains(&row.loc()) {
            return Err(format!(
                "card face {} {} {}: not found by it",
                face.0, face.1, face.2
            ));
        }
        if !faces_seen.contains(&face) {
            faces_seen.push(face);
        }
    }
    walk.online_keys += online_seen.len() as u64;
    walk.face_keys += faces_seen.len() as u64;
    Ok(())
}

/// Slots in use per index, and the serials without rows, of key shards.
#[derive(Default)]
struct SlotCounts {
    online: u64,
    face: u64,
    linkage: u64,
    serial: u64,
    unmatched: u64,
    unmatched_content: ContentDigest,
}

impl SlotCounts {
    fn merge(mut self, other: SlotCounts) -> SlotCounts {
        self.online += other.online;
        self.face += other.face;
        self.linkage += other.linkage;
        self.serial += other.serial;
        self.unmatched += other.unmatched;
        self.unmatched_content.merge(&other.unmatched_content);
        self
    }
}

fn check_key_shard(
    snapshot: &Snapshot,
    shard: &ArchivedKeyShard,
    index: u32,
) -> Result<SlotCounts, String> {
    if shard.shard.to_native() != index {
        return Err(format!(
            "holds shard {} in the place of shard {index}",
            shard.shard
        ));
    }
    let persons = snapshot.person_count();
    let person_target = |target: u32| target < persons;
    let mut counts = SlotCounts {
        online: check_index(
            Index::Online.slots(shard),
            "online-number index",
            person_target,
        )?,
        face: check_index(Index::Face.slots(shard), "card-face index", person_target)?,
        linkage: check_index(Index::Linkage.slots(shard), "linkage index", person_target)?,
        ..SlotCounts::default()
    };
    let mut offsets = Vec::new();
    let mut rebuilt = Vec::with_capacity(shard.unmatched.len());
    for (offset, serial, linkage) in unmatched_entries(&shard.unmatched) {
        offsets.push(offset);
        push_unmatched(&mut rebuilt, serial, linkage);
        let serial = Serial::from_be_bytes(serial)
            .ok_or("a serial without rows is more than 20 bytes long")?;
        let found = snapshot.serial_link(&serial);
        if found.map(|l| (l.linkage, l.person.is_none())) != Some((linkage, true)) {
            return Err(format!("serial {serial} (without rows): not found by it"));
        }
        counts.unmatched += 1;
        counts.unmatched_content.add_link(&serial, linkage);
    }
    if rebuilt.as_slice() != shard.unmatched.as_slice() {
        return Err("the table of serials without rows holds a damaged entry".into());
    }
    counts.serial = check_index(
        Index::Serial.slots(shard),
        "serial index",
        |target| match target & UNMATCHED {
            0 => target < persons,
            _ => offsets.binary_search(&(target & !UNMATCHED)).is_ok(),
        },
    )?;
    Ok(counts)
}

/// Checks that an index has an empty slot and that every used slot points
/// at something that exists; returns the slots in use.
fn check_index(
    slots: &[ArchivedSlot],
    what: &str,
    valid_target: impl Fn(u32) -> bool,
) -> Result<u64, String> {
    if slots.iter().all(|slot| slot.fingerprint() != 0) {
        return Err(format!("{what}: no empty slot"));
    }
    let mut used = 0;
    for (position, slot) in slots.iter().enumerate() {
        if slot.fingerprint() != 0 {
            used += 1;
            if !valid_target(slot.target()) {
                return Err(format!("{what}: slot {position} points outside the data"));
            }
        }
    }
    Ok(used)
}
