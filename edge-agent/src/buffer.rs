//! The `ReadingBuffer`: readings kept on the hub's disk until the cloud has them.
//!
//! Append-only segment files of fixed-size records, each with a CRC-32, so that
//! - a crash or power loss mid-write leaves at most one torn record at the end of the newest
//!   segment, which recovery detects (short or bad checksum) and cuts — the rest is untouched;
//! - a reading is found by arithmetic (segment first seq + index), so replay after an outage is
//!   sequential reads and memory stays constant however much is buffered (only the segment list
//!   lives in memory);
//! - deleting acknowledged readings is deleting whole segment files.
//!
//! Every reading gets the next per-device `seq`; the next seq and the acknowledged watermark are
//! persisted (`state.json`, written atomically) so seqs stay monotonic across restarts even when
//! every segment has been deleted.
//!
//! The buffer also owns the device's stream **epoch** (see `episante_protocol::stream`): seqs are
//! only unique within one buffer, so a buffer that starts over (new hub, wiped or replaced disk)
//! must tell the cloud it is a new stream, or its seqs 1, 2, … would be taken for duplicates of
//! readings already counted and dropped. A new buffer takes its creation time in ms since the Unix
//! epoch, written to `state.json` before any reading gets a seq, and keeps it for life. A
//! `state.json` written before epochs existed is the legacy stream (epoch 0) and stays in it: its
//! seqs carry on, and a new epoch that did not start near seq 1 would be refused by the broker.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use episante_protocol::{Reading, VitalKind};
use serde::{Deserialize, Serialize};

