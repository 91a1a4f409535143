//! Temporary files that hold list data (an upload as received, the kept copy being staged,
//! a report workbook): in a directory the server owns, encrypted with ChaCha20 under a
//! random key per file that only this process's memory holds, deleted when dropped. A
//! crash leaves unreadable noise, which the next start deletes.
//!
//! Each running instance has its own subdirectory `<instance>/` beside a `<instance>.lock`
//! it holds locked, so instances sharing a data directory sweep only what dead ones left.

use chacha20::ChaCha20;
use chacha20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
use rand::RngCore;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// This instance's directory of temporary files.
#[derive(Clone)]
pub struct Scratch(Arc<Instance>);

struct Instance {
    dir: PathBuf,
    lock_path: PathBuf,
    /// Held locked for the life of the process: the sweep of another instance skips us.
    _lock: File,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(&self.lock_path);
    }
}

const LOCK_SUFFIX: &str = ".lock";

impl Scratch {
    /// Opens `root` (created when missing, readable only by the server), deletes what
    /// instances no longer running left there, and makes this instance's directory.
    pub fn open(root: &Path) -> io::Result<Self> {
        create_private_dir(root)?;
        let swept = sweep(root)?;
        if swept > 0 {
            tracing::info!(files = swept, dir = %root.display(), "temporary files left by a stopped server deleted");
        }
        let name = uuid::Uuid::new_v4().simple().to_string();
        // Locked under a name the sweep ignores, then renamed: never seen unlocked.
        let pending = root.join(format!(".{name}{LOCK_SUFFIX}"));
        let lock = File::create(&pending)?;
        lock.try_lock().map_err(io::Error::other)?;
        let lock_path = root.join(format!("{name}{LOCK_SUFFIX}"));
        std::fs::rename(&pending, &lock_path)?;
        let dir = root.join(&name);
        create_private_dir(&dir)?;
        Ok(Self(Arc::new(Instance { dir, lock_path, _lock: lock })))
    }

    /// This instance's directory, for libraries that make temporary files of their own.
    pub fn dir(&self) -> &Path {
        &self.0.dir
    }

    /// A new empty encrypted file, deleted when the returned value is dropped.
    pub fn create(&self) -> io::Result<SealedFile> {
        let path = self.0.dir.join(uuid::Uuid::new_v4().simple().to_string());
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(&path)?;
        let mut key = [0u8; 32];
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut key);
        rand::thread_rng().fill_bytes(&mut nonce);
        Ok(SealedFile { path, key, nonce, _scratch: self.clone() })
    }
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Deletes the directories (and lock files) of instances that no longer run: those whose
/// lock file can be locked, or is missing. Returns how many files were deleted. Another
/// instance may be sweeping too: what it deleted first is not an error.
fn sweep(root: &Path) -> io::Result<usize> {
    let mut deleted = 0;
    for entry in std::fs::read_dir(root)? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_string) else { continue };
        // A lock being set up by an instance that is starting (it holds nothing).
        if name.starts_with('.') {
            continue;
        }
        let removed = if let Some(instance) = name.strip_suffix(LOCK_SUFFIX) {
            match File::open(&path) {
                Ok(lock) if lock.try_lock().is_ok() => remove_instance(&root.join(instance))
                    .and_then(|n| ignore_missing(std::fs::remove_file(&path)).map(|_| n)),
                _ => Ok(0),
            }
        } else if path.is_dir() && !root.join(format!("{name}{LOCK_SUFFIX}")).exists() {
            remove_instance(&path)
        } else {
            Ok(0)
        };
        match removed {
            Ok(n) => deleted += n,
            Err(error) => tracing::warn!(%error, path = %path.display(), "could not delete a leftover temporary file"),
        }
    }
    Ok(deleted)
}

