//! S3 on the devcluster, both sides of it: an S3 endpoint of its own over
//! a bucket directory, where drover stages the files of Kubernetes and EMR
//! applications; and [`S3Source`], how the Kubernetes and EMR stand-ins
//! fetch drivers' `s3://` and `s3a://` resources from that endpoint (or from
//! another S3 the devcluster is pointed at, [`crate::DevClusterConfig::s3`]).
//!
//! The endpoint listens on a port of its own ([`crate::DevClusterConfig::s3_bind`]):
//! path-style S3 (`/<bucket>/<key>`) needs the whole path space, which the
//! other stand-ins share on the main port. It answers the operations S3
//! clients use to stage and read files, as AWS documents them and as boto3,
//! the AWS CLI and drover's stager send them:
//!
//! - ListBuckets (`GET /`), CreateBucket (`PUT /b`), HeadBucket, DeleteBucket
//!   (`BucketNotEmpty` while it holds objects);
//! - PutObject (`PUT /b/k`; a body sent as is or `aws-chunked`, as SDKs
//!   stream it, signed chunks and trailing checksums included), GetObject
//!   (one `Range` honoured: 206 with `Content-Range`), HeadObject,
//!   DeleteObject (204, there or not);
//! - ListObjectsV2 (`GET /b?list-type=2`: `prefix`, `delimiter` with
//!   `CommonPrefixes`, `max-keys` up to 1000, `start-after`,
//!   `continuation-token` paging, `encoding-type=url`);
//! - CreateMultipartUpload (`POST ?uploads`), UploadPart (`PUT
//!   ?partNumber=N&uploadId=`), CompleteMultipartUpload (`POST ?uploadId=`;
//!   `InvalidPart`, `InvalidPartOrder`, `EntityTooSmall` below 5 MiB but for
//!   the last part) and AbortMultipartUpload (`DELETE ?uploadId=`);
//! - errors as S3's `<Error>` XML with its status (`NoSuchBucket`,
//!   `NoSuchKey`, `NoSuchUpload`, ...; a HEAD's has no body); every answer
//!   carries an `x-amz-request-id`. ETags are S3's: the MD5 of a PUT's
//!   bytes, and the MD5 of the parts' MD5s with `-<parts>` for a multipart
//!   upload.
//!
//! Each bucket is a directory under `<work_dir>/s3/` and each object the
//! file at its key's path, so a file copied into a bucket directory by hand
//! is an object, and a staged file can be looked at where it landed. The
//! bucket [`BUCKET`] exists from the start.
//!
//! Deliberate differences: signatures are not checked (any credentials, or
//! none, are taken, as moto's server does) and neither are checksums
//! (`Content-MD5`, `x-amz-checksum-*`); path-style addressing only (no
//! `<bucket>.host` virtual hosts); no versioning, ACLs, tagging, copies,
//! ListObjects version 1, ListParts or conditional requests (each answers
//! `501 NotImplemented`); and because objects are files, a key with an
//! empty, `.` or `..` segment, or one that is both an object and the prefix
//! of another (`a` and `a/b`), is refused with a message that says so, and
//! a key ending in `/` (a directory marker) is kept as a directory and not
//! listed.

mod fetch;
mod routes;
mod store;
mod wire;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use fetch::{S3Source, bucket_and_key};

/// The bucket the devcluster's S3 has from the start, where `drover
/// standalone` stages cluster-mode files.
pub const BUCKET: &str = "drover-staging";

/// The bucket directory under a devcluster's work directory.
pub(crate) fn root(work_dir: &Path) -> PathBuf {
    work_dir.join("s3")
}

/// The endpoint's router over the bucket directory `root` (made, with
/// [`BUCKET`], if missing).
pub(crate) fn router(root: &Path) -> std::io::Result<axum::Router> {
    let store = store::Store::open(root)?;
    std::fs::create_dir_all(root.join(BUCKET))?;
    Ok(routes::router(Arc::new(store)))
}