/// crc32 (4) + seq (8) + ts_ms (8) + kind (1) + value (8).
pub const RECORD_LEN: usize = 29;
/// Records per segment file (~1.9 MB).
pub const SEGMENT_RECORDS: u64 = 65_536;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FsyncPolicy {
    /// fsync after every append: nothing acknowledged to the sensor is ever lost.
    Always,
    /// fsync at most every `fsync_interval_ms`: a power cut may lose that much input.
    #[default]
    Interval,
    /// Leave it to the OS.
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FullPolicy {
    /// Delete the oldest unsent readings (whole segments) and count them.
    #[default]
    DropOldest,
    /// Refuse new readings until space frees up.
    RefuseNew,
}

#[derive(Debug, Clone)]
pub struct BufferOptions {
    pub fsync: FsyncPolicy,
    pub fsync_interval: Duration,
    /// Most unacknowledged readings kept.
    pub max_readings: u64,
    pub full_policy: FullPolicy,
}

impl Default for BufferOptions {
    fn default() -> Self {
        BufferOptions {
            fsync: FsyncPolicy::Interval,
            fsync_interval: Duration::from_millis(200),
            max_readings: 5_000_000,
            full_policy: FullPolicy::DropOldest,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BufferError {
    #[error("the reading buffer is full ({0} readings)")]
    Full(u64),
    #[error(transparent)]
    Io(#[from] anyhow::Error),
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
struct State {
    next_seq: u64,
    acked_through: u64,
    dropped: u64,
    /// The stream epoch; `None` only when read from a state file written before epochs, and set
    /// (then persisted) by `open`.
    #[serde(default)]
    epoch: Option<u64>,
}

/// The epoch of a buffer whose state predates epochs: the legacy stream, whose seqs carry on.
pub const LEGACY_EPOCH: u64 = 0;

/// Before 2024-01-01: a hub clock this far back was never set, and the epoch it gives a new
/// buffer may be older than the hub's previous one (the broker would refuse the new stream).
const PLAUSIBLE_CLOCK_MS: u64 = 1_704_067_200_000;

/// A new buffer's epoch: now, in ms since the Unix epoch, and at least 1 (0 is the legacy stream).
fn new_epoch() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    if now < PLAUSIBLE_CLOCK_MS {
        tracing::warn!(
            epoch = now,
            "the hub clock looks unset: the new buffer's stream epoch may be older than a previous one"
        );
    }
    now.max(1)
}

#[derive(Debug)]
struct Segment {
    path: PathBuf,
    first_seq: u64,
    /// Valid records in the file.
    count: u64,
}

impl Segment {
    fn last_seq(&self) -> u64 {
        self.first_seq + self.count - 1
    }
}

/// What recovery found when the buffer was opened.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recovery {
    pub readings: u64,
    /// Bytes cut from the end of the newest segment (a torn write).
    pub torn_bytes_cut: u64,
}

pub struct ReadingBuffer {
    dir: PathBuf,
    options: BufferOptions,
    segments: Vec<Segment>,
    active: Option<File>,
    state: State,
    last_fsync: Instant,
    dirty: bool,
    /// Highest seq known to be on disk (fsynced, or written when the policy is `Never`). Only
    /// these may be published: a published reading must survive a power cut, or its seq could be
    /// handed out again to a different reading after recovery.
    durable_through: u64,
}

fn kind_code(kind: VitalKind) -> u8 {
    VitalKind::ALL.iter().position(|k| *k == kind).unwrap_or(0) as u8
}

fn encode(reading: &Reading, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&reading.seq.to_le_bytes());
    out.extend_from_slice(&reading.ts_ms.to_le_bytes());
    out.push(kind_code(reading.kind));
    out.extend_from_slice(&reading.value.to_le_bytes());
    let crc = crc32fast::hash(&out[start + 4..]);
    out[start..start + 4].copy_from_slice(&crc.to_le_bytes());
}

fn decode(record: &[u8]) -> Option<Reading> {
    if record.len() != RECORD_LEN {
        return None;
    }
    let crc = u32::from_le_bytes(record[0..4].try_into().ok()?);
    if crc32fast::hash(&record[4..]) != crc {
        return None;
    }
    let kind = *VitalKind::ALL.get(record[20] as usize)?;
    Some(Reading {
        seq: u64::from_le_bytes(record[4..12].try_into().ok()?),
        ts_ms: i64::from_le_bytes(record[12..20].try_into().ok()?),
        kind,
        value: f64::from_le_bytes(record[21..29].try_into().ok()?),
        unit: kind.unit().to_string(),
    })
}

fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("seg-{first_seq:020}.log"))
}

fn write_state(dir: &Path, state: &State) -> anyhow::Result<()> {
    let tmp = dir.join("state.json.tmp");
    let mut file = File::create(&tmp)?;
    file.write_all(&serde_json::to_vec(state)?)?;
    file.sync_all()?;
    std::fs::rename(&tmp, dir.join("state.json"))?;
    Ok(())
}

impl ReadingBuffer {
    /// Opens (or creates) the buffer in `dir`, recovering from any torn write.
    pub fn open(dir: &Path, options: BufferOptions) -> anyhow::Result<(Self, Recovery)> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut state: State = match std::fs::read(dir.join("state.json")) {
            Ok(bytes) => serde_json::from_slice(&bytes).context("state.json is corrupt")?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State {
                next_seq: 1,
                epoch: Some(new_epoch()),
                ..Default::default()
            },
            Err(e) => return Err(e.into()),
        };
        if state.epoch.is_none() {
            tracing::info!(
                "buffer state predates stream epochs: keeping the legacy stream (epoch 0)"
            );
            state.epoch = Some(LEGACY_EPOCH);
        }
        let mut paths: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)?
            .filter_map(|entry| {
                let path = entry.ok()?.path();
                let name = path.file_name()?.to_str()?;
                let first = name
                    .strip_prefix("seg-")?
                    .strip_suffix(".log")?
                    .parse()
                    .ok()?;
                Some((first, path))
            })
            .collect();
        paths.sort();
        let mut recovery = Recovery::default();
        let mut segments = Vec::new();
        let last_index = paths.len().saturating_sub(1);
        for (i, (first_seq, path)) in paths.into_iter().enumerate() {
            let mut file = OpenOptions::new().read(true).write(true).open(&path)?;
            let len = file.metadata()?.len();
            let mut bytes = Vec::with_capacity(len as usize);
            file.read_to_end(&mut bytes)?;
            // Valid prefix: whole records with good checksums and the expected seqs.
            let mut valid = 0u64;
            for (n, record) in bytes.chunks(RECORD_LEN).enumerate() {
                match decode(record) {
                    Some(r) if r.seq == first_seq + n as u64 => valid += 1,
                    _ => break,
                }
            }
            let valid_bytes = valid * RECORD_LEN as u64;
            if valid_bytes < len {
                if i == last_index {
                    file.set_len(valid_bytes)?;
                    file.sync_all()?;
                    recovery.torn_bytes_cut += len - valid_bytes;
                    tracing::warn!(segment = %path.display(), cut = len - valid_bytes, "cut a torn write");
                } else {
                    // Only the newest segment is ever written to: damage elsewhere is not a torn
                    // write. Keep the valid prefix, say so loudly.
                    tracing::error!(segment = %path.display(), "segment damaged; keeping its valid prefix");
                    file.set_len(valid_bytes)?;
                }
            }
            if valid == 0 {
                drop(file);
                std::fs::remove_file(&path)?;
                continue;
            }
            let segment = Segment {
                path,
                first_seq,
                count: valid,
            };
            state.next_seq = state.next_seq.max(segment.last_seq() + 1);
            segments.push(segment);
        }
        let mut buffer = ReadingBuffer {
            dir: dir.to_path_buf(),
            options,
            segments,
            active: None,
            state,
            last_fsync: Instant::now(),
            dirty: false,
            durable_through: 0,
        };
        buffer.durable_through = buffer.state.next_seq - 1;
        buffer.delete_acked_segments()?;
        write_state(&buffer.dir, &buffer.state)?;
        recovery.readings = buffer.depth();
        Ok((buffer, recovery))
    }

    /// Readings buffered and not yet acknowledged.
    pub fn depth(&self) -> u64 {
        self.segments
            .iter()
            .map(|s| {
                let start = s.first_seq.max(self.state.acked_through + 1);
                (s.last_seq() + 1).saturating_sub(start)
            })
            .sum()
    }

    pub fn acked_through(&self) -> u64 {
        self.state.acked_through
    }

    /// The stream epoch every batch of this buffer's readings carries (see the module docs).
    pub fn epoch(&self) -> u64 {
        self.state.epoch.unwrap_or(LEGACY_EPOCH)
    }

    /// The seq the next reading will get.
    pub fn next_seq(&self) -> u64 {
        self.state.next_seq
    }

    /// Readings deleted unsent by the drop-oldest policy, ever.
    pub fn dropped(&self) -> u64 {
        self.state.dropped
    }

    /// Appends readings (their `seq` is assigned here) and returns the seqs given.
    pub fn append(&mut self, readings: &mut [Reading]) -> Result<(), BufferError> {
        if readings.is_empty() {
            return Ok(());
        }
        let incoming = readings.len() as u64;
        while self.depth() + incoming > self.options.max_readings {
            match self.options.full_policy {
                FullPolicy::RefuseNew => return Err(BufferError::Full(self.options.max_readings)),
                FullPolicy::DropOldest => {
                    if !self.drop_oldest_segment()? {
                        return Err(BufferError::Full(self.options.max_readings));
                    }
                }
            }
        }
        let mut bytes = Vec::with_capacity(readings.len() * RECORD_LEN);
        let mut i = 0;
        while i < readings.len() {
            // Start a new segment when there is none or the newest is full.
            let room = match self.segments.last() {
                Some(s) if s.count < SEGMENT_RECORDS && self.active.is_some() => {
                    SEGMENT_RECORDS - s.count
                }
                Some(s) if s.count < SEGMENT_RECORDS => {
                    self.active = Some(
                        OpenOptions::new()
                            .append(true)
                            .open(&s.path)
                            .map_err(anyhow::Error::from)?,
                    );
                    SEGMENT_RECORDS - s.count
                }
                _ => {
                    let path = segment_path(&self.dir, self.state.next_seq);
                    let file = OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&path)
                        .map_err(anyhow::Error::from)?;
                    self.active = Some(file);
                    self.segments.push(Segment {
                        path,
                        first_seq: self.state.next_seq,
                        count: 0,
                    });
                    SEGMENT_RECORDS
                }
            };
            let take = (readings.len() - i).min(room as usize);
            bytes.clear();
            for reading in &mut readings[i..i + take] {
                reading.seq = self.state.next_seq;
                self.state.next_seq += 1;
                encode(reading, &mut bytes);
            }
            let file = self.active.as_mut().expect("active segment");
            file.write_all(&bytes).map_err(anyhow::Error::from)?;
            self.segments.last_mut().expect("segment").count += take as u64;
            i += take;
        }
        self.dirty = true;
        if self.options.fsync == FsyncPolicy::Never {
            self.durable_through = self.state.next_seq - 1;
        }
        self.maybe_fsync(false)?;
        Ok(())
    }

    /// Flushes to disk according to the policy (`force` flushes regardless).
    pub fn maybe_fsync(&mut self, force: bool) -> anyhow::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let due = match self.options.fsync {
            FsyncPolicy::Always => true,
            FsyncPolicy::Interval => self.last_fsync.elapsed() >= self.options.fsync_interval,
            FsyncPolicy::Never => false,
        };
        if force || due {
            if let Some(file) = &self.active {
                file.sync_data()?;
            }
            self.last_fsync = Instant::now();
            self.dirty = false;
            self.durable_through = self.state.next_seq - 1;
        }
        Ok(())
    }

    /// Highest seq that may be published (see `durable_through`).
    pub fn durable_through(&self) -> u64 {
        self.durable_through
    }

    /// Up to `max` readings with seq ≥ `from`, in order (durable or not).
    pub fn read_from(&self, from: u64, max: usize) -> anyhow::Result<Vec<Reading>> {
        let mut out = Vec::new();
        let mut next = from.max(self.state.acked_through + 1);
        for segment in &self.segments {
            if out.len() >= max {
                break;
            }
            if segment.last_seq() < next {
                continue;
            }
            let start = next.max(segment.first_seq);
            let n = ((segment.last_seq() + 1 - start) as usize).min(max - out.len());
            let mut bytes = vec![0u8; n * RECORD_LEN];
            let file = File::open(&segment.path)?;
            file.read_exact_at(&mut bytes, (start - segment.first_seq) * RECORD_LEN as u64)?;
            for record in bytes.chunks(RECORD_LEN) {
                out.push(decode(record).context("a buffered record failed its checksum")?);
            }
            next = start + n as u64;
        }
        Ok(out)
    }

    /// The broker (or Kafka) has everything up to `through`: forget it.
    pub fn ack(&mut self, through: u64) -> anyhow::Result<()> {
        let through = through.min(self.state.next_seq.saturating_sub(1));
        if through <= self.state.acked_through {
            return Ok(());
        }
        self.state.acked_through = through;
        self.delete_acked_segments()?;
        write_state(&self.dir, &self.state)
    }

    fn delete_acked_segments(&mut self) -> anyhow::Result<()> {
        while self.segments.len() > 1
            || self
                .segments
                .first()
                .is_some_and(|s| s.count >= SEGMENT_RECORDS)
        {
            let first = &self.segments[0];
            if first.last_seq() > self.state.acked_through {
                break;
            }
            std::fs::remove_file(&first.path)?;
            self.segments.remove(0);
            if self.segments.is_empty() {
                self.active = None;
            }
        }
        Ok(())
    }

    /// Deletes the oldest segment's unsent readings; false when there is nothing to drop.
    fn drop_oldest_segment(&mut self) -> anyhow::Result<bool> {
        let Some(first) = self.segments.first() else {
            return Ok(false);
        };
        let unsent = (first.last_seq() + 1)
            .saturating_sub(first.first_seq.max(self.state.acked_through + 1));
        if unsent == 0 && self.segments.len() == 1 {
            return Ok(false);
        }
        let last = first.last_seq();
        let path = first.path.clone();
        let is_active = self.segments.len() == 1;
        std::fs::remove_file(&path)?;
        self.segments.remove(0);
        if is_active {
            self.active = None;
        }
        self.state.dropped += unsent;
        self.state.acked_through = self.state.acked_through.max(last);
        tracing::warn!(
            dropped = unsent,
            "reading buffer full: dropped the oldest unsent readings"
        );
        write_state(&self.dir, &self.state)?;
        Ok(true)
    }

    /// Timestamp of the oldest unacknowledged reading.
    pub fn oldest_unsent_ts(&self) -> Option<i64> {
        self.read_from(self.state.acked_through + 1, 1)
            .ok()
            .and_then(|r| r.first().map(|r| r.ts_ms))
    }

    /// Bytes on disk.
    pub fn disk_bytes(&self) -> u64 {
        self.segments
            .iter()
            .map(|s| s.count * RECORD_LEN as u64)
            .sum()
    }

    #[cfg(test)]
    fn newest_segment_path(&self) -> Option<PathBuf> {
        self.segments.last().map(|s| s.path.clone())
    }
}

