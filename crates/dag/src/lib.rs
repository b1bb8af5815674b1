//! DAG files: the TOML a user writes, checked into a [`Dag`] the rest of drover can trust.
//!
//! Shaped as parse, then validate into another type: [`schema`] mirrors the file with every
//! value's position, [`validate`] turns it into a [`Dag`], which nothing outside this crate can
//! build. Every problem in a file is reported at once, each with its line, column and a hint,
//! because fixing a DAG one error per reload is miserable; so the file is read from toml's
//! spanned tree by hand rather than through serde, which stops at the first problem.
//!
//! Backends are behind the [`Backends`] trait: what a cluster manager accepts is known only to
//! its WASM plugin, and this crate must stay free of wasmtime (and of tokio and sqlx) so that
//! the CLI can lint DAGs and tests can run without a runtime.
//!
//! Templates ([`template`]) are checked at load time against the declared params, and rendered
//! strictly per task try with [`ApplicationTemplate::render`].

mod application;
mod dag;
mod diagnostic;
mod flags;
mod load;
mod params;
mod priority;
mod schedule;
mod schema;
mod template;
mod trigger;
mod validate;

pub use application::{
    AppProblem, Application, ApplicationTemplate, Backends, DeployMode, ParseDeployModeError,
    Resources, WithNotifiers,
};
pub use dag::{DEFAULT_POOL, Dag, Task};
pub use diagnostic::{Diagnostic, LoadError};
pub use flags::SUBMIT_FLAGS;
pub use load::{DirLoad, load_dir, load_file, parse_str};
pub use params::{ParamError, ParamKind, ParamSpec};
pub use priority::WeightRule;
pub use schedule::{SCHEDULE_HINT, Schedule, ScheduleError};
pub use template::{RenderContext, RenderError};
pub use trigger::TriggerRule;
