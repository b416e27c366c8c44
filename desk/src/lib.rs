//! The request desk's rules (issue 16, rule 8 of the design): the kinds of applications
//! the regulation sets, the fields of each (validated, every problem named), a state
//! machine per kind, who holds an application at each moment and the day its current
//! step is due, the 30-day wait after a refusal and the lapse of technical conditions.
//!
//! Pure like `policies`: values in, decisions out. It must not touch a database, a file,
//! a socket or a clock: every function that depends on the date takes it as `today`.
//! - [`attachment`]: the size limit and the accepted content types;
//! - [`kind`]: the kinds, who may file each, and the applicant;
//! - [`fields`]: what each kind's application holds, and its checks;
//! - [`clock`]: periods in working or calendar days, and the regulation's deadlines;
//! - [`machine`]: states, actions, transitions, holder and due day;
//! - [`policy`]: the organisations' policies that applied applications make.

pub mod attachment;
pub mod clock;
pub mod fields;
pub mod kind;
pub mod machine;
pub mod policy;

pub use clock::{Period, resubmit_from};
pub use fields::{Credentials, Fields, Problem, Problems};
pub use kind::{Applicant, Kind};
pub use machine::{Action, Application, Conditions, Holder, Refusal, State, Step};
