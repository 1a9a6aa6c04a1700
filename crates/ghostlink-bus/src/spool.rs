//! A local append-only spool for messages that could not be published (broker down), drained
//! in order once the broker is back.
//!
//! Format: one message per line, `routing_key \t message_id \t payload` (payloads are compact
//! JSON, which has no raw newlines). The read position is persisted in a sidecar file after each
//! published chunk, so a crash re-publishes at most one chunk: consumers are idempotent by
//! message id, so that is a duplicate delivery, never a duplicate row, and never a loss. The
//! directory is locked (`flock`), so two processes can never share a spool.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::Outgoing;

/// Why the spool could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool directory {0} is locked by another process (give each replica its own SPOOL_DIR)")]
    Locked(PathBuf),
    #[error("spool I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("spool is full ({0} bytes)")]
    Full(u64),
}

/// The spool of one process.
pub struct Spool {
    data_path: PathBuf,
    offset_path: PathBuf,
    file: File,
    read_offset: u64,
    len: u64,
    max_bytes: u64,
    _lock: Flock<File>,
}

impl Spool {
    /// Opens (or creates) the spool in `dir`, taking its lock.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Self, SpoolError> {
        std::fs::create_dir_all(dir)?;
        let lock_file =
            OpenOptions::new().create(true).truncate(false).write(true).open(dir.join("spool.lock"))?;
        let lock = Flock::lock(lock_file, FlockArg::LockExclusiveNonblock)
            .map_err(|_| SpoolError::Locked(dir.to_path_buf()))?;
        let data_path = dir.join("events.spool");
        let offset_path = dir.join("events.spool.offset");
        let file = OpenOptions::new().create(true).append(true).read(true).open(&data_path)?;
        let len = file.metadata()?.len();
        let read_offset = std::fs::read_to_string(&offset_path)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .filter(|o| *o <= len)
            .unwrap_or(0);
        let spool = Self { data_path, offset_path, file, read_offset, len, max_bytes, _lock: lock };
        spool.gauge();
        Ok(spool)
    }

    fn gauge(&self) {
        metrics::gauge!("spool_bytes").set(self.pending_bytes() as f64);
    }

    /// Bytes written but not yet published.
    pub fn pending_bytes(&self) -> u64 {
        self.len - self.read_offset
    }

    pub fn is_empty(&self) -> bool {
        self.pending_bytes() == 0
    }

    /// Appends messages and flushes them to the OS. Refuses when over `max_bytes`.
    pub fn append(&mut self, msgs: &[Outgoing]) -> Result<(), SpoolError> {
        if self.pending_bytes() > self.max_bytes {
            return Err(SpoolError::Full(self.max_bytes));
        }
        let mut buf = Vec::with_capacity(msgs.iter().map(|m| m.payload.len() + 64).sum());
        for m in msgs {
            buf.extend_from_slice(m.routing_key.as_bytes());
            buf.push(b'\t');
            buf.extend_from_slice(m.message_id.as_bytes());
            buf.push(b'\t');
            buf.extend(m.payload.iter().map(|b| if *b == b'\n' { b' ' } else { *b }));
            buf.push(b'\n');
        }
        self.file.write_all(&buf)?;
        self.file.flush()?;
        self.len += buf.len() as u64;
        metrics::counter!("spool_appended_total").increment(msgs.len() as u64);
        self.gauge();
        Ok(())
    }

    /// Reads up to `max` messages from the read position, without consuming them. Returns them
    /// and the position after them, for [`Spool::commit`].
    pub fn peek(&mut self, max: usize) -> Result<(Vec<Outgoing>, u64), SpoolError> {
        let mut f = File::open(&self.data_path)?;
        f.seek(SeekFrom::Start(self.read_offset))?;
        let mut reader = BufReader::new(f.take(self.len - self.read_offset));
        let mut out = Vec::new();
        let mut pos = self.read_offset;
        let mut line = Vec::new();
        while out.len() < max {
            line.clear();
            let n = reader.read_until(b'\n', &mut line)?;
            if n == 0 || line.last() != Some(&b'\n') {
                break; // end, or a torn last line from a crash mid-write: left for later
            }
            pos += n as u64;
            let body = &line[..line.len() - 1];
            let mut parts = body.splitn(3, |b| *b == b'\t');
            let (Some(rk), Some(id), Some(payload)) = (parts.next(), parts.next(), parts.next()) else {
                metrics::counter!("spool_corrupt_lines_total").increment(1);
                continue;
            };
            out.push(Outgoing {
                routing_key: String::from_utf8_lossy(rk).into_owned(),
                message_id: String::from_utf8_lossy(id).into_owned(),
                payload: payload.to_vec(),
            });
        }
        Ok((out, pos))
    }

    /// Marks everything before `pos` as published; empties the files once all is.
    pub fn commit(&mut self, pos: u64) -> Result<(), SpoolError> {
        self.read_offset = pos.min(self.len);
        if self.read_offset == self.len {
            self.file.set_len(0)?;
            self.len = 0;
            self.read_offset = 0;
            let _ = std::fs::remove_file(&self.offset_path);
        } else {
            let tmp = self.offset_path.with_extension("tmp");
            std::fs::write(&tmp, self.read_offset.to_string())?;
            std::fs::rename(&tmp, &self.offset_path)?;
        }
        self.gauge();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(i: usize) -> Outgoing {
        Outgoing {
            routing_key: "click.recorded".into(),
            message_id: format!("id-{i}"),
            payload: format!("{{\"n\":{i}}}").into_bytes(),
        }
    }

    #[test]
    fn append_peek_commit_survives_reopen_and_locks() {
        let dir = std::env::temp_dir().join(format!("gl-spool-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        {
            let mut s = Spool::open(&dir, 1 << 20).expect("open");
            assert!(matches!(Spool::open(&dir, 1 << 20), Err(SpoolError::Locked(_))));
            s.append(&(0..10).map(msg).collect::<Vec<_>>()).expect("append");
            let (first, pos) = s.peek(4).expect("peek");
            assert_eq!(
                first.iter().map(|m| m.message_id.as_str()).collect::<Vec<_>>(),
                ["id-0", "id-1", "id-2", "id-3"]
            );
            s.commit(pos).expect("commit");
        }
        // A crash here: reopen resumes after the committed chunk.
        let mut s = Spool::open(&dir, 1 << 20).expect("reopen");
        let (rest, pos) = s.peek(100).expect("peek");
        assert_eq!(rest.len(), 6);
        assert_eq!(rest[0].message_id, "id-4");
        assert_eq!(rest[5].payload, b"{\"n\":9}");
        s.commit(pos).expect("commit");
        assert!(s.is_empty());
        assert_eq!(std::fs::metadata(dir.join("events.spool")).expect("meta").len(), 0);
        let mut small = s;
        small.max_bytes = 0;
        small.append(&[msg(1)]).expect("first append fits");
        assert!(matches!(small.append(&[msg(2)]), Err(SpoolError::Full(_))));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
