//! Unpacking an application's archives where its driver runs, as the cluster
//! does: a NodeManager for a YARN local resource of type `ARCHIVE`
//! (`FSDownload`), spark-submit in a Kubernetes driver pod or on EMR for the
//! items of `spark.archives` (`Utils.unpack`). The archive's own file name
//! says what it is, as it does for them: `.zip` (and `.jar`), `.tar.gz` or
//! `.tgz`, `.tar`; any other file is copied as it is, with a warning.
//!
//! Entries naming a path outside the directory (`../x`, `/etc/x`) are not
//! written: the `zip` and `tar` crates check every path before writing it.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

/// Unpacks `src`, whose format `name` (its file name on the cluster) tells,
/// into the directory `dst`, made first. The error reads as the JVM's would.
pub(crate) fn unpack(src: &Path, name: &str, dst: &Path) -> Result<(), String> {
    let io = |e: &dyn std::fmt::Display| format!("java.io.IOException: unpacking {name}: {e}");
    let lower = name.to_ascii_lowercase();
    let format = Format::of(&lower);
    if format == Format::Other {
        tracing::warn!(archive = name, "cannot unpack: not a .zip, .tar.gz, .tgz or .tar; copied as it is");
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(&e))?;
        }
        std::fs::copy(src, dst).map_err(|e| io(&e))?;
        return Ok(());
    }
    std::fs::create_dir_all(dst).map_err(|e| io(&e))?;
    let file = BufReader::new(File::open(src).map_err(|e| io(&e))?);
    match format {
        Format::Zip => zip::ZipArchive::new(file).and_then(|mut z| z.extract(dst)).map_err(|e| io(&e)),
        Format::TarGz => tar::Archive::new(flate2::bufread::GzDecoder::new(file)).unpack(dst).map_err(|e| io(&e)),
        Format::Tar => tar::Archive::new(file).unpack(dst).map_err(|e| io(&e)),
        Format::Other => unreachable!("copied above"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Zip,
    TarGz,
    Tar,
    Other,
}

impl Format {
    /// By a lowercase file name.
    fn of(name: &str) -> Format {
        if name.ends_with(".zip") || name.ends_with(".jar") {
            Format::Zip
        } else if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
            Format::TarGz
        } else if name.ends_with(".tar") {
            Format::Tar
        } else {
            Format::Other
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn tar_bytes(entries: &[(&str, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, text) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(text.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, path, text.as_bytes()).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn unpacks_zip_tar_gz_and_tar_by_the_name_and_copies_anything_else() {
        let d = tempfile::tempdir().unwrap();
        let zip_path = d.path().join("a.zip");
        let mut z = zip::ZipWriter::new(File::create(&zip_path).unwrap());
        let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        z.start_file("sub/inner.txt", opts).unwrap();
        z.write_all(b"from the zip").unwrap();
        z.finish().unwrap();
        unpack(&zip_path, "a.ZIP", &d.path().join("za")).unwrap();
        assert_eq!(std::fs::read_to_string(d.path().join("za/sub/inner.txt")).unwrap(), "from the zip");

        let tgz_path = d.path().join("b");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&tar_bytes(&[("inner.txt", "from the tgz")])).unwrap();
        std::fs::write(&tgz_path, gz.finish().unwrap()).unwrap();
        unpack(&tgz_path, "env.tgz", &d.path().join("env")).unwrap();
        assert_eq!(std::fs::read_to_string(d.path().join("env/inner.txt")).unwrap(), "from the tgz");

        let tar_path = d.path().join("c.tar");
        std::fs::write(&tar_path, tar_bytes(&[("x/y.txt", "from the tar")])).unwrap();
        unpack(&tar_path, "c.tar", &d.path().join("t")).unwrap();
        assert_eq!(std::fs::read_to_string(d.path().join("t/x/y.txt")).unwrap(), "from the tar");

        std::fs::write(d.path().join("plain.bin"), "not an archive").unwrap();
        unpack(&d.path().join("plain.bin"), "plain.bin", &d.path().join("p")).unwrap();
        assert_eq!(std::fs::read_to_string(d.path().join("p")).unwrap(), "not an archive");
    }

    #[test]
    fn a_broken_archive_fails_as_an_io_exception() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("bad.zip"), "not a zip").unwrap();
        let e = unpack(&d.path().join("bad.zip"), "bad.zip", &d.path().join("bad")).unwrap_err();
        assert!(e.starts_with("java.io.IOException: unpacking bad.zip"), "{e}");
    }
}
