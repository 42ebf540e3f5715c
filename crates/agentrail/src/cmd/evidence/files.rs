//! Writing a bundle (a directory or a `.zip`) and reading one back without trusting it: every
//! name is checked before anything is opened, nothing outside the bundle is ever followed, and
//! reads are capped.

use super::{valid_path, MANIFEST};
use agentrail_core::Hash;
use anyhow::{anyhow, bail, Context, Result};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// The most bytes one file of a bundle is read into memory with (the population's leaves are
/// streamed instead).
pub const MAX_FILE: u64 = 256 << 20;

/// The name problems with a zip's layout are reported under.
pub const ZIP_STRUCTURE: &str = "(zip layout)";

/// True when `path` names a zip bundle.
pub fn is_zip(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("zip"))
}

enum Sink {
    Dir(PathBuf),
    Zip(Box<zip::ZipWriter<BufWriter<File>>>),
}

/// Where a bundle is written until it is complete: a temporary directory or file next to its
/// destination, created exclusively under a random name (mode 0700 / 0600: a bundle holds whole
/// events), removed if the bundle is never finished.
enum Tmp {
    Dir(tempfile::TempDir),
    File(tempfile::NamedTempFile),
}

/// Writes a bundle into a temporary sibling of its destination, and moves it into place only
/// when complete: a bundle that exists is a whole one.
pub struct Writer {
    dest: PathBuf,
    /// None once finished.
    tmp: Option<Tmp>,
    /// None once finished (or failed to finish).
    sink: Option<Sink>,
    hashes: BTreeMap<String, Hash>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").field("dest", &self.dest).finish()
    }
}

/// Checks `--out` before any work: it must not exist, and its directory must.
pub fn check_out(dest: &Path) -> Result<()> {
    if std::fs::symlink_metadata(dest).is_ok() {
        bail!(
            "--out {}: already exists: give a new path (a bundle is never written over anything)",
            dest.display()
        );
    }
    if dest.file_name().is_none() {
        bail!("--out {}: has no file name", dest.display());
    }
    let parent = parent_of(dest);
    if !parent.is_dir() {
        bail!(
            "--out {}: its directory {} does not exist",
            dest.display(),
            parent.display()
        );
    }
    Ok(())
}

fn parent_of(dest: &Path) -> PathBuf {
    match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

impl Writer {
    pub fn create(dest: &Path) -> Result<Writer> {
        check_out(dest)?;
        let parent = parent_of(dest);
        let mut prefix = std::ffi::OsString::from(".");
        prefix.push(dest.file_name().unwrap_or_default());
        prefix.push(".partial-");
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix);
        let (tmp, sink) = if is_zip(dest) {
            let t = builder
                .tempfile_in(&parent)
                .with_context(|| format!("creating a temporary file in {}", parent.display()))?;
            let f = t.reopen().context("opening the temporary zip")?;
            (
                Tmp::File(t),
                Sink::Zip(Box::new(zip::ZipWriter::new(BufWriter::new(f)))),
            )
        } else {
            let t = builder.tempdir_in(&parent).with_context(|| {
                format!("creating a temporary directory in {}", parent.display())
            })?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o700))
                    .with_context(|| format!("restricting {}", t.path().display()))?;
            }
            let root = t.path().to_path_buf();
            (Tmp::Dir(t), Sink::Dir(root))
        };
        Ok(Writer {
            dest: dest.to_path_buf(),
            tmp: Some(tmp),
            sink: Some(sink),
            hashes: BTreeMap::new(),
        })
    }

    /// Adds one file.
    pub fn put(&mut self, path: &str, bytes: &[u8]) -> Result<()> {
        self.put_with(path, |w| {
            w.write_all(bytes)
                .with_context(|| format!("writing {path}"))
        })
    }

    /// Adds one file whose bytes `fill` writes, streamed (and hashed) as they come.
    pub fn put_with(
        &mut self,
        path: &str,
        fill: impl FnOnce(&mut dyn Write) -> Result<()>,
    ) -> Result<()> {
        if !valid_path(path) || path == MANIFEST {
            bail!("internal error: {path:?} is not a name a bundle may hold");
        }
        if self.hashes.contains_key(path) {
            bail!("internal error: {path:?} written twice");
        }
        let hash = self.write(path, fill)?;
        self.hashes.insert(path.to_string(), hash);
        Ok(())
    }

    fn write(
        &mut self,
        path: &str,
        fill: impl FnOnce(&mut dyn Write) -> Result<()>,
    ) -> Result<Hash> {
        let mut w = Hashing {
            inner: self.entry(path)?,
            hasher: Sha256::new(),
        };
        fill(&mut w)?;
        w.flush().with_context(|| format!("writing {path}"))?;
        Ok(Hash(w.hasher.finalize().into()))
    }

    /// A writer for a new entry.
    fn entry(&mut self, path: &str) -> Result<Box<dyn Write + '_>> {
        match self
            .sink
            .as_mut()
            .context("the bundle is already finished")?
        {
            Sink::Dir(root) => {
                let full = root.join(path);
                if let Some(dir) = full.parent() {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("creating {}", dir.display()))?;
                }
                let f =
                    File::create(&full).with_context(|| format!("creating {}", full.display()))?;
                Ok(Box::new(BufWriter::new(f)))
            }
            Sink::Zip(z) => {
                let options = zip::write::SimpleFileOptions::default()
                    .compression_method(zip::CompressionMethod::Deflated)
                    .unix_permissions(0o644);
                z.start_file(path, options)
                    .with_context(|| format!("adding {path} to the zip"))?;
                Ok(Box::new(z.as_mut()))
            }
        }
    }

    /// Every file written so far, with its SHA-256.
    pub fn hashes(&self) -> &BTreeMap<String, Hash> {
        &self.hashes
    }

    /// Writes the signed manifest, then moves the bundle into place.
    pub fn finish(mut self, manifest: &str) -> Result<PathBuf> {
        self.write(MANIFEST, |w| {
            w.write_all(manifest.as_bytes())
                .context("writing the manifest")
        })?;
        match self.sink.take() {
            None | Some(Sink::Dir(_)) => {}
            Some(Sink::Zip(z)) => {
                let mut w = z.finish().context("finishing the zip")?;
                w.flush().context("writing the zip")?;
                w.get_ref().sync_all().context("syncing the zip")?;
            }
        }
        let exists = |dest: &Path| {
            anyhow!(
                "--out {}: appeared while the bundle was written; the bundle was not moved over it",
                dest.display()
            )
        };
        match self.tmp.take() {
            // Never over anything: linked into place, which fails if the name exists.
            Some(Tmp::File(t)) => {
                t.persist_noclobber(&self.dest).map_err(|e| {
                    if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                        exists(&self.dest)
                    } else {
                        anyhow::Error::new(e.error)
                            .context(format!("moving the bundle to {}", self.dest.display()))
                    }
                })?;
            }
            Some(Tmp::Dir(t)) => {
                if std::fs::symlink_metadata(&self.dest).is_ok() {
                    return Err(exists(&self.dest));
                }
                let path = t.keep();
                std::fs::rename(&path, &self.dest).with_context(|| {
                    format!(
                        "moving {} into place at {}",
                        path.display(),
                        self.dest.display()
                    )
                })?;
            }
            None => bail!("the bundle is already finished"),
        }
        Ok(self.dest.clone())
    }
}

