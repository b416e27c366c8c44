//! The request desk's rules (rule 8 of the design): the kinds of applications the
//! regulation sets, the fields of each as its forms list them (validated, every problem
//! named, in Russian, Kazakh and English), a state machine per kind, who holds an
//! application at each moment and the day its current step is due, the 30-day wait after
//! a refusal where the regulation puts it, and the technical conditions item by item.
//!
//! Pure like `policies`: values in, decisions out. It must not touch a database, a file,
//! a socket or a clock: every function that depends on the date takes it as `today`, and
//! what only records know is asked of the caller's [`fields::Registry`].
//! - [`attachment`]: the size limit and the accepted content types;
//! - [`kind`]: the kinds, who may file each, and the applicant;
//! - [`fields`]: what each kind's application holds, and its checks;
//! - [`form`]: the forms as people fill them, with the regulation's labels;
//! - [`problem`]: what is wrong with a field, in each language;
//! - [`conditions`]: the items of technical conditions and the regulation's texts;
//! - [`clock`]: periods in working or calendar days, and the regulation's deadlines;
//! - [`machine`]: states, actions, transitions, holder and due day;
//! - [`policy`]: the organisations' policies that applied applications make.

pub mod attachment;
pub mod clock;
pub mod conditions;
pub mod fields;
pub mod form;
pub mod kind;
mod lang;
pub mod machine;
pub mod policy;
pub mod problem;

pub use clock::{Period, resubmit_from};
pub use fields::{Fields, Registry, Resource, Specialist};
pub use kind::{Applicant, Kind};
pub use lang::Lang;
pub use machine::{Action, Application, Conditions, Holder, Refusal, State, Step};
pub use problem::{Problem, Problems, Why};
