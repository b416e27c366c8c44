//! An application as people and programs see it: its record with the desk's reading of
//! it on a given day (who holds it, when its step is due, whether that is past, and
//! from when a refused applicant may apply again).

use desk::{Application, Holder};
use policies::calendar::{Calendar, Date};
use serde::Serialize;
use store::ApplicationRecord;

/// What `request show` and `GET /api/v1/requests/{id}` print.
#[derive(Clone, Debug, Serialize)]
pub struct RequestView {
    pub id: i64,
    pub holder: Option<Holder>,
    pub due: Option<Date>,
    pub overdue: bool,
    pub resubmit_from: Option<Date>,
    /// A change to a resource reported late: the day it was due.
    pub reported_late: Option<Date>,
    #[serde(flatten)]
    pub application: Application,
    /// The fields whose secrets are kept sealed (never shown).
    pub sealed: Vec<String>,
}

impl RequestView {
    pub fn of(record: &ApplicationRecord, calendar: &Calendar, today: Date) -> RequestView {
        let step = record.application.step(calendar);
        RequestView {
            id: record.id,
            holder: step.holder,
            due: step.due,
            overdue: step.due.is_some_and(|due| due < today),
            resubmit_from: record.application.resubmit_from(),
            reported_late: record.application.reported_late(calendar),
            application: record.application.clone(),
            sealed: record.sealed.clone(),
        }
    }

    /// One line for lists.
    pub fn line(&self) -> String {
        let a = &self.application;
        let holder = match self.holder {
            Some(Holder::Duty) => "duty",
            Some(Holder::Applicant) => "applicant",
            None => "-",
        };
        let due = self.due.map_or_else(|| "-".to_string(), |d| d.to_string());
        let late = if self.overdue { " OVERDUE" } else { "" };
        format!("{:>5}  {:<16} {:<17} {:<18} {:<9} due {due}{late}", self.id, a.kind(), a.state, a.applicant, holder)
    }

    /// Lists sort overdue first, then by due day (none last), then newest.
    pub fn sort(views: &mut [RequestView]) {
        views.sort_by_key(|v| (!v.overdue, v.due.is_none(), v.due, std::cmp::Reverse(v.id)));
    }
}
