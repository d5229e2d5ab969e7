//! Every function end to end, in one test binary: each links the AWS SDK, and one link
//! instead of one per function keeps CI's build time and disk use down.

mod activity_stream_decoder;
mod audit_log_watcher;
mod bad_input;
mod cloudtrail_event_handler;
mod config_change_notifier;
mod delivery;
mod faults;
mod health_event_notifier;
mod organizations;
mod rds_maintenance_checker;
mod rds_reports;
mod security;
mod sendgrid_bounce_poller;
mod severity;
mod slack_actions;
mod slack_outages;
