//! The bounded reader against real files: links in and out of the directory, FIFOs,
//! devices, directories, sizes above the limit and files that grow while read.

use std::fs;
use std::io::Write;
use std::os::unix::fs::symlink;
use std::path::Path;

use super::*;

const APP: &str = "app directory";

fn mkfifo(path: &Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
}

#[test]
fn a_regular_file_is_read_and_hashed_whole() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("a"), b"hello").unwrap();
    let f = open_in(tmp.path(), Path::new("a"), APP, 5).unwrap();
    assert_eq!(f.size(), 5);
    assert_eq!(f.read_all().unwrap(), b"hello");
    let mut copy = Vec::new();
    let (hash, size) = open_regular(&tmp.path().join("a"), 5)
        .unwrap()
        .hash(Some(&mut copy))
        .unwrap();
    assert_eq!((hash, size), (Hash::of(b"hello"), 5));
    assert_eq!(copy, b"hello");
}

#[test]
fn the_size_is_checked_on_the_handle_before_reading() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("big");
    // Sparse: a 1 GiB file that is never read.
    fs::File::create(&path).unwrap().set_len(1 << 30).unwrap();
    let err = open_regular(&path, 1024).unwrap_err();
    assert!(
        matches!(err, FileError::TooLarge { size, max: 1024, .. } if size == 1 << 30),
        "{err}"
    );
    assert!(
        err.to_string()
            .ends_with("is 1073741824 bytes, more than the limit of 1024"),
        "{err}"
    );
}

#[test]
fn a_file_that_grows_while_read_stops_at_the_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("grows");
    fs::write(&path, [1u8; 50]).unwrap();
    for hash in [false, true] {
        let f = open_regular(&path, 100).unwrap();
        fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(&[2u8; 100])
            .unwrap();
        let err = if hash {
            f.hash(None).unwrap_err()
        } else {
            f.read_all().unwrap_err()
        };
        assert!(matches!(err, FileError::Grew { max: 100, .. }), "{err}");
        fs::write(&path, [1u8; 50]).unwrap();
    }
}

#[test]
fn fifos_devices_and_directories_are_refused_without_blocking() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("pipe");
    mkfifo(&fifo);
    let err = open_regular(&fifo, 100).unwrap_err();
    assert!(
        matches!(
            err,
            FileError::NotRegular {
                kind: FileKind::Fifo,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("is a FIFO, not a regular file"),
        "{err}"
    );
    // Through a link inside the directory too.
    symlink("pipe", tmp.path().join("to-pipe")).unwrap();
    let err = open_in(tmp.path(), Path::new("to-pipe"), APP, 100).unwrap_err();
    assert!(
        matches!(
            err,
            FileError::NotRegular {
                kind: FileKind::Fifo,
                ..
            }
        ),
        "{err}"
    );

    let err = open_regular(Path::new("/dev/zero"), 100).unwrap_err();
    assert!(
        err.to_string()
            .contains("/dev/zero is a character device, not a regular file"),
        "{err}"
    );
    let err = open_in(Path::new("/dev"), Path::new("zero"), APP, 100).unwrap_err();
    assert!(
        matches!(
            err,
            FileError::NotRegular {
                kind: FileKind::CharDevice,
                ..
            }
        ),
        "{err}"
    );

    fs::create_dir(tmp.path().join("d")).unwrap();
    let err = open_in(tmp.path(), Path::new("d"), APP, 100).unwrap_err();
    assert!(err.to_string().contains("is a directory"), "{err}");
}

#[test]
fn links_leaving_the_directory_are_refused_links_inside_it_followed() {
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("shadow");
    fs::write(&secret, b"root:secret").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let app = tmp.path();

    // The file itself.
    symlink(&secret, app.join("leak")).unwrap();
    let err = open_in(app, Path::new("leak"), APP, 100).unwrap_err();
    assert!(matches!(err, FileError::LeavesDir { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("is a symbolic link leaving the app directory"),
        "{err}"
    );
    // A parent directory (`images -> /etc`).
    symlink(outside.path(), app.join("images")).unwrap();
    let err = open_in(app, Path::new("images/shadow"), APP, 100).unwrap_err();
    assert!(matches!(err, FileError::LeavesDir { .. }), "{err}");
    // `..` out of the directory is the same.
    let err = open_in(
        app,
        &Path::new("..")
            .join(outside.path().file_name().unwrap())
            .join("shadow"),
        APP,
        100,
    )
    .unwrap_err();
    assert!(matches!(err, FileError::LeavesDir { .. }), "{err}");
    // /dev/zero by a link.
    symlink("/dev/zero", app.join("zero")).unwrap();
    let err = open_in(app, Path::new("zero"), APP, 100).unwrap_err();
    assert!(matches!(err, FileError::LeavesDir { .. }), "{err}");

    // Inside the directory, links are fine.
    fs::create_dir(app.join("build")).unwrap();
    fs::write(app.join("build/web.tar"), b"image").unwrap();
    fs::create_dir(app.join("img")).unwrap();
    symlink("../build/web.tar", app.join("img/web.tar")).unwrap();
    symlink("build", app.join("out")).unwrap();
    for rel in ["img/web.tar", "out/web.tar"] {
        let f = open_in(app, Path::new(rel), APP, 100).unwrap();
        assert_eq!(f.path(), app.join(rel));
        assert_eq!(f.read_all().unwrap(), b"image");
    }
    // ...but open_regular follows none.
    let err = open_regular(&app.join("img/web.tar"), 100).unwrap_err();
    assert!(matches!(err, FileError::Symlink { .. }), "{err}");
}

#[test]
fn missing_files_and_dangling_links_are_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let err = open_in(tmp.path(), Path::new("nope"), APP, 1).unwrap_err();
    assert!(matches!(err, FileError::Missing { .. }), "{err}");
    symlink("nowhere", tmp.path().join("dangling")).unwrap();
    let err = open_in(tmp.path(), Path::new("dangling"), APP, 1).unwrap_err();
    assert!(matches!(err, FileError::Missing { .. }), "{err}");
    assert_eq!(err.path(), tmp.path().join("dangling"));
}

#[test]
fn text_must_be_utf8() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("t"), [0xff, 0xfe]).unwrap();
    let err = open_regular(&tmp.path().join("t"), 10)
        .unwrap()
        .read_string()
        .unwrap_err();
    assert!(matches!(err, FileError::NotUtf8 { .. }), "{err}");
}