/// A bundle opened for checking.
pub enum Reader {
    Dir(PathBuf),
    Zip(Box<zip::ZipArchive<File>>),
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reader")
    }
}

/// What was found in a bundle: its files by name, and every entry that may not be there (with
/// the reason).
#[derive(Debug, Default)]
pub struct Listing {
    /// Files that may be read (valid names, regular files): name -> index in a zip.
    pub files: BTreeMap<String, usize>,
    /// (entry name as found, reason): entries that escape the bundle, are links, or have a
    /// name a bundle never holds.
    pub bad: Vec<(String, String)>,
}

impl Reader {
    pub fn open(path: &Path) -> Result<Reader> {
        let meta = std::fs::symlink_metadata(path)
            .with_context(|| format!("opening the bundle {}", path.display()))?;
        if meta.is_dir() {
            return Ok(Reader::Dir(path.to_path_buf()));
        }
        if !meta.is_file() {
            bail!("{} is neither a directory nor a .zip file", path.display());
        }
        let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let z = zip::ZipArchive::new(f)
            .with_context(|| format!("{} is not a readable zip archive", path.display()))?;
        Ok(Reader::Zip(Box::new(z)))
    }

    /// Every entry of the bundle, checked by name and type.
    pub fn list(&mut self) -> Result<Listing> {
        let mut out = Listing::default();
        match self {
            Reader::Dir(root) => walk(root, "", &mut out)?,
            Reader::Zip(z) => {
                for why in zip_layout(z)? {
                    out.bad.push((ZIP_STRUCTURE.into(), why));
                }
                for i in 0..z.len() {
                    let f = z
                        .by_index_raw(i)
                        .with_context(|| format!("reading zip entry {i}"))?;
                    let name = String::from_utf8_lossy(f.name_raw()).into_owned();
                    if f.is_dir() {
                        let dir = name.trim_end_matches('/');
                        if !valid_path(dir) {
                            out.bad
                                .push((name, "a directory entry that escapes the bundle".into()));
                        }
                        continue;
                    }
                    if f.is_symlink() {
                        out.bad.push((name, "a symbolic link".into()));
                        continue;
                    }
                    if f.enclosed_name().is_none() || name.contains('\\') || !valid_path(&name) {
                        out.bad.push((
                            name,
                            "a name that escapes the bundle or that no bundle holds".into(),
                        ));
                        continue;
                    }
                    if out.files.insert(name.clone(), i).is_some() {
                        out.bad.push((name, "the same name twice".into()));
                    }
                }
            }
        }
        Ok(out)
    }

