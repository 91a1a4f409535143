//! Scheduled work inside `serve`, run once at a time by one of the instances sharing the
//! database.
//!
//! Each job has a lease in `job_leases`: an instance whose timer fires takes the lease if it
//! has ended, runs the job while renewing it every third of `PHIEU_JOB_LEASE_SECS`, and then
//! keeps it until the job is next due, so the job runs once per interval over all instances
//! however many there are. A holder that dies leaves its lease to end on its own: the job
//! is then at most `PHIEU_JOB_LEASE_SECS` late. Each run is recorded in `job_runs`.

use crate::config::Settings;
use crate::service::Survey;
use crate::storage::{Database, StorageResult};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// An import still running after this long was cut off by a crash (a million rows take
/// under a minute): it is marked failed and what it stored removed.
const STALE_IMPORT: chrono::Duration = chrono::Duration::hours(1);

/// Runs of jobs are kept this long.
const JOB_RUNS_KEPT: chrono::Duration = chrono::Duration::days(7);

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Starts every scheduled job of this instance: mixing PostgreSQL answers of open waves
/// with enough new ones, housekeeping (truncating the SQLite WAL, dropping expired tokens,
/// rate counts, old job runs and imports cut off by a crash), reminders by email (and SMS
/// through a gateway), purging contact data of waves closed longer than the retention
/// period, and marking messages whose sender died as uncertain.
pub fn spawn(survey: Survey, settings: Arc<Settings>) {
    let holder = format!("{}-{}", std::process::id(), &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let every = settings.mix_interval;
    let scheduler = Scheduler { db: survey.db.clone(), holder: holder.into(), lease: settings.job_lease };

    let min_answers = settings.mix_min_answers;
    scheduler.start("mix", every, {
        let db = survey.db.clone();
        move || {
            let db = db.clone();
            async move {
                db.run(move |db| {
                    for (wave, new_answers) in db.waves_to_mix()? {
                        if new_answers >= min_answers {
                            db.mix_wave(&wave, min_answers)?;
                        }
                    }
                    Ok(())
                })
                .await
            }
        }
    });
    scheduler.start("housekeeping", every, {
        let db = survey.db.clone();
        move || {
            let db = db.clone();
            async move {
                db.run(move |db| {
                    let now = chrono::Utc::now();
                    db.truncate_wal()?;
                    db.delete_expired_tokens()?;
                    db.delete_expired_rate_counts(now.timestamp_millis())?;
                    db.prune_job_runs((now - JOB_RUNS_KEPT).timestamp_millis())?;
                    db.fail_stale_imports(now.naive_utc() - STALE_IMPORT)?;
                    Ok(())
                })
                .await
            }
        }
    });
    if settings.reminders_automatic {
        let (after, max) = (settings.reminder_after_days, settings.reminder_max);
        let survey = survey.clone();
        scheduler.start("reminders", every, move || {
            let queued = survey.queued_channels();
            let db = survey.db.clone();
            async move {
                db.run(move |db| {
                    let cutoff = chrono::Utc::now().naive_utc() - chrono::Duration::days(after);
                    for wave in db.open_waves()? {
                        db.remind(&wave, cutoff, max, queued, queued)?;
                    }
                    Ok(())
                })
                .await
            }
        });
    }
    let retention = chrono::Duration::days(settings.retention_days);
    scheduler.start("purge", every, {
        let survey = survey.clone();
        move || {
            let survey = survey.clone();
            async move {
                let purged = survey.purge_due(retention).await?;
                purged.iter().for_each(|(wave, n)| tracing::info!(wave, contacts = n, "contact data purged"));
                Ok(())
            }
        }
    });
    // Messages left in `sending` by a worker that died are swept often: their lease is short.
    let mail_lease = chrono::Duration::from_std(settings.mail_lease).unwrap_or(chrono::Duration::minutes(10));
    let sweep_every = (settings.mail_lease / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
    scheduler.start("mail-sweep", sweep_every, {
        let db = survey.db.clone();
        move || {
            let db = db.clone();
            async move {
                db.run(move |db| {
                    db.expire_message_leases(chrono::Utc::now().naive_utc() - mail_lease)?;
                    Ok(())
                })
                .await
            }
        }
    });
}

#[derive(Clone)]
struct Scheduler {
    db: Database,
    /// This instance, as named in leases and runs.
    holder: Arc<str>,
    lease: Duration,
}

impl Scheduler {
    /// Runs `work` every `every` on whichever instance takes the lease first.
    fn start<F, Fut>(&self, job: &'static str, every: Duration, work: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = StorageResult<()>> + Send,
    {
        let scheduler = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(error) = scheduler.run_once(job, every, &work).await {
                    tracing::warn!(%error, job, "scheduled job failed");
                }
            }
        });
    }

    /// Runs `work` if this instance takes the lease of `job`; keeps the lease until the job
    /// is next due. A tenth of the interval is allowed for timers firing a little early.
    async fn run_once<F, Fut>(&self, job: &'static str, every: Duration, work: &F) -> StorageResult<()>
    where
        F: Fn() -> Fut + Sync,
        Fut: Future<Output = StorageResult<()>> + Send,
    {
        let (holder, lease) = (self.holder.clone(), millis(self.lease));
        let started = now_ms();
        let run_id = uuid::Uuid::new_v4().to_string();
        let taken = self
            .db
            .run({
                let (holder, run_id) = (holder.clone(), run_id.clone());
                move |db| {
                    let taken = db.take_job_lease(job, &holder, started + lease, started)?;
                    if taken {
                        db.start_job_run(&run_id, job, &holder, started)?;
                    }
                    Ok(taken)
                }
            })
            .await?;
        if !taken {
            return Ok(());
        }
        let result = {
            let running = work();
            tokio::pin!(running);
            let mut renew = tokio::time::interval(self.lease / 3);
            renew.tick().await;
            loop {
                tokio::select! {
                    result = &mut running => break result,
                    _ = renew.tick() => {
                        let holder = holder.clone();
                        let held = self.db.run(move |db| db.extend_job_lease(now_ms() + lease, job, &holder)).await;
                        if !matches!(held, Ok(true)) {
                            tracing::error!(job, "lost the lease of a running job: another instance may run it too");
                        }
                    }
                }
            }
        };
        let next_due = started + millis(every) * 9 / 10;
        let failed = result.is_err();
        self.db.metrics.job_run(job, !failed);
        self.db
            .run(move |db| {
                db.extend_job_lease(next_due.max(now_ms()), job, &holder)?;
                db.finish_job_run(now_ms(), failed, &run_id)
            })
            .await?;
        result
    }
}
