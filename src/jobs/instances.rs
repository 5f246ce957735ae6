//! Server instances and their heartbeats: who may still be running a claimed Idempotency-Key.
//!
//! Every server process takes a fresh id when it starts ([`Instance::register`]) and a row in
//! `instances`, whose `heartbeat_at` a background task ([`run`]) moves forward every
//! [`InstanceConfig::heartbeat_interval`]. An instance whose heartbeat is older than
//! [`InstanceConfig::timeout`] (three missed beats by default), or whose row is gone (a clean
//! shutdown deletes it, [`Instance::deregister`]), is dead: what it held (an `in_progress`
//! Idempotency-Key, `api::idempotency`) may be taken over at once instead of after the long lease.
//!
//! Instances on several hosts compare their own clocks with the heartbeats others wrote: their
//! clocks must agree to well within the timeout (NTP does).

use crate::db::models::{new_id, now};
use crate::db::{self, Db, DbConnection, DbError};
use std::time::Duration;

/// Heartbeat settings.
#[derive(Debug, Clone)]
pub struct InstanceConfig {
    /// Time between two heartbeats.
    pub heartbeat_interval: Duration,
    /// Age of the last heartbeat after which an instance is dead.
    pub timeout: Duration,
}

impl Default for InstanceConfig {
    fn default() -> Self {
        InstanceConfig {
            heartbeat_interval: Duration::from_secs(5),
            timeout: Duration::from_secs(15),
        }
    }
}

impl InstanceConfig {
    /// Refuses settings under which a live instance could look dead between two beats.
    pub fn validate(&self) -> Result<(), String> {
        if self.heartbeat_interval.is_zero() {
            return Err("the heartbeat interval must be positive".into());
        }
        if self.timeout < self.heartbeat_interval * 2 {
            return Err(format!(
                "the instance timeout ({} ms) must be at least twice the heartbeat interval ({} ms)",
                self.timeout.as_millis(),
                self.heartbeat_interval.as_millis()
            ));
        }
        Ok(())
    }
}

/// Dead instances' rows are kept this long (a crashed process cannot delete its own), then pruned.
const PRUNE_AFTER: chrono::Duration = chrono::Duration::hours(1);

/// This process, as the other instances see it.
#[derive(Debug, Clone)]
pub struct Instance {
    pub id: String,
    pub config: InstanceConfig,
}

impl Instance {
    /// Takes a fresh id and records its first heartbeat.
    pub async fn register(db: &Db, config: InstanceConfig) -> Result<Instance, DbError> {
        let instance = Instance {
            id: new_id(),
            config,
        };
        let id = instance.id.clone();
        db.run(move |conn| beat(conn, &id)).await?;
        log::info!("instance {} registered", instance.id);
        Ok(instance)
    }

    /// A clean shutdown: the row goes, so what this instance held is free at once.
    pub async fn deregister(&self, db: &Db) {
        let id = self.id.clone();
        let done = db
            .run(move |conn| db::instances::delete(conn, &id).map_err(DbError::from))
            .await;
        if let Err(e) = done {
            log::warn!("instance {}: could not deregister: {e}", self.id);
        }
    }

    /// Whether instance `id` has beaten within the timeout (this instance always is).
    pub fn is_alive(&self, conn: &mut DbConnection, id: &str) -> Result<bool, DbError> {
        if id == self.id {
            return Ok(true);
        }
        let since = now() - chrono::Duration::from_std(self.config.timeout).unwrap_or_default();
        let beat = db::instances::heartbeat_of(conn, id)?;
        Ok(beat.is_some_and(|at| at > since))
    }
}

/// Moves this instance's heartbeat forward (re-creating its row if it was pruned as dead after a
/// long stall) and prunes long-dead instances.
fn beat(conn: &mut DbConnection, id: &str) -> Result<(), DbError> {
    let at = now();
    db::write_alone(conn, |c| {
        db::instances::beat(c, id, at)?;
        db::instances::prune(c, at - PRUNE_AFTER)
    })?;
    Ok(())
}

/// Runs forever: the heartbeat of `instance`.
pub async fn run(db: Db, instance: Instance) {
    let mut ticks = tokio::time::interval(instance.config.heartbeat_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let id = instance.id.clone();
        if let Err(e) = db.run(move |conn| beat(conn, &id)).await {
            log::warn!("instance {}: heartbeat failed: {e}", instance.id);
        }
    }
}
