//! [`LocalDirStore`]: the embedded default, a directory on a local file system.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt as _;

use super::key::{validate_key, validate_prefix};
use super::{
    ByteStream, ObjectInfo, ObjectStore, PutOptions, SHA256_METADATA_KEY, StoreError, Stored,
};

/// Hidden directory, directly under the root, that mirrors the key tree with one JSON sidecar
/// per object (`.meta/<key>.json`) holding the content type, the metadata and the SHA-256.
const META_DIR: &str = ".meta";

/// Buffer between a streamed body and the file: one blocking write per this many bytes.
const WRITE_BUFFER: usize = 1 << 20;

/// Chunk size of [`ObjectStore::get_stream`].
const READ_CHUNK: usize = 256 << 10;

/// An object store in a local directory.
///
/// Durable and atomic like S3, without its WORM features:
///
/// - An object is written to a hidden temporary file in its final directory
///   (`.<name>.tmp-<uuid>`), fsynced, then moved into place with `rename` (atomic replace) or,
///   for create-if-absent, `hard_link` (fails atomically if the name exists) followed by
///   unlinking the temporary name; then the directory is fsynced. New directories are fsynced
///   into their parents too. A crash leaves either the old state or the new object, plus at
///   worst an invisible temporary file.
/// - Content type, metadata and SHA-256 live in a sidecar under the hidden `.meta/` tree, so
///   listings show objects only. The sidecar is written (temporary file, fsync, rename) right
///   *after* the object is in place: writing it before would let a losing create-if-absent
///   clobber the winner's sidecar. The sidecar records the object file's identity (inode, size,
///   modification time) and is ignored unless they match, so a crash between the two steps
///   yields an object without metadata, never an object with another object's metadata. A
///   failed sidecar write after the object is committed is logged, not returned.
/// - Listings skip every hidden (`.`-prefixed) entry, which covers `.meta/` and temporary
///   files; keys may not contain `.`-prefixed segments, so no object is hidden.
/// - Object lock and legal hold are refused with [`StoreError::Configuration`]: a directory
///   cannot enforce WORM, and pretending would be worse than failing.
/// - Emptied directories are left in place (harmless, invisible in listings); a key cannot be
///   both an object and a prefix of other keys (S3 allows it; evidence keys never need it), such
///   puts fail with [`StoreError::Other`].
#[derive(Debug, Clone)]
pub struct LocalDirStore {
    root: Arc<PathBuf>,
}

/// The sidecar file's content.
#[derive(Debug, Serialize, Deserialize)]
struct Sidecar {
    content_type: String,
    sha256: String,
    bytes: u64,
    /// Identity of the object file the sidecar describes.
    file: FileId,
    metadata: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct FileId {
    ino: u64,
    len: u64,
    modified_ns: i128,
}

impl FileId {
    fn of(meta: &fs::Metadata) -> Self {
        #[cfg(unix)]
        let ino = std::os::unix::fs::MetadataExt::ino(meta);
        #[cfg(not(unix))]
        let ino = 0;
        Self {
            ino,
            len: meta.len(),
            modified_ns: meta.modified().map(system_time_ns).unwrap_or(0),
        }
    }
}

fn system_time_ns(t: SystemTime) -> i128 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i128::try_from(d.as_nanos()).unwrap_or(i128::MAX),
        Err(e) => -i128::try_from(e.duration().as_nanos()).unwrap_or(i128::MAX),
    }
}

/// A temporary file that is removed when dropped unless disarmed (on error or cancellation).
#[derive(Debug)]
struct TempGuard {
    path: Option<PathBuf>,
}

impl TempGuard {
    fn new(path: PathBuf) -> Self {
        Self { path: Some(path) }
    }

    fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or_else(|| Path::new(""))
    }

    fn disarm(&mut self) {
        self.path = None;
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(path) = self.path.take()
            && let Err(e) = fs::remove_file(&path)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %path.display(), error = %e, "could not remove temporary file");
        }
    }
}

fn temp_name(name: &str) -> String {
    format!(".{name}.tmp-{}", uuid::Uuid::new_v4().simple())
}

