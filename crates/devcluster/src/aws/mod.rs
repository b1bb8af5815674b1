//! What the AWS-shaped stand-ins (EMR Serverless, EMR on EKS) share: one
//! made-up account's credentials, SigV4 checking ([`sigv4`]), AWS's restJson1
//! errors ([`AwsError`]), request-field helpers, the `sparkSubmitParameters`
//! both EMR APIs take, and the job-run plumbing whose logic is the same in
//! both (one driver attempt, ListJobRuns paging).

mod error;
pub(crate) mod job_run;
mod request;
pub mod sigv4;
mod spark_submit;

pub use error::{AwsError, reply};
pub use request::{epoch, parse_object, string_field, string_map, time_param};
pub use sigv4::{MAX_BODY_BYTES, MAX_CLOCK_SKEW, signed};
pub use spark_submit::{RunSpec, spark_submit_spec};

/// The access key id the stand-in accepts (a local stand-in, not a real credential).
pub const ACCESS_KEY_ID: &str = "DROVERSTANDINKEY";
/// The secret the stand-in checks SigV4 signatures against.
pub const SECRET_ACCESS_KEY: &str = "drover-stand-in-secret-access-key";
/// The region the stand-in signs for.
pub const REGION: &str = "us-east-1";
/// The account in every ARN the stand-in makes.
pub const ACCOUNT_ID: &str = "123456789012";