    /// A streaming reader over one listed file.
    pub fn stream<'a>(&'a mut self, listing: &Listing, path: &str) -> Result<Box<dyn Read + 'a>> {
        let Some(&i) = listing.files.get(path) else {
            bail!("{path}: not in the bundle");
        };
        match self {
            Reader::Dir(root) => {
                let full = root.join(path);
                let f = File::open(&full).with_context(|| format!("opening {}", full.display()))?;
                Ok(Box::new(f))
            }
            Reader::Zip(z) => {
                Ok(Box::new(z.by_index(i).with_context(|| {
                    format!("{path}: unreadable zip entry")
                })?))
            }
        }
    }

    /// One listed file, whole (at most [`MAX_FILE`] bytes).
    #[allow(clippy::disallowed_methods)] // read_to_end behind take(max + 1): the bounded form
    pub fn read(&mut self, listing: &Listing, path: &str) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let n = self
            .stream(listing, path)?
            .take(MAX_FILE + 1)
            .read_to_end(&mut out)
            .with_context(|| format!("{path}: reading"))?;
        if n as u64 > MAX_FILE {
            bail!("{path}: larger than {MAX_FILE} bytes");
        }
        Ok(out)
    }

    /// The SHA-256 of one listed file, streamed.
    pub fn sha256(&mut self, listing: &Listing, path: &str) -> Result<Hash> {
        let mut r = self.stream(listing, path)?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = r
                .read(&mut buf)
                .with_context(|| format!("{path}: reading"))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        Ok(Hash(h.finalize().into()))
    }
}

/// What is wrong with a zip's layout: every byte before the central directory must belong to
/// exactly one entry it lists, entries back to back from the first byte. A zip reader keys
/// entries by name, so a second entry of the same name, or a local entry the central directory
/// does not list, would be invisible to this verifier and yet extracted by other tools; and
/// entries sharing data could make a small file expand without bound.
fn zip_layout(z: &mut zip::ZipArchive<File>) -> Result<Vec<String>> {
    let mut bad = Vec::new();
    if z.offset() != 0 {
        bad.push(format!("{} bytes precede the zip", z.offset()));
    }
    if z.has_duplicate_names() {
        bad.push("the central directory lists a name twice".into());
    }
    let mut spans = Vec::with_capacity(z.len());
    for i in 0..z.len() {
        let f = z
            .by_index(i)
            .with_context(|| format!("reading zip entry {i}"))?;
        let start = f.header_start();
        let data = f
            .data_start()
            .with_context(|| format!("zip entry {i}: no data offset"))?;
        let end = data.saturating_add(f.compressed_size());
        spans.push((
            start,
            end,
            String::from_utf8_lossy(f.name_raw()).into_owned(),
        ));
    }
    spans.sort();
    let mut at = 0u64;
    let mut misplaced = 0usize;
    for (start, end, name) in &spans {
        if *start != at {
            misplaced += 1;
            if misplaced <= 3 {
                bad.push(format!(
                    "entry {name} starts at byte {start}, where byte {at} was expected: bytes no entry lists, or entries that overlap"
                ));
            }
        }
        at = (*end).max(at);
    }
    if misplaced > 3 {
        bad.push(format!("{} more entries out of place", misplaced - 3));
    }
    if at != z.central_directory_start() {
        bad.push(format!(
            "bytes {at} to {} before the central directory belong to no listed entry",
            z.central_directory_start()
        ));
    }
    Ok(bad)
}

/// Lists a directory bundle: regular files only, never following a link.
fn walk(root: &Path, prefix: &str, out: &mut Listing) -> Result<()> {
    let dir = if prefix.is_empty() {
        root.to_path_buf()
    } else {
        root.join(prefix)
    };
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("listing {}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        let shown = format!("{prefix}{}", name.to_string_lossy());
        let Some(name) = name.to_str() else {
            out.bad.push((shown, "a name that is not UTF-8".into()));
            continue;
        };
        let rel = format!("{prefix}{name}");
        let ft = e
            .file_type()
            .with_context(|| format!("reading {}", e.path().display()))?;
        if ft.is_symlink() {
            out.bad.push((rel, "a symbolic link".into()));
        } else if ft.is_dir() {
            if valid_path(&rel) {
                walk(root, &format!("{rel}/"), out)?;
            } else {
                out.bad
                    .push((rel, "a directory with a name no bundle holds".into()));
            }
        } else if !ft.is_file() {
            out.bad.push((rel, "not a regular file".into()));
        } else if !valid_path(&rel) {
            out.bad.push((rel, "a name no bundle holds".into()));
        } else {
            out.files.insert(rel, 0);
        }
    }
    Ok(())
}

/// Passes bytes through and hashes them.
struct Hashing<W: Write> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