fn ignore_missing(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

fn remove_instance(dir: &Path) -> io::Result<usize> {
    let files = match std::fs::read_dir(dir) {
        Ok(entries) => entries.count(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    ignore_missing(std::fs::remove_dir_all(dir))?;
    Ok(files)
}

/// An encrypted temporary file; read and write it through [`SealedFile::open`].
pub struct SealedFile {
    path: PathBuf,
    key: [u8; 32],
    nonce: [u8; 12],
    /// Keeps the instance directory alive while the file is.
    _scratch: Scratch,
}

impl Drop for SealedFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl SealedFile {
    /// A handle of its own, at the start of the file: several may be open at once.
    pub fn open(&self) -> io::Result<SealedHandle> {
        let file = OpenOptions::new().read(true).write(true).open(&self.path)?;
        Ok(SealedHandle { file, cipher: ChaCha20::new(&self.key.into(), &self.nonce.into()), position: 0 })
    }
}

/// Reads and writes plain bytes; the file holds them encrypted.
pub struct SealedHandle {
    file: File,
    cipher: ChaCha20,
    position: u64,
}

impl SealedHandle {
    fn apply(&mut self, bytes: &mut [u8]) {
        self.cipher.seek(self.position);
        self.cipher.apply_keystream(bytes);
        self.position += bytes.len() as u64;
    }
}

impl Read for SealedHandle {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.file.read(buf)?;
        self.apply(&mut buf[..read]);
        Ok(read)
    }
}

impl Write for SealedHandle {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut sealed = buf.to_vec();
        self.apply(&mut sealed);
        self.file.write_all(&sealed)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Seek for SealedHandle {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.position = self.file.seek(to)?;
        Ok(self.position)
    }
}

/// A file that can be read from its start as often as needed: the list readers open it
/// once to sniff its kind and again to read it.
pub trait Reopen {
    fn reopen(&self) -> io::Result<Box<dyn ReadSeek>>;
}

pub trait ReadSeek: Read + Seek + Send {}
impl<T: Read + Seek + Send> ReadSeek for T {}

impl Reopen for SealedFile {
    fn reopen(&self) -> io::Result<Box<dyn ReadSeek>> {
        Ok(Box::new(self.open()?))
    }
}

/// A plain file, such as one a command reads or a test writes.
impl<P: AsRef<Path> + ?Sized> Reopen for P {
    fn reopen(&self) -> io::Result<Box<dyn ReadSeek>> {
        Ok(Box::new(File::open(self.as_ref())?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        std::env::temp_dir().join(format!("phieu-scratch-{}", uuid::Uuid::new_v4().simple()))
    }

    fn files_under(dir: &Path) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() { found.extend(files_under(&path)) } else { found.push(path) }
        }
        found
    }

    #[test]
    fn what_is_written_reads_back_and_is_not_on_disk_in_clear() {
        let root = root();
        let scratch = Scratch::open(&root).unwrap();
        let file = scratch.create().unwrap();
        let text = "Số CCCD;001099001234\n".repeat(1000);
        let mut writer = file.open().unwrap();
        for piece in text.as_bytes().chunks(777) {
            writer.write_all(piece).unwrap();
        }
        let mut back = String::new();
        file.open().unwrap().read_to_string(&mut back).unwrap();
        assert_eq!(back, text);
        let mut reader = file.open().unwrap();
        reader.seek(SeekFrom::Start(5000)).unwrap();
        let mut some = [0u8; 100];
        reader.read_exact(&mut some).unwrap();
        assert_eq!(&some[..], &text.as_bytes()[5000..5100]);
        let on_disk = files_under(&root);
        assert_eq!(on_disk.len(), 2, "the lock and the file: {on_disk:?}");
        for path in &on_disk {
            let bytes = std::fs::read(path).unwrap();
            assert!(!bytes.windows(12).any(|w| w == b"001099001234"), "{path:?} holds the number");
        }
        drop(file);
        assert_eq!(files_under(&root).len(), 1, "only the lock is left");
        drop(scratch);
        assert!(files_under(&root).is_empty());
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn the_sweep_deletes_what_a_dead_instance_left_and_spares_a_running_one() {
        let root = root();
        let running = Scratch::open(&root).unwrap();
        let kept = running.create().unwrap();
        kept.open().unwrap().write_all(b"in use").unwrap();
        // A crashed instance: its lock file is no longer locked.
        std::fs::create_dir_all(root.join("dead")).unwrap();
        std::fs::write(root.join("dead/upload"), b"noise").unwrap();
        std::fs::write(root.join("dead.lock"), b"").unwrap();
        std::fs::create_dir_all(root.join("orphan")).unwrap();
        std::fs::write(root.join("orphan/upload"), b"noise").unwrap();
        let second = Scratch::open(&root).unwrap();
        assert!(!root.join("dead").exists() && !root.join("dead.lock").exists() && !root.join("orphan").exists());
        let mut back = String::new();
        kept.open().unwrap().read_to_string(&mut back).unwrap();
        assert_eq!(back, "in use");
        drop((kept, running, second));
        std::fs::remove_dir_all(root).unwrap();
    }
}
