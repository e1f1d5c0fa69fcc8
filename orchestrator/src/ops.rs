//! Operations: install, start, stop, restart, update, uninstall, ps, logs, usage and
//! credentials. Each mutating
//! operation takes the app's lock, writes desired state, asks the actor for a pass, and
//! waits for the app to converge, emitting progress and ending in success or a typed error.

mod backup;
mod control;
mod data;
pub mod failpoint;
mod install;
mod query;
mod resume;
mod uninstall;
mod update;
mod usage;
mod wait;

pub use backup::RestoreReport;
pub use data::{AppData, DeleteDataError, VolumeUse, SOURCE_FILE};
pub use install::{InstallReport, InstallRequest};
pub use query::{AppState, AppStatus, ContainerStatus, PortStatus};
pub use resume::Resumed;
pub use update::UpdateReport;
pub use usage::{AppUsage, ContainerUsage, VolumeUsage};
