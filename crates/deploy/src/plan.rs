//! TODO
use serde::{Deserialize, Serialize};
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Plan {
    pub kind: PlanKind,
    pub steps: Vec<PlannedStep>,
}
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PlanKind {
    Create,
    Update,
    Delete,
}
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    Main,
    Cleanup,
}
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PlannedStep {
    pub step: Step,
}
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Step {
    Create {
        logical_id: String,
        resource_type: String,
    },
    Update {
        logical_id: String,
        resource_type: String,
        physical_id: String,
    },
    Replace {
        logical_id: String,
        resource_type: String,
        old_physical_id: String,
    },
    Delete {
        logical_id: String,
        resource_type: String,
        physical_id: Option<String>,
        policy: Option<crate::stack::DeletionPolicy>,
    },
    DeleteReplaced {
        logical_id: String,
        resource_type: String,
        physical_id: Option<String>,
        policy: Option<crate::stack::DeletionPolicy>,
    },
    DiscardReplacement {
        logical_id: String,
        resource_type: String,
    },
}
impl Step {
    pub fn phase(&self) -> Phase {
        Phase::Main
    }
    pub fn logical_id(&self) -> &str {
        ""
    }
    pub fn resource_type(&self) -> &str {
        ""
    }
}
impl Plan {
    pub fn rollback(&self, _n: usize) -> Vec<Step> {
        vec![]
    }
}