/// Splits a validated key into its directory part (`""` at the root) and file name.
fn split_key(key: &str) -> (&str, &str) {
    key.rsplit_once('/').unwrap_or(("", key))
}

/// Makes a file-system error a store error: permissions are configuration, a key colliding with
/// a directory (or a parent colliding with a file) is a key conflict, the rest is I/O.
fn map_io(op: &'static str, key: &str, e: io::Error) -> StoreError {
    use io::ErrorKind as K;
    match e.kind() {
        K::PermissionDenied | K::ReadOnlyFilesystem => StoreError::Configuration(format!(
            "{op} of {key:?} in the local store directory failed: {e}"
        )),
        K::NotADirectory | K::IsADirectory | K::DirectoryNotEmpty => StoreError::other(
            op,
            key,
            "the key collides with another key's directory (an object cannot also be a prefix)",
        ),
        _ => StoreError::io(op, key, e),
    }
}

fn is_absent(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory | io::ErrorKind::IsADirectory
    )
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// Creates `root/rel_dir` if needed, fsyncing each new directory into its parent.
fn ensure_dir(root: &Path, rel_dir: &str) -> io::Result<PathBuf> {
    let target = root.join(rel_dir);
    if target.is_dir() {
        return Ok(target);
    }
    let mut dir = root.to_path_buf();
    for segment in rel_dir.split('/').filter(|s| !s.is_empty()) {
        let next = dir.join(segment);
        match fs::create_dir(&next) {
            Ok(()) => sync_dir(&dir)?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                if !next.is_dir() {
                    return Err(io::Error::new(
                        io::ErrorKind::NotADirectory,
                        "a parent of the key is an object",
                    ));
                }
            }
            Err(e) => return Err(e),
        }
        dir = next;
    }
    Ok(dir)
}

fn meta_rel_dir(key_dir: &str) -> String {
    if key_dir.is_empty() {
        META_DIR.to_owned()
    } else {
        format!("{META_DIR}/{key_dir}")
    }
}

fn sidecar_path(root: &Path, key: &str) -> PathBuf {
    root.join(META_DIR).join(format!("{key}.json"))
}

fn write_sidecar(root: &Path, key: &str, sidecar: &Sidecar) -> io::Result<()> {
    let (dir, name) = split_key(key);
    let meta_dir = ensure_dir(root, &meta_rel_dir(dir))?;
    let json = serde_json::to_vec(sidecar).map_err(io::Error::other)?;
    let mut tmp = TempGuard::new(meta_dir.join(temp_name(&format!("{name}.json"))));
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp.path())?;
    file.write_all(&json)?;
    file.sync_all()?;
    drop(file);
    fs::rename(tmp.path(), meta_dir.join(format!("{name}.json")))?;
    tmp.disarm();
    sync_dir(&meta_dir)
}

/// Reads the sidecar of `key` if it describes exactly this object file.
fn read_sidecar(root: &Path, key: &str, file: FileId) -> Option<Sidecar> {
    let raw = match fs::read(sidecar_path(root, key)) {
        Ok(raw) => raw,
        Err(e) => {
            if !is_absent(&e) {
                tracing::warn!(key, error = %e, "cannot read object metadata sidecar");
            }
            return None;
        }
    };
    match serde_json::from_slice::<Sidecar>(&raw) {
        Ok(sidecar) if sidecar.file == file => Some(sidecar),
        Ok(_) => {
            tracing::warn!(
                key,
                "object metadata sidecar is stale (interrupted write); ignored"
            );
            None
        }
        Err(e) => {
            tracing::warn!(key, error = %e, "object metadata sidecar is corrupt; ignored");
            None
        }
    }
}

