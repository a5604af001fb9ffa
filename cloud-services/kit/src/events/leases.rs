//! Which instance of a consumer reads which partitions, decided in the service's own PostgreSQL
//! rather than by the Kafka group coordinator.
//!
//! Why not Kafka's consumer groups: the consumer's effects are already decided in its database
//! (one transaction per batch, with per-stream dedup), so the database is the natural place to
//! decide ownership too — and the Kafka-protocol broker the platform runs on, tansu 0.6, never
//! hands the partitions of a member that died without leaving (`kill -9`) to the others: the
//! whole group stalls for good (found by `infra/cluster/chaos.sh`). With leases a dead instance's
//! partitions move to the others within [`PartitionLeases::ttl`], whatever the broker.
//!
//! How: each instance renews a membership row (`consumer_members`) and the leases it holds
//! (`consumer_leases`, expiring after the ttl unless renewed). The live members, sorted by id,
//! split the partitions round-robin by partition number (member i of n takes the partitions with
//! `partition % n == i`, the same number in every topic, so a device's readings and its
//! assignment events stay together). An instance takes a lease only when it is free, its own or
//! expired, and gives one up only after its consumer stopped reading that partition
//! ([`PartitionLeases::claim`] runs between consumer sessions). Every transaction that applies
//! events first checks, row-locking the leases, that this instance still holds them
//! ([`PartitionLeases::check`]): an instance that paused past its ttl and lost a partition cannot
//! commit its old batch, so two instances never both apply one partition's events.
//!
//! The tables live in each consuming service's migrations (alerts: `0004_consumer_leases.sql`).

use std::collections::BTreeSet;
use std::time::Duration;

use sqlx::{PgConnection, PgPool};

/// A (topic, partition) pair.
pub type TopicPartition = (String, i32);

#[derive(Clone)]
pub struct PartitionLeases {
    pool: PgPool,
    group: String,
    member: String,
    ttl: Duration,
}

/// What [`PartitionLeases::claim`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// Partitions this member holds now (read them).
    pub held: BTreeSet<TopicPartition>,
    /// Partitions this member should hold; some may still be held by another member that has
    /// not let go yet (claim again shortly).
    pub target: BTreeSet<TopicPartition>,
}

impl PartitionLeases {
    /// `member` must be unique per process (a restarted instance is a new member; its old
    /// leases expire).
    pub fn new(pool: PgPool, group: &str, member: String, ttl: Duration) -> Self {
        PartitionLeases {
            pool,
            group: group.to_string(),
            member,
            ttl,
        }
    }

    pub fn member(&self) -> &str {
        &self.member
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn ttl_ms(&self) -> i64 {
        self.ttl.as_millis() as i64
    }

    /// Between consumer sessions: announces this member, releases what it should no longer hold
    /// and takes what it should, among `all` partitions.
    pub async fn claim(&self, all: &[TopicPartition]) -> sqlx::Result<Claim> {
        let mut tx = self.pool.begin().await?;
        let target = self.share(all, &self.members(&mut tx).await?);
        let (topics, partitions) = split(&target);
        sqlx::query(
            "DELETE FROM consumer_leases WHERE grp = $1 AND owner = $2 \
             AND (topic, part) NOT IN (SELECT * FROM unnest($3::text[], $4::int[]))",
        )
        .bind(&self.group)
        .bind(&self.member)
        .bind(&topics)
        .bind(&partitions)
        .execute(&mut *tx)
        .await?;
        let held: Vec<(String, i32)> = sqlx::query_as(
            "INSERT INTO consumer_leases (grp, topic, part, owner, expires_at) \
             SELECT $1, t, p, $2, now() + make_interval(secs => $5::double precision / 1000) \
             FROM unnest($3::text[], $4::int[]) AS x(t, p) \
             ON CONFLICT (grp, topic, part) DO UPDATE \
               SET owner = excluded.owner, expires_at = excluded.expires_at \
               WHERE consumer_leases.owner = excluded.owner OR consumer_leases.expires_at < now() \
             RETURNING topic, part",
        )
        .bind(&self.group)
        .bind(&self.member)
        .bind(&topics)
        .bind(&partitions)
        .bind(self.ttl_ms())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Claim {
            held: held.into_iter().collect(),
            target,
        })
    }

    /// During a session: renews the membership and the leases in `held`. Returns the partitions
    /// this member should hold now, so the caller can end its session when that changed; errs
    /// when a lease in `held` was lost (the session must end at once).
    pub async fn renew(
        &self,
        held: &BTreeSet<TopicPartition>,
        all: &[TopicPartition],
    ) -> anyhow::Result<BTreeSet<TopicPartition>> {
        let mut tx = self.pool.begin().await?;
        let members = self.members(&mut tx).await?;
        let (topics, partitions) = split(held);
        let renewed = sqlx::query(
            "UPDATE consumer_leases \
             SET expires_at = now() + make_interval(secs => $5::double precision / 1000) \
             WHERE grp = $1 AND owner = $2 AND expires_at > now() \
             AND (topic, part) IN (SELECT * FROM unnest($3::text[], $4::int[]))",
        )
        .bind(&self.group)
        .bind(&self.member)
        .bind(&topics)
        .bind(&partitions)
        .bind(self.ttl_ms())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        if renewed != held.len() as u64 {
            anyhow::bail!(
                "{} of {} partition leases expired before renewal (taken over or about to be)",
                held.len() as u64 - renewed,
                held.len()
            );
        }
        Ok(self.share(all, &members))
    }