impl Drop for ReadingBuffer {
    fn drop(&mut self) {
        let _ = self.maybe_fsync(true);
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Seek, SeekFrom};

    use super::*;

    fn readings(n: usize) -> Vec<Reading> {
        (0..n)
            .map(|i| Reading {
                seq: 0,
                ts_ms: 1_764_000_000_000 + i as i64,
                kind: VitalKind::HeartRate,
                value: 60.0 + i as f64 % 50.0,
                unit: "/min".into(),
            })
            .collect()
    }

    fn options() -> BufferOptions {
        BufferOptions {
            fsync: FsyncPolicy::Never,
            ..Default::default()
        }
    }

    #[test]
    fn appends_reads_acks_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (mut buf, _) = ReadingBuffer::open(dir.path(), options()).unwrap();
        let mut batch = readings(10);
        buf.append(&mut batch).unwrap();
        assert_eq!(
            batch.iter().map(|r| r.seq).collect::<Vec<_>>(),
            (1..=10).collect::<Vec<_>>()
        );
        assert_eq!(
            buf.read_from(4, 3)
                .unwrap()
                .iter()
                .map(|r| r.seq)
                .collect::<Vec<_>>(),
            vec![4, 5, 6]
        );
        buf.ack(6).unwrap();
        assert_eq!(buf.depth(), 4);
        drop(buf);
        let (mut buf, recovery) = ReadingBuffer::open(dir.path(), options()).unwrap();
        assert_eq!(
            recovery,
            Recovery {
                readings: 4,
                torn_bytes_cut: 0
            }
        );
        assert_eq!(buf.read_from(0, 100).unwrap().first().unwrap().seq, 7);
        let mut more = readings(2);
        buf.append(&mut more).unwrap();
        assert_eq!(more[0].seq, 11, "seqs stay monotonic across restarts");
        assert_eq!(more[1].value, 61.0);
    }

    #[test]
    fn the_epoch_is_kept_for_the_life_of_the_buffer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("buffer");
        let (mut buf, _) = ReadingBuffer::open(&path, options()).unwrap();
        let epoch = buf.epoch();
        assert!(
            epoch > PLAUSIBLE_CLOCK_MS,
            "a new buffer's epoch is its creation time in ms"
        );
        buf.append(&mut readings(3)).unwrap();
        buf.ack(3).unwrap();
        drop(buf);
        for _ in 0..2 {
            let (buf, _) = ReadingBuffer::open(&path, options()).unwrap();
            assert_eq!(
                buf.epoch(),
                epoch,
                "stable across reopen, with or without readings"
            );
        }

        // The buffer is lost: the new one starts its seqs over, in a new, larger epoch.
        std::fs::remove_dir_all(&path).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let (mut buf, _) = ReadingBuffer::open(&path, options()).unwrap();
        let mut batch = readings(1);
        buf.append(&mut batch).unwrap();
        assert_eq!(batch[0].seq, 1);
        assert!(buf.epoch() > epoch, "{} after {epoch}", buf.epoch());
    }

    #[test]
    fn a_state_file_from_before_epochs_keeps_the_legacy_stream() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut buf, _) = ReadingBuffer::open(dir.path(), options()).unwrap();
            buf.append(&mut readings(10)).unwrap();
            buf.ack(4).unwrap();
        }
        // What an agent before epochs wrote.
        std::fs::write(
            dir.path().join("state.json"),
            r#"{"next_seq":11,"acked_through":4,"dropped":0}"#,
        )
        .unwrap();
        for _ in 0..2 {
            let (buf, recovery) = ReadingBuffer::open(dir.path(), options()).unwrap();
            assert_eq!(
                buf.epoch(),
                LEGACY_EPOCH,
                "its seqs carry on in the stream they began"
            );
            assert_eq!((recovery.readings, buf.next_seq()), (6, 11));
        }
        let state: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("state.json")).unwrap()).unwrap();
        assert_eq!(state["epoch"], 0, "the epoch it was given is persisted");
    }

    #[test]
    fn a_torn_last_record_is_cut_and_nothing_else_is_lost() {
        let dir = tempfile::tempdir().unwrap();
        let path = {
            let (mut buf, _) = ReadingBuffer::open(dir.path(), options()).unwrap();
            buf.append(&mut readings(100)).unwrap();
            buf.newest_segment_path().unwrap()
        };
        // Power loss mid-record: half a record at the end, and a record with a bad checksum.
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&[0xAB; RECORD_LEN / 2]).unwrap();
        drop(file);
        let (buf, recovery) = ReadingBuffer::open(dir.path(), options()).unwrap();
        assert_eq!(recovery.torn_bytes_cut, (RECORD_LEN / 2) as u64);
        assert_eq!(buf.depth(), 100);
        let all = buf.read_from(1, 1000).unwrap();
        assert_eq!(all.len(), 100);
        assert_eq!(all.last().unwrap().seq, 100);
        drop(buf);

        // A flipped bit in the last whole record: that record is cut, the 99 before it stay.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let at = 99 * RECORD_LEN as u64 + 10;
        file.seek(SeekFrom::Start(at)).unwrap();
        file.write_all(&[0xFF]).unwrap();
        drop(file);
        let (mut buf, recovery) = ReadingBuffer::open(dir.path(), options()).unwrap();
        assert_eq!(recovery.torn_bytes_cut, RECORD_LEN as u64);
        assert_eq!(buf.depth(), 99);
        let mut next = readings(1);
        buf.append(&mut next).unwrap();
        assert_eq!(
            next[0].seq, 101,
            "a seq once recorded as handed out is never reused"
        );
    }

    #[test]
    fn a_full_buffer_drops_the_oldest_or_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = options();
        opts.max_readings = SEGMENT_RECORDS + 10;
        let (mut buf, _) = ReadingBuffer::open(dir.path(), opts.clone()).unwrap();
        buf.append(&mut readings(SEGMENT_RECORDS as usize + 10))
            .unwrap();
        buf.append(&mut readings(5)).unwrap();
        assert_eq!(
            buf.dropped(),
            SEGMENT_RECORDS,
            "the whole oldest segment went"
        );
        assert_eq!(buf.depth(), 15);
        assert_eq!(buf.read_from(0, 1).unwrap()[0].seq, SEGMENT_RECORDS + 1);
        drop(buf);

        let dir = tempfile::tempdir().unwrap();
        opts.full_policy = FullPolicy::RefuseNew;
        opts.max_readings = 10;
        let (mut buf, _) = ReadingBuffer::open(dir.path(), opts).unwrap();
        buf.append(&mut readings(10)).unwrap();
        assert!(matches!(
            buf.append(&mut readings(1)),
            Err(BufferError::Full(10))
        ));
        buf.ack(3).unwrap();
        buf.append(&mut readings(3)).unwrap();
        assert_eq!(buf.depth(), 10);
    }

    #[test]
    fn acked_segments_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let (mut buf, _) = ReadingBuffer::open(dir.path(), options()).unwrap();
        buf.append(&mut readings(SEGMENT_RECORDS as usize * 2 + 5))
            .unwrap();
        assert_eq!(buf.segments.len(), 3);
        buf.ack(SEGMENT_RECORDS * 2).unwrap();
        assert_eq!(buf.segments.len(), 1);
        assert_eq!(buf.depth(), 5);
        assert_eq!(
            std::fs::read_dir(dir.path())
                .unwrap()
                .filter(|e| e
                    .as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "log"))
                .count(),
            1
        );
    }
}