/// Moves the fsynced temporary file into place, fsyncs the directory, then writes the sidecar
/// (best effort).
fn commit(
    root: &Path,
    key: &str,
    mut tmp: TempGuard,
    if_none_match: bool,
    sidecar: &Sidecar,
) -> Result<(), StoreError> {
    let op = "put";
    let final_path = root.join(key);
    let dir = final_path
        .parent()
        .ok_or_else(|| StoreError::other(op, key, "object path has no parent"))?
        .to_path_buf();
    if if_none_match {
        match fs::hard_link(tmp.path(), &final_path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                if final_path.is_dir() {
                    return Err(map_io(op, key, io::ErrorKind::IsADirectory.into()));
                }
                return Err(StoreError::AlreadyExists {
                    key: key.to_owned(),
                });
            }
            Err(e) => return Err(map_io(op, key, e)),
        }
        // The object is committed; a leftover temporary name is only untidy.
        drop(tmp);
    } else {
        fs::rename(tmp.path(), &final_path).map_err(|e| map_io(op, key, e))?;
        tmp.disarm();
    }
    sync_dir(&dir).map_err(|e| map_io(op, key, e))?;
    // The object is committed and durable. Failing now would make a caller retry a
    // create-if-absent put and then see its own object as someone else's; like the S3 store's
    // sha256 tag, the sidecar is best effort (its absence is detected and shown as "no metadata").
    if let Err(e) = write_sidecar(root, key, sidecar) {
        tracing::warn!(key, error = %e, "could not write the object's metadata sidecar");
    }
    Ok(())
}

async fn blocking<T, F>(op: &'static str, key: &str, f: F) -> Result<T, StoreError>
where
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::other(op, key, format!("blocking task failed: {e}")))?
}

impl LocalDirStore {
    /// Opens (creating it if needed) the store rooted at `root`.
    pub async fn new(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let root: PathBuf = root.into();
        let shown = root.display().to_string();
        let root = blocking("open", "", move || {
            fs::create_dir_all(&root)
                .and_then(|()| fs::canonicalize(&root))
                .map_err(|e| {
                    StoreError::Configuration(format!(
                        "cannot open the local store directory {shown}: {e}"
                    ))
                })
        })
        .await?;
        Ok(Self {
            root: Arc::new(root),
        })
    }

    /// Removes temporary files (`.<name>.tmp-<uuid>`, objects and sidecars) older than
    /// `min_age`: what a process killed mid-write leaves behind. Younger ones may belong to a
    /// write in progress in another process and are kept. Returns how many were removed.
    pub async fn sweep_temporary(&self, min_age: std::time::Duration) -> Result<usize, StoreError> {
        let root = Arc::clone(&self.root);
        blocking("sweep", "", move || {
            let cutoff = std::time::SystemTime::now()
                .checked_sub(min_age)
                .unwrap_or(std::time::UNIX_EPOCH);
            sweep(&root, cutoff).map_err(|e| map_io("sweep", "", e))
        })
        .await
    }

    /// The store's root directory (canonical).
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn check_options(opts: &PutOptions) -> Result<(), StoreError> {
        opts.validate()?;
        if opts.lock.is_some() || opts.legal_hold {
            return Err(StoreError::Configuration(
                "object lock is not supported by the local directory store".to_owned(),
            ));
        }
        Ok(())
    }

    async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        match tokio::fs::symlink_metadata(self.root.join(key)).await {
            Ok(_) => Ok(true),
            Err(e) if is_absent(&e) => Ok(false),
            Err(e) => Err(map_io("put", key, e)),
        }
    }
}

#[async_trait]
impl ObjectStore for LocalDirStore {
    fn describe(&self) -> String {
        format!("file://{}", self.root.display())
    }

    async fn put(&self, key: &str, body: Bytes, opts: &PutOptions) -> Result<Stored, StoreError> {
        validate_key(key)?;
        Self::check_options(opts)?;
        let root = Arc::clone(&self.root);
        let owned_key = key.to_owned();
        let opts = opts.clone();
        let bytes = body.len() as u64;
        let sha256: [u8; 32] = blocking("put", key, move || {
            let key = owned_key.as_str();
            let op = "put";
            let sha256: [u8; 32] = Sha256::digest(&body).into();
            let (dir, name) = split_key(key);
            let dir = ensure_dir(&root, dir).map_err(|e| map_io(op, key, e))?;
            let tmp = TempGuard::new(dir.join(temp_name(name)));
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(tmp.path())
                .map_err(|e| map_io(op, key, e))?;
            file.write_all(&body).map_err(|e| map_io(op, key, e))?;
            file.sync_all().map_err(|e| map_io(op, key, e))?;
            let id = FileId::of(&file.metadata().map_err(|e| map_io(op, key, e))?);
            drop(file);
            let sidecar = Sidecar {
                content_type: opts.content_type,
                sha256: hex::encode(sha256),
                bytes: body.len() as u64,
                file: id,
                metadata: opts.metadata,
            };
            commit(&root, key, tmp, opts.if_none_match, &sidecar)?;
            Ok(sha256)
        })
        .await?;
        tracing::debug!(key, bytes, "stored object in local directory");
        Ok(Stored {
            key: key.to_owned(),
            bytes,
            sha256,
            version_id: None,
            e_tag: None,
        })
    }