    /// This member's share of `all` among the live `members` (sorted): partition numbers
    /// round-robin, the same number of every topic to the same member.
    fn share(&self, all: &[TopicPartition], members: &[String]) -> BTreeSet<TopicPartition> {
        let n = members.len().max(1) as i32;
        let index = members.iter().position(|m| m == &self.member).unwrap_or(0) as i32;
        all.iter()
            .filter(|(_, p)| p.rem_euclid(n) == index)
            .cloned()
            .collect()
    }

    /// Inside the transaction that applies events of `partitions`: whether this member still
    /// holds all their leases. Locks the lease rows until the transaction ends, so a takeover
    /// waits for it (and then replays from the committed offsets, which the consumer's dedup
    /// makes harmless).
    pub async fn check(
        &self,
        conn: &mut PgConnection,
        partitions: &BTreeSet<TopicPartition>,
    ) -> sqlx::Result<bool> {
        let (topics, parts) = split(partitions);
        let held: Vec<(String,)> = sqlx::query_as(
            "SELECT topic FROM consumer_leases \
             WHERE grp = $1 AND owner = $2 AND expires_at > now() \
             AND (topic, part) IN (SELECT * FROM unnest($3::text[], $4::int[])) FOR SHARE",
        )
        .bind(&self.group)
        .bind(&self.member)
        .bind(&topics)
        .bind(&parts)
        .fetch_all(conn)
        .await?;
        Ok(held.len() == partitions.len())
    }

    /// Leaves: releases every lease and the membership (a clean stop hands partitions over at
    /// once instead of after the ttl).
    pub async fn leave(&self) -> sqlx::Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM consumer_leases WHERE grp = $1 AND owner = $2")
            .bind(&self.group)
            .bind(&self.member)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM consumer_members WHERE grp = $1 AND member = $2")
            .bind(&self.group)
            .bind(&self.member)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }

    /// Renews this member and returns the live ones, sorted (members silent for an hour are
    /// forgotten).
    async fn members(&self, conn: &mut PgConnection) -> sqlx::Result<Vec<String>> {
        sqlx::query(
            "INSERT INTO consumer_members (grp, member, seen_at) VALUES ($1, $2, now()) \
             ON CONFLICT (grp, member) DO UPDATE SET seen_at = now()",
        )
        .bind(&self.group)
        .bind(&self.member)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "DELETE FROM consumer_members WHERE grp = $1 AND seen_at < now() - interval '1 hour'",
        )
        .bind(&self.group)
        .execute(&mut *conn)
        .await?;
        let members: Vec<(String,)> = sqlx::query_as(
            "SELECT member FROM consumer_members WHERE grp = $1 \
             AND seen_at > now() - make_interval(secs => $2::double precision / 1000) \
             ORDER BY member",
        )
        .bind(&self.group)
        .bind(self.ttl_ms())
        .fetch_all(&mut *conn)
        .await?;
        Ok(members.into_iter().map(|(m,)| m).collect())
    }
}

fn split(partitions: &BTreeSet<TopicPartition>) -> (Vec<String>, Vec<i32>) {
    partitions.iter().cloned().unzip()
}

/// One consumer session over this member's share of some topics: the leases claimed, a
/// subscription on exactly those partitions, and the renewal clock. A session ends (and the
/// consumer starts a new one) when the split among members changes or a lease is lost.
pub struct LeasedSession {
    leases: PartitionLeases,
    all: Vec<TopicPartition>,
    /// The partitions read in this session, whose leases this member holds.
    held: BTreeSet<TopicPartition>,
    renew: tokio::time::Interval,
}

impl LeasedSession {
    /// Claims this member's share of every partition of `topics` and subscribes to it for
    /// `group` (offsets committed under the group, resumed from its last commit).
    pub async fn start(
        leases: &PartitionLeases,
        bus: &dyn super::EventBus,
        group: &str,
        topics: &[&str],
    ) -> anyhow::Result<(Self, Box<dyn super::EventSubscription>)> {
        let mut all = Vec::new();
        for topic in topics {
            let n = bus.partition_count(topic).await?;
            all.extend((0..n).map(|p| (topic.to_string(), p)));
        }
        let claim = leases.claim(&all).await?;
        let held: Vec<TopicPartition> = claim.held.iter().cloned().collect();
        tracing::info!(
            group,
            member = leases.member(),
            held = held.len(),
            target = claim.target.len(),
            "consumer session"
        );
        let subscription = bus.assign(group, &held)?;
        let mut renew = tokio::time::interval(leases.ttl() / 4);
        renew.tick().await;
        Ok((
            LeasedSession {
                leases: leases.clone(),
                all,
                held: claim.held,
                renew,
            },
            subscription,
        ))
    }

    /// Resolves when the leases are due for renewal. Cancel-safe: `select!` on it, then call
    /// [`LeasedSession::renew`] in the branch (never inside a cancellable future).
    pub async fn due(&mut self) {
        self.renew.tick().await;
    }

    /// Renews the leases. `Ok(false)`: the split changed, end the session to claim again;
    /// `Err`: a lease was lost, end it at once.
    pub async fn renew(&self) -> anyhow::Result<bool> {
        Ok(self.leases.renew(&self.held, &self.all).await? == self.held)
    }

    /// See [`PartitionLeases::check`].
    pub async fn check(
        &self,
        conn: &mut PgConnection,
        partitions: &BTreeSet<TopicPartition>,
    ) -> sqlx::Result<bool> {
        self.leases.check(conn, partitions).await
    }
}