    async fn put_stream(
        &self,
        key: &str,
        mut body: ByteStream,
        opts: &PutOptions,
    ) -> Result<Stored, StoreError> {
        let op = "put";
        validate_key(key)?;
        Self::check_options(opts)?;
        // Fast path only: the hard link below decides.
        if opts.if_none_match && self.exists(key).await? {
            return Err(StoreError::AlreadyExists {
                key: key.to_owned(),
            });
        }
        let root = Arc::clone(&self.root);
        let (dir, name) = split_key(key);
        let dir = {
            let (root, rel) = (Arc::clone(&root), dir.to_owned());
            let k = key.to_owned();
            blocking(op, key, move || {
                ensure_dir(&root, &rel).map_err(|e| map_io(op, &k, e))
            })
            .await?
        };
        let tmp = TempGuard::new(dir.join(temp_name(name)));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(tmp.path())
            .await
            .map_err(|e| map_io(op, key, e))?;
        let mut writer = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file);
        let mut hasher = Sha256::new();
        let mut bytes = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|source| StoreError::Body {
                key: key.to_owned(),
                source,
            })?;
            hasher.update(&chunk);
            bytes += chunk.len() as u64;
            writer
                .write_all(&chunk)
                .await
                .map_err(|e| map_io(op, key, e))?;
        }
        writer.flush().await.map_err(|e| map_io(op, key, e))?;
        let file = writer.into_inner();
        file.sync_all().await.map_err(|e| map_io(op, key, e))?;
        let id = FileId::of(&file.metadata().await.map_err(|e| map_io(op, key, e))?);
        drop(file);
        let sha256: [u8; 32] = hasher.finalize().into();
        let sidecar = Sidecar {
            content_type: opts.content_type.clone(),
            sha256: hex::encode(sha256),
            bytes,
            file: id,
            metadata: opts.metadata.clone(),
        };
        let if_none_match = opts.if_none_match;
        let k = key.to_owned();
        blocking(op, key, move || {
            commit(&root, &k, tmp, if_none_match, &sidecar)
        })
        .await?;
        tracing::debug!(key, bytes, "stored streamed object in local directory");
        Ok(Stored {
            key: key.to_owned(),
            bytes,
            sha256,
            version_id: None,
            e_tag: None,
        })
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        validate_key(key)?;
        match tokio::fs::read(self.root.join(key)).await {
            Ok(data) => Ok(Some(Bytes::from(data))),
            Err(e) if is_absent(&e) => Ok(None),
            Err(e) => Err(map_io("get", key, e)),
        }
    }

    async fn get_stream(&self, key: &str) -> Result<Option<ByteStream>, StoreError> {
        validate_key(key)?;
        let file = match tokio::fs::File::open(self.root.join(key)).await {
            Ok(file) => file,
            Err(e) if is_absent(&e) => return Ok(None),
            Err(e) => return Err(map_io("get", key, e)),
        };
        let meta = file.metadata().await.map_err(|e| map_io("get", key, e))?;
        if !meta.is_file() {
            return Ok(None);
        }
        Ok(Some(
            tokio_util::io::ReaderStream::with_capacity(file, READ_CHUNK).boxed(),
        ))
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, StoreError> {
        validate_key(key)?;
        let root = Arc::clone(&self.root);
        let k = key.to_owned();
        blocking("head", key, move || {
            let meta = match fs::metadata(root.join(&k)) {
                Ok(meta) if meta.is_file() => meta,
                Ok(_) => return Ok(None),
                Err(e) if is_absent(&e) => return Ok(None),
                Err(e) => return Err(map_io("head", &k, e)),
            };
            let (content_type, metadata) = match read_sidecar(&root, &k, FileId::of(&meta)) {
                Some(sidecar) => {
                    let mut metadata = sidecar.metadata;
                    metadata.insert(SHA256_METADATA_KEY.to_owned(), sidecar.sha256);
                    (Some(sidecar.content_type), metadata)
                }
                None => (None, BTreeMap::new()),
            };
            Ok(Some(ObjectInfo {
                bytes: meta.len(),
                last_modified: meta.modified().ok().map(DateTime::<Utc>::from),
                content_type,
                version_id: None,
                metadata,
                key: k,
            }))
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        validate_prefix(prefix)?;
        let root = Arc::clone(&self.root);
        let prefix = prefix.to_owned();
        blocking("list", &prefix.clone(), move || {
            let start = split_key(&prefix).0;
            let mut out = Vec::new();
            let start_rel = if start.is_empty() {
                String::new()
            } else {
                format!("{start}/")
            };
            walk(&root.join(start), &start_rel, &prefix, &mut out)
                .map_err(|e| map_io("list", &prefix, e))?;
            out.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(out)
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        validate_key(key)?;
        let root = Arc::clone(&self.root);
        let k = key.to_owned();
        blocking("delete", key, move || {
            let path = root.join(&k);
            match fs::remove_file(&path) {
                Ok(()) => {
                    if let Some(dir) = path.parent() {
                        sync_dir(dir).map_err(|e| map_io("delete", &k, e))?;
                    }
                }
                Err(e) if is_absent(&e) => {}
                Err(e) => return Err(map_io("delete", &k, e)),
            }
            match fs::remove_file(sidecar_path(&root, &k)) {
                Ok(()) => Ok(()),
                Err(e) if is_absent(&e) => Ok(()),
                Err(e) => Err(map_io("delete", &k, e)),
            }
        })
        .await?;
        tracing::debug!(key, "deleted object from local directory");
        Ok(())
    }

    async fn check(&self) -> Result<(), StoreError> {
        let root = Arc::clone(&self.root);
        blocking("check", "", move || {
            let unusable = |e: io::Error| {
                StoreError::Configuration(format!(
                    "local store directory {} is not usable: {e}",
                    root.display()
                ))
            };
            let meta = fs::metadata(&*root).map_err(unusable)?;
            if !meta.is_dir() {
                return Err(unusable(io::ErrorKind::NotADirectory.into()));
            }
            let probe =
                TempGuard::new(root.join(format!(".probe-{}", uuid::Uuid::new_v4().simple())));
            fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(probe.path())
                .map_err(unusable)?;
            drop(probe);
            Ok(())
        })
        .await
    }
}

/// Whether `name` is one of this store's temporary names (see [`temp_name`]).
fn is_temp_name(name: &str) -> bool {
    name.starts_with('.')
        && name
            .rsplit_once(".tmp-")
            .is_some_and(|(_, id)| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Removes temporary files last modified before `cutoff` under `dir`, `.meta/` included.
fn sweep(dir: &Path, cutoff: std::time::SystemTime) -> io::Result<usize> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if is_absent(&e) => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        let file_type = entry.file_type()?;
        let name = entry.file_name();
        if file_type.is_dir() {
            removed += sweep(&entry.path(), cutoff)?;
        } else if file_type.is_file()
            && name.to_str().is_some_and(is_temp_name)
            && entry.metadata()?.modified()? < cutoff
        {
            match fs::remove_file(entry.path()) {
                Ok(()) => removed += 1,
                Err(e) if is_absent(&e) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(removed)
}

/// Collects the objects under `dir` (whose key prefix is `rel`, empty or ending in `/`) whose
/// keys start with `prefix`, skipping hidden entries and anything that is not a regular file or
/// directory.
fn walk(dir: &Path, rel: &str, prefix: &str, out: &mut Vec<ObjectInfo>) -> io::Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if is_absent(&e) => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue; // not a key this store wrote
        };
        if name.starts_with('.') {
            continue;
        }
        let file_type = entry.file_type()?;
        let key = format!("{rel}{name}");
        if file_type.is_dir() {
            let sub = format!("{key}/");
            if sub.starts_with(prefix) || prefix.starts_with(&sub) {
                walk(&entry.path(), &sub, prefix, out)?;
            }
        } else if file_type.is_file() && key.starts_with(prefix) {
            let meta = match entry.metadata() {
                Ok(meta) => meta,
                Err(e) if is_absent(&e) => continue, // deleted meanwhile
                Err(e) => return Err(e),
            };
            out.push(ObjectInfo {
                key,
                bytes: meta.len(),
                last_modified: meta.modified().ok().map(DateTime::<Utc>::from),
                content_type: None,
                version_id: None,
                metadata: BTreeMap::new(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance::{self, Profile};
    use crate::store::{LockMode, ObjectLock};

    fn profile() -> Profile {
        Profile {
            part_size: 256 << 10,
            list_keys: 1100,
            concurrent_creates: 8,
            atomic_stream_creates: true,
        }
    }

    async fn fresh() -> (tempfile::TempDir, LocalDirStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalDirStore::new(dir.path().join("store")).await.unwrap();
        (dir, store)
    }

    /// Every file under the root, hidden ones included, relative and `/`-separated.
    fn all_files(root: &Path) -> Vec<String> {
        fn rec(dir: &Path, rel: &str, out: &mut Vec<String>) {
            for e in fs::read_dir(dir).unwrap() {
                let e = e.unwrap();
                let name = format!("{rel}{}", e.file_name().to_str().unwrap());
                if e.file_type().unwrap().is_dir() {
                    rec(&e.path(), &format!("{name}/"), out);
                } else {
                    out.push(name);
                }
            }
        }
        let mut out = Vec::new();
        rec(root, "", &mut out);
        out.sort();
        out
    }

    #[tokio::test]
    async fn temporary_files_left_by_a_crash_are_swept_once_old_enough() {
        let (_dir, store) = fresh().await;
        store
            .put(
                "tx/a/one.bin",
                Bytes::from_static(b"kept"),
                &PutOptions::default(),
            )
            .await
            .unwrap();
        let root = store.root().to_path_buf();
        let crashed = [
            root.join("tx/a").join(temp_name("two.bin")),
            root.join(".meta/tx/a").join(temp_name("two.bin.json")),
        ];
        for path in &crashed {
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, b"partial").unwrap();
        }
        // Too young: perhaps another process is writing them.
        assert_eq!(
            store
                .sweep_temporary(std::time::Duration::from_secs(3600))
                .await
                .unwrap(),
            0
        );
        assert!(crashed.iter().all(|p| p.exists()));
        assert_eq!(
            store
                .sweep_temporary(std::time::Duration::ZERO)
                .await
                .unwrap(),
            2
        );
        assert_no_temp_files(&root);
        assert_eq!(
            store.get("tx/a/one.bin").await.unwrap().unwrap(),
            Bytes::from_static(b"kept")
        );
        assert!(!is_temp_name(".tmp-x") && !is_temp_name("a.tmp-0123456789abcdef0123456789abcdef"));
    }

    fn assert_no_temp_files(root: &Path) {
        let files = all_files(root);
        let temps: Vec<_> = files.iter().filter(|f| f.contains(".tmp-")).collect();
        assert!(temps.is_empty(), "temporary files left: {temps:?}");
    }

    macro_rules! conformance_tests {
        ($($name:ident => |$s:ident, $p:ident| $body:expr;)*) => {$(
            #[tokio::test]
            async fn $name() {
                let (_dir, store) = fresh().await;
                let $s: &dyn ObjectStore = &store;
                let $p = profile();
                let _ = &$p;
                $body.await;
                assert_no_temp_files(store.root());
            }
        )*};
    }

    conformance_tests! {
        conformance_check => |s, p| conformance::check_succeeds(s);
        conformance_round_trip => |s, p| conformance::put_get_round_trip(s);
        conformance_head_metadata => |s, p| conformance::head_reports_metadata(s);
        conformance_overwrite => |s, p| conformance::overwrite_replaces(s);
        conformance_conditional_create => |s, p| conformance::conditional_create(s);
        conformance_concurrent_creates => |s, p| conformance::concurrent_conditional_creates(s, 8);
        conformance_concurrent_stream_creates =>
            |s, p| conformance::concurrent_conditional_stream_creates(s, &p, 4);
        conformance_stream_round_trip => |s, p| conformance::stream_round_trip(s, &p);
        conformance_stream_boundaries => |s, p| conformance::stream_part_boundaries(s, &p);
        conformance_empty_stream => |s, p| conformance::empty_stream(s);
        conformance_stream_error => |s, p| async {
            conformance::stream_error_leaves_nothing(s, &p).await;
        };
        conformance_list => |s, p| conformance::list_prefix_and_pagination(s, p.list_keys);
        conformance_delete => |s, p| conformance::delete_removes(s);
        conformance_missing => |s, p| conformance::missing_keys(s);
        conformance_invalid_keys => |s, p| conformance::invalid_keys_rejected(s);
        conformance_run_all_on_one_store => |s, p| conformance::run_all(s, &p);
    }

    #[tokio::test]
    async fn layout_on_disk_hides_bookkeeping() {
        let (_dir, store) = fresh().await;
        let mut o = PutOptions::with_content_type("application/json");
        o.metadata.insert("kind".into(), "manifest".into());
        store
            .put("tx-1/manifest.json", Bytes::from_static(b"{}"), &o)
            .await
            .unwrap();
        store
            .put_stream(
                "tx-1/a1/video.mp4",
                conformance::chunked_stream(Bytes::from_static(b"video"), &[2]),
                &PutOptions::default(),
            )
            .await
            .unwrap();
        assert_eq!(
            all_files(store.root()),
            [
                ".meta/tx-1/a1/video.mp4.json",
                ".meta/tx-1/manifest.json.json",
                "tx-1/a1/video.mp4",
                "tx-1/manifest.json",
            ]
        );
        // Stray hidden files (a crash's leftovers, editor files) never show up in listings.
        fs::write(store.root().join("tx-1/.video.mp4.tmp-123"), b"partial").unwrap();
        fs::write(store.root().join(".DS_Store"), b"x").unwrap();
        fs::create_dir(store.root().join("tx-1/.hidden-dir")).unwrap();
        fs::write(store.root().join("tx-1/.hidden-dir/file"), b"x").unwrap();
        let keys: Vec<String> = store
            .list("")
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect();
        assert_eq!(keys, ["tx-1/a1/video.mp4", "tx-1/manifest.json"]);
        let sidecar: serde_json::Value = serde_json::from_slice(
            &fs::read(store.root().join(".meta/tx-1/manifest.json.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(sidecar["content_type"], "application/json");
        assert_eq!(sidecar["metadata"]["kind"], "manifest");
        assert_eq!(sidecar["sha256"], hex::encode(conformance::sha256(b"{}")));
        assert!(store.describe().starts_with("file:///"));
    }

    #[tokio::test]
    async fn lock_and_legal_hold_are_refused() {
        let (_dir, store) = fresh().await;
        let locked = PutOptions {
            lock: Some(ObjectLock {
                mode: LockMode::Compliance,
                retain_until: Utc::now() + chrono::Duration::days(1),
            }),
            ..PutOptions::default()
        };
        let held = PutOptions {
            legal_hold: true,
            ..PutOptions::default()
        };
        for o in [&locked, &held] {
            let r = store.put("k", Bytes::from_static(b"x"), o).await;
            assert!(
                matches!(&r, Err(StoreError::Configuration(m)) if m == "object lock is not supported by the local directory store"),
                "{r:?}"
            );
            let r = store
                .put_stream("k", conformance::chunked_stream(Bytes::new(), &[1]), o)
                .await;
            assert!(matches!(r, Err(StoreError::Configuration(_))), "{r:?}");
        }
        assert!(store.get("k").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn losing_conditional_create_keeps_the_winners_metadata() {
        let (_dir, store) = fresh().await;
        let mut a = PutOptions::with_content_type("application/json");
        a.if_none_match = true;
        a.metadata.insert("attempt".into(), "a".into());
        let mut b = a.clone();
        b.content_type = "text/plain".into();
        b.metadata.insert("attempt".into(), "b".into());
        store.put("m", Bytes::from_static(b"A"), &a).await.unwrap();
        let r = store.put("m", Bytes::from_static(b"BB"), &b).await;
        assert!(matches!(r, Err(StoreError::AlreadyExists { .. })));
        let info = store.head("m").await.unwrap().unwrap();
        assert_eq!(info.content_type.as_deref(), Some("application/json"));
        assert_eq!(info.metadata["attempt"], "a");
        assert_eq!(info.sha256(), Some(conformance::sha256(b"A")));
        assert_no_temp_files(store.root());
    }

    #[tokio::test]
    async fn stale_sidecar_is_never_attributed_to_a_newer_object() {
        let (_dir, store) = fresh().await;
        let mut o = PutOptions::default();
        o.metadata.insert("attempt".into(), "old".into());
        store
            .put("k", Bytes::from_static(b"old"), &o)
            .await
            .unwrap();
        // Simulate a crash after the object was renamed into place but before its sidecar was.
        let tmp = store.root().join(".k.tmp-crash");
        fs::write(&tmp, b"new bytes").unwrap();
        fs::rename(&tmp, store.root().join("k")).unwrap();
        let info = store.head("k").await.unwrap().unwrap();
        assert_eq!(info.bytes, 9);
        assert!(info.metadata.is_empty(), "{:?}", info.metadata);
        assert_eq!(info.content_type, None);
        assert_eq!(store.get("k").await.unwrap().unwrap(), &b"new bytes"[..]);
    }

    #[tokio::test]
    async fn cancelled_stream_leaves_no_temporary_file() {
        let (_dir, store) = fresh().await;
        let body = futures::stream::iter(vec![Ok(Bytes::from(vec![1u8; 3 << 20]))])
            .chain(futures::stream::pending())
            .boxed();
        let r = tokio::time::timeout(
            std::time::Duration::from_millis(300),
            store.put_stream("tx/video.mp4", body, &PutOptions::default()),
        )
        .await;
        assert!(r.is_err(), "the put should still be waiting for the stream");
        assert_no_temp_files(store.root());
        assert!(store.get("tx/video.mp4").await.unwrap().is_none());
        assert!(store.list("").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_key_cannot_be_both_object_and_prefix() {
        let (_dir, store) = fresh().await;
        let o = PutOptions::default();
        store.put("a", Bytes::from_static(b"1"), &o).await.unwrap();
        let r = store.put("a/b", Bytes::from_static(b"2"), &o).await;
        assert!(matches!(r, Err(StoreError::Other { .. })), "{r:?}");
        store
            .put("x/y", Bytes::from_static(b"3"), &o)
            .await
            .unwrap();
        for if_none_match in [false, true] {
            let o = PutOptions {
                if_none_match,
                ..PutOptions::default()
            };
            let r = store.put("x", Bytes::from_static(b"4"), &o).await;
            assert!(matches!(r, Err(StoreError::Other { .. })), "{r:?}");
        }
        assert!(store.get("x").await.unwrap().is_none());
        assert!(store.head("x").await.unwrap().is_none());
        assert!(store.get_stream("x").await.unwrap().is_none());
        store.delete("x").await.unwrap();
        assert_eq!(store.get("x/y").await.unwrap().unwrap(), &b"3"[..]);
        assert_no_temp_files(store.root());
    }

    #[tokio::test]
    async fn check_reports_a_missing_root() {
        let (_dir, store) = fresh().await;
        store.check().await.unwrap();
        assert_no_temp_files(store.root());
        assert!(
            all_files(store.root()).is_empty(),
            "the probe file was left behind"
        );
        fs::remove_dir_all(store.root()).unwrap();
        let r = store.check().await;
        assert!(matches!(r, Err(StoreError::Configuration(_))), "{r:?}");
    }
}
