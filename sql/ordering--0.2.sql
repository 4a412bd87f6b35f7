/* ordering--0.2.sql: the ordering extension's schema, roles and functions. */

\echo Use "CREATE EXTENSION ordering" to load this file. \quit

/*
 * Roles are cluster-wide: create them once, whichever database installs the
 * extension first.
 */
DO $roles$
DECLARE
	r text;
BEGIN
	FOREACH r IN ARRAY ARRAY['ordering_admin', 'ordering_writer',
							 'ordering_reader', 'ordering_peer']
	LOOP
		IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
			EXECUTE format('CREATE ROLE %I NOLOGIN', r);
		END IF;
	END LOOP;
END
$roles$;

-- Channels this node knows, with the settings in effect (defaults filled in).
CREATE TABLE ordering.channels (
	channel text PRIMARY KEY
		CHECK (channel ~ '^[a-z][a-z0-9.-]{0,62}$'),
	config jsonb NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now()
);

-- The consenter set of each channel as of its last applied entry.
CREATE TABLE ordering.consenters (
	channel text NOT NULL REFERENCES ordering.channels ON DELETE CASCADE,
	node text NOT NULL CHECK (node ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$'),
	raft_id bigint NOT NULL CHECK (raft_id > 0),
	conninfo text NOT NULL,
	is_learner boolean NOT NULL DEFAULT false,
	PRIMARY KEY (channel, node),
	UNIQUE (channel, raft_id)
);

-- Raft's durable state per channel, and the latest snapshot.
CREATE TABLE ordering.raft_state (
	channel text PRIMARY KEY REFERENCES ordering.channels ON DELETE CASCADE,
	term bigint NOT NULL DEFAULT 0,
	vote bigint NOT NULL DEFAULT 0,
	commit_index bigint NOT NULL DEFAULT 0,
	applied_index bigint NOT NULL DEFAULT 0,
	snapshot_index bigint NOT NULL DEFAULT 0,
	snapshot_term bigint NOT NULL DEFAULT 0,
	snapshot_data bytea,
	log_bytes_since_snapshot bigint NOT NULL DEFAULT 0,
	-- This node was removed from the channel's consenters (it may have
	-- learned so from the leader rather than from its own log): it keeps
	-- its rows but runs no Raft for the channel.
	removed boolean NOT NULL DEFAULT false,
	-- Storage-fault recovery (README.md, "Lost and rolled-back state").
	-- incarnation: random, chosen when this node's state for the channel is
	-- created (a wiped disk gets a new one); boot: raised durably before
	-- every start of the Raft node; recovering: this node may hold less than
	-- it once acknowledged, so it neither votes nor campaigns until it has
	-- caught up; recovery_reason: why, for ordering.status.
	incarnation bigint NOT NULL DEFAULT 0,
	boot bigint NOT NULL DEFAULT 0 CHECK (boot >= 0),
	recovering boolean NOT NULL DEFAULT false,
	recovery_reason text,
	-- The PostgreSQL cluster (pg_control_system()) and timeline the node
	-- last started under: another one means a copy or a point-in-time
	-- restore of this data directory.
	system_identifier bigint,
	timeline bigint,
	-- The chain's head as of applied_index, written with it: a restart
	-- finds this very block at the end of ordering.blocks, or refuses to
	-- run the channel (blocks deleted, added or changed by hand would
	-- otherwise be numbered again from the wrong head).  NULL: not known
	-- yet (a channel that has applied nothing since it was created).
	last_block bigint CHECK (last_block >= 0),
	last_block_hash bytea CHECK (length(last_block_hash) = 32)
);

-- What this node knows of each member's durable identity (raft.h,
-- raft_peer_record): its incarnation, its life (boot counter << 32 | nonce,
-- stored as the bits of a bigint) and the highest term it sent.  Written
-- with the hard state; a member coming back older than it once showed
-- itself is recognised by them.
CREATE TABLE ordering.raft_peers (
	channel text NOT NULL REFERENCES ordering.channels ON DELETE CASCADE,
	raft_id bigint NOT NULL CHECK (raft_id > 0),
	incarnation bigint NOT NULL,
	life bigint NOT NULL,
	term bigint NOT NULL CHECK (term >= 0),
	PRIMARY KEY (channel, raft_id)
);

-- A snapshot whose blocks a background worker pulls from a peer (README.md,
-- "Snapshot catch-up"): the channel's worker hands the pull over and pauses
-- the channel; the catch-up worker installs the blocks and the snapshot in
-- one transaction and deletes the row, or records why it failed.
CREATE TABLE ordering.catchups (
	channel text PRIMARY KEY REFERENCES ordering.channels ON DELETE CASCADE,
	snapshot_index bigint NOT NULL CHECK (snapshot_index > 0),
	snapshot_term bigint NOT NULL CHECK (snapshot_term > 0),
	snapshot_data bytea NOT NULL,
	from_block bigint NOT NULL,
	to_block bigint NOT NULL,
	-- The role the pull connects as, and the leaders to ask first.
	pull_as text NOT NULL,
	leader_nodes text[] NOT NULL,
	leader_conninfos text[] NOT NULL,
	requested_at timestamptz NOT NULL DEFAULT now(),
	failed_at timestamptz,
	last_error text
);

-- The Raft log: entries after the snapshot.  kind 0 = normal, 1 = conf change.
CREATE TABLE ordering.log (
	channel text NOT NULL REFERENCES ordering.channels ON DELETE CASCADE,
	index bigint NOT NULL CHECK (index > 0),
	term bigint NOT NULL CHECK (term > 0),
	kind smallint NOT NULL,
	data bytea NOT NULL,
	PRIMARY KEY (channel, index)
);

-- The hash chain (README.md, "How blocks are hashed and verified").  config holds the configuration document of
-- a configuration block (its single item), NULL for a normal block.
CREATE TABLE ordering.blocks (
	channel text NOT NULL REFERENCES ordering.channels ON DELETE CASCADE,
	number bigint NOT NULL CHECK (number >= 0),
	previous_hash bytea NOT NULL CHECK (length(previous_hash) = 32),
	data_hash bytea NOT NULL CHECK (length(data_hash) = 32),
	hash bytea NOT NULL CHECK (length(hash) = 32),
	tx_count int NOT NULL CHECK (tx_count >= 0),
	is_config boolean NOT NULL,
	config bytea,
	raft_index bigint NOT NULL,
	raft_term bigint NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (channel, number),
	CHECK (is_config = (config IS NOT NULL))
);

-- The transactions of the normal blocks.  No foreign key to blocks: its
-- check ran a query per row and cost the worker about a third of applying
-- a block (perf).  Rows are only inserted with their block, after it in
-- the same transaction (the block's foreign key locks the channels row
-- against drop_channel); drop_channel deletes a channel's rows itself,
-- and verify_chain reports rows without a block.
--
-- tx_id's index is a hash index, not a unique btree: every ordered
-- transaction probes it and grows it on every node, and a btree on random
-- 64-character ids cost three times as much per insert, twice the WAL,
-- and outgrew shared_buffers at about a million rows (perf).  The workers
-- keep an id to one row of its channel (they probe before they write a
-- block); lookups by key report a second row (XX001), and verify_chain
-- names it.  tx_id compares bytewise (COLLATE "C"); equality is the same
-- under any deterministic collation.
CREATE TABLE ordering.transactions (
	channel text NOT NULL,
	block_number bigint NOT NULL,
	position int NOT NULL CHECK (position >= 0),
	tx_id text COLLATE "C" NOT NULL,
	payload bytea NOT NULL,
	PRIMARY KEY (channel, block_number, position)
);
CREATE INDEX transactions_tx_id ON ordering.transactions USING hash (tx_id);

-- The worker looks up a channel's latest configuration block (snapshots,
-- settings): without this, that walks back over every block since it.
CREATE INDEX blocks_config ON ordering.blocks (channel, number) WHERE is_config;

-- Payloads are usually already compressed or random (hashes, signatures):
-- trying pglz on every row costs CPU and saves nothing.
ALTER TABLE ordering.log ALTER COLUMN data SET STORAGE EXTERNAL;
ALTER TABLE ordering.transactions ALTER COLUMN payload SET STORAGE EXTERNAL;

-- The log is a queue: each snapshot deletes the entries it covers, and a
-- batch's entry lives out of line in the log's TOAST table.  Only VACUUM
-- makes their space reusable; until it runs every entry extends the files.
-- Autovacuum's defaults wait for a fifth of a table to be dead and then
-- pace themselves, which let the TOAST table of a busy channel grow to
-- 579 MB for 245 live entries.  Here any 1,000 dead rows are enough at the
-- next autovacuum round, which runs unpaced: the rows are few and small.
ALTER TABLE ordering.log SET (
	autovacuum_vacuum_scale_factor = 0,
	autovacuum_vacuum_threshold = 1000,
	autovacuum_vacuum_cost_delay = 0,
	toast.autovacuum_vacuum_scale_factor = 0,
	toast.autovacuum_vacuum_threshold = 1000,
	toast.autovacuum_vacuum_cost_delay = 0);

-- pg_dump keeps the ledger: the chain and its configuration are dumped with
-- the database (pg_restore loads them in foreign-key order).  The Raft
-- state, log and peer records are not: they belong to this server's place
-- in its cluster, and a copy restored elsewhere must not act as this node.
-- A channel restored without them is an archive (README.md, "Backups").
SELECT pg_catalog.pg_extension_config_dump('ordering.channels', '');
SELECT pg_catalog.pg_extension_config_dump('ordering.consenters', '');
SELECT pg_catalog.pg_extension_config_dump('ordering.blocks', '');
SELECT pg_catalog.pg_extension_config_dump('ordering.transactions', '');

-- Backends keep the settings of the channels they submit to while these
-- tables do not change (src/sql/settings_cache.c): every statement that
-- changes them moves a generation in shared memory.  ALWAYS, so that it
-- also fires under session_replication_role = replica (pg_restore); a
-- backend keeps nothing while the trigger is missing or disabled.
CREATE FUNCTION ordering.channels_changed()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'ordering_channels_changed';
REVOKE ALL ON FUNCTION ordering.channels_changed() FROM PUBLIC;
CREATE TRIGGER channels_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ordering.channels
	FOR EACH STATEMENT EXECUTE FUNCTION ordering.channels_changed();
CREATE TRIGGER channels_changed
	AFTER INSERT OR UPDATE OF channel OR DELETE OR TRUNCATE ON ordering.raft_state
	FOR EACH STATEMENT EXECUTE FUNCTION ordering.channels_changed();
ALTER TABLE ordering.channels ENABLE ALWAYS TRIGGER channels_changed;
ALTER TABLE ordering.raft_state ENABLE ALWAYS TRIGGER channels_changed;

-- @FUNCTIONS@ (views, functions and grants follow)

-- sql: begin
/*
 * Privileges (least privilege; nothing for PUBLIC):
 *   ordering_reader  read the chain, status and peers; wait_for_block,
 *                    verify_chain, list_channels
 *   ordering_writer  submit_tx, submit_tx_async, submit_txs
 *   ordering_admin   channels and consenters; is a reader and a writer;
 *                    may read the Raft log and state
 *   ordering_peer    deliver(), peer_blocks(), peer_block_hash(),
 *                    peer_term(), relay_admin() only (what nodes do for each other,
 *                    below; each checks which node's role calls)
 * Functions that write the tables run as the extension's owner (SECURITY
 * DEFINER, with a fixed search_path); EXECUTE is what grants the right.
 */
DO $grants$
BEGIN
	IF NOT pg_has_role('ordering_admin', 'ordering_reader', 'MEMBER') THEN
		GRANT ordering_reader TO ordering_admin;
	END IF;
	IF NOT pg_has_role('ordering_admin', 'ordering_writer', 'MEMBER') THEN
		GRANT ordering_writer TO ordering_admin;
	END IF;
END
$grants$;

REVOKE ALL ON SCHEMA ordering FROM PUBLIC;
GRANT USAGE ON SCHEMA ordering
	TO ordering_admin, ordering_writer, ordering_reader, ordering_peer;
REVOKE ALL ON ALL TABLES IN SCHEMA ordering FROM PUBLIC;
GRANT SELECT ON ordering.channels, ordering.consenters, ordering.blocks,
	ordering.transactions TO ordering_reader;
GRANT SELECT ON ordering.log, ordering.raft_state, ordering.raft_peers,
	ordering.catchups TO ordering_admin;
-- verify_chain, run as the caller, checks the blocks against this head.
GRANT SELECT (channel, last_block, last_block_hash) ON ordering.raft_state
	TO ordering_reader;

-- Channels ------------------------------------------------------------------

CREATE FUNCTION ordering.create_channel(channel text, consenters jsonb,
										config jsonb DEFAULT '{}')
RETURNS text
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'ordering_create_channel';
COMMENT ON FUNCTION ordering.create_channel(text, jsonb, jsonb) IS
	'create a channel with its consenters {"node": "conninfo"} and settings; writes the genesis block';

CREATE FUNCTION ordering.drop_channel(channel text)
RETURNS void
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'ordering_drop_channel';
COMMENT ON FUNCTION ordering.drop_channel(text) IS
	'remove every row of a channel on this node (the name may be used again)';

CREATE FUNCTION ordering.update_channel_config(channel text, config jsonb)
RETURNS bigint
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'ordering_update_channel_config';
COMMENT ON FUNCTION ordering.update_channel_config(text, jsonb) IS
	'change some settings of a channel through Raft; returns the configuration block';

CREATE FUNCTION ordering.add_consenter(channel text, node text, conninfo text)
RETURNS bigint
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'ordering_add_consenter';
COMMENT ON FUNCTION ordering.add_consenter(text, text, text) IS
	'add a node to a channel (as a learner first); returns the configuration block';

CREATE FUNCTION ordering.remove_consenter(channel text, node text)
RETURNS bigint
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'ordering_remove_consenter';
COMMENT ON FUNCTION ordering.remove_consenter(text, text) IS
	'remove a node from a channel; returns the configuration block';

CREATE FUNCTION ordering.update_consenter(channel text, node text, conninfo text)
RETURNS bigint
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'ordering_update_consenter';
COMMENT ON FUNCTION ordering.update_consenter(text, text, text) IS
	'change the conninfo of a consenter (same role, same raft id); returns the configuration block';

CREATE FUNCTION ordering.transfer_leadership(channel text, node text)
RETURNS void
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'ordering_transfer_leadership';
COMMENT ON FUNCTION ordering.transfer_leadership(text, text) IS
	'ask the channel''s leader to hand leadership to node';

-- Submitting ----------------------------------------------------------------

CREATE FUNCTION ordering.submit_tx(channel text, payload bytea,
								   id text DEFAULT NULL)
RETURNS TABLE (tx_id text, block_number bigint, "position" int)
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'ordering_submit_tx';
COMMENT ON FUNCTION ordering.submit_tx(text, bytea, text) IS
	'order a transaction; returns once it is in a committed block on this node';

CREATE FUNCTION ordering.submit_tx_async(channel text, payload bytea,
										 id text DEFAULT NULL)
RETURNS text
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'ordering_submit_tx_async';
COMMENT ON FUNCTION ordering.submit_tx_async(text, bytea, text) IS
	'enqueue a transaction for ordering and return its id at once';

CREATE FUNCTION ordering.submit_txs(channel text, payloads bytea[])
RETURNS TABLE (tx_id text, block_number bigint, "position" int)
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'ordering_submit_txs';
COMMENT ON FUNCTION ordering.submit_txs(text, bytea[]) IS
	'order many transactions, in order; returns once all are in committed blocks';

-- Reading -------------------------------------------------------------------

CREATE FUNCTION ordering.wait_for_block(channel text, number bigint,
										timeout_ms int DEFAULT NULL)
RETURNS boolean
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ordering_wait_for_block';
COMMENT ON FUNCTION ordering.wait_for_block(text, bigint, int) IS
	'wait until block number exists (true) or timeout_ms passed (false); NULL waits without limit';

CREATE FUNCTION ordering.verify_chain(channel text)
RETURNS TABLE (ok boolean, blocks bigint, first_bad_block bigint,
			   detail text)
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ordering_verify_chain';
COMMENT ON FUNCTION ordering.verify_chain(text) IS
	'recompute every hash of a channel''s chain; ok, or the first bad block and why';

CREATE FUNCTION ordering.channel_status()
RETURNS TABLE (channel text, node text, membership text, role text,
			   term bigint, leader text, commit_index bigint,
			   applied_index bigint, snapshot_index bigint,
			   last_block bigint, is_leader boolean, leader_changes bigint,
			   proposal_failures bigint, committed_block_number bigint,
			   data_persist_count bigint, data_persist_avg_ms float8,
			   updated_at timestamptz, last_error text,
			   rejected_records bigint, recovery_target bigint,
			   recovery text, quiesced boolean, leader_link_error text)
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ordering_channel_status';
COMMENT ON FUNCTION ordering.channel_status() IS
	'the worker''s view of each channel it runs (see ordering.status)';

CREATE FUNCTION ordering.peer_status()
RETURNS TABLE (channel text, node text, raft_id bigint, is_learner boolean,
			   match_index bigint, next_index bigint, state text,
			   recent_active boolean, inflight int,
			   last_contact timestamptz)
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ordering_peer_status';
COMMENT ON FUNCTION ordering.peer_status() IS
	'replication progress of each peer, on the leader (see ordering.peers)';

-- One row per channel of this node; the worker's columns are NULL until it
-- runs the channel.
CREATE VIEW ordering.status AS
SELECT c.channel,
	   coalesce(s.node, current_setting('ordering.node_name')) AS node,
	   coalesce(s.membership,
				CASE WHEN NOT EXISTS (SELECT 1 FROM ordering.raft_state r
									  WHERE r.channel = c.channel)
					 THEN 'archive' END) AS membership,
	   s.role, s.term, s.leader, s.commit_index,
	   s.applied_index, s.snapshot_index, s.last_block, s.is_leader,
	   s.leader_changes, s.proposal_failures, s.committed_block_number,
	   s.data_persist_count, s.data_persist_avg_ms, s.updated_at,
	   s.last_error, s.rejected_records, s.recovery_target, s.recovery,
	   s.quiesced, s.leader_link_error
FROM ordering.channels c
LEFT JOIN ordering.channel_status() s ON s.channel = c.channel;
COMMENT ON VIEW ordering.status IS
	'one row per channel on this node: Raft role, term, leader, indexes, last block, metrics';

CREATE VIEW ordering.peers AS
SELECT * FROM ordering.peer_status();
COMMENT ON VIEW ordering.peers IS
	'on a channel''s leader: one row per peer with its replication progress';

CREATE FUNCTION ordering.transport_stats()
RETURNS TABLE (unknown_channel_records bigint, refused_deliveries bigint,
			   inbox_dropped bigint)
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'ordering_transport_stats';
COMMENT ON FUNCTION ordering.transport_stats() IS
	'records of unknown channels dropped, deliver() calls refused as impersonation, envelopes dropped by a full inbox';

CREATE FUNCTION ordering.list_channels()
RETURNS TABLE (channel text, membership text, consenters text[],
			   last_block bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT c.channel,
		   coalesce((SELECT s.membership FROM ordering.channel_status() s
					 WHERE s.channel = c.channel),
					(SELECT 'archive' WHERE NOT EXISTS
						(SELECT 1 FROM ordering.raft_state r
						 WHERE r.channel = c.channel)),
					(SELECT CASE WHEN k.is_learner THEN 'learner'
								 ELSE 'consenter' END
					 FROM ordering.consenters k
					 WHERE k.channel = c.channel
					   AND k.node = current_setting('ordering.node_name')),
					'none'),
		   ARRAY(SELECT k.node FROM ordering.consenters k
				 WHERE k.channel = c.channel ORDER BY k.raft_id),
		   (SELECT max(b.number) FROM ordering.blocks b
			WHERE b.channel = c.channel)
	FROM ordering.channels c
	ORDER BY c.channel
$$;
COMMENT ON FUNCTION ordering.list_channels() IS
	'the channels of this node: membership, consenters (by raft id), last block';

-- Grants --------------------------------------------------------------------

REVOKE ALL ON FUNCTION
	ordering.create_channel(text, jsonb, jsonb),
	ordering.drop_channel(text),
	ordering.update_channel_config(text, jsonb),
	ordering.add_consenter(text, text, text),
	ordering.remove_consenter(text, text),
	ordering.update_consenter(text, text, text),
	ordering.transfer_leadership(text, text),
	ordering.submit_tx(text, bytea, text),
	ordering.submit_tx_async(text, bytea, text),
	ordering.submit_txs(text, bytea[]),
	ordering.wait_for_block(text, bigint, int),
	ordering.verify_chain(text),
	ordering.channel_status(),
	ordering.peer_status(),
	ordering.transport_stats(),
	ordering.list_channels()
FROM PUBLIC;

GRANT EXECUTE ON FUNCTION
	ordering.create_channel(text, jsonb, jsonb),
	ordering.drop_channel(text),
	ordering.update_channel_config(text, jsonb),
	ordering.add_consenter(text, text, text),
	ordering.remove_consenter(text, text),
	ordering.update_consenter(text, text, text),
	ordering.transfer_leadership(text, text)
TO ordering_admin;

GRANT EXECUTE ON FUNCTION
	ordering.submit_tx(text, bytea, text),
	ordering.submit_tx_async(text, bytea, text),
	ordering.submit_txs(text, bytea[])
TO ordering_writer;

GRANT EXECUTE ON FUNCTION
	ordering.wait_for_block(text, bigint, int),
	ordering.verify_chain(text),
	ordering.channel_status(),
	ordering.peer_status(),
	ordering.transport_stats(),
	ordering.list_channels()
TO ordering_reader;
GRANT SELECT ON ordering.status, ordering.peers TO ordering_reader;
-- sql: end

-- transport: begin
-- ordering.deliver(): how a peer's worker hands this node's worker a batch
-- of Raft messages (an envelope, see src/common/envelope.h).  Only members of
-- ordering_peer may call it; it never waits and returns nothing.
CREATE FUNCTION ordering.deliver(from_node text, messages bytea)
RETURNS void
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'ordering_deliver';

COMMENT ON FUNCTION ordering.deliver(text, bytea) IS
	'transport: receive an envelope of messages from a peer node (role ordering_peer)';

REVOKE ALL ON FUNCTION ordering.deliver(text, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ordering.deliver(text, bytea) TO ordering_peer;

-- What else one node does for another, with ordering_peer and nothing more
-- (src/sql/peer.c).  Each checks that the session user is the role of a
-- member of the channel (the user of its conninfo).

-- The chain, for snapshot catch-up and eviction detection: blocks from
-- from_number on with their transactions, bounded in rows and bytes.
CREATE FUNCTION ordering.peer_blocks(channel text, from_number bigint,
									 max_blocks int)
RETURNS TABLE (number bigint, previous_hash bytea, data_hash bytea,
			   hash bytea, tx_count int, is_config boolean, config bytea,
			   raft_index bigint, raft_term bigint, tx_ids text[],
			   payloads bytea[])
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'ordering_peer_blocks';
COMMENT ON FUNCTION ordering.peer_blocks(text, bigint, int) IS
	'transport: blocks of a channel from from_number on, with their transactions, for its consenters (role ordering_peer)';

CREATE FUNCTION ordering.peer_block_hash(channel text, number bigint)
RETURNS bytea
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'ordering_peer_block_hash';
COMMENT ON FUNCTION ordering.peer_block_hash(text, bigint) IS
	'transport: the hash of one block of a channel, for its consenters (role ordering_peer)';

-- Whether the channel had an election here (its term is not 0): join_channel
-- lets the joiner vote at once when it had none (src/sql/peer.c).
CREATE FUNCTION ordering.peer_term(channel text)
RETURNS bigint
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'ordering_peer_term';
COMMENT ON FUNCTION ordering.peer_term(text) IS
	'transport: this node''s Raft term of a channel, for its current consenters (role ordering_peer)';

-- An admin call made on a follower (whose ordering_admin was checked
-- there), carried out on the leader: the peer role needs no ordering_admin.
CREATE FUNCTION ordering.relay_admin(from_node text, channel text,
									 request text, node text, arg text)
RETURNS bigint
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'ordering_relay_admin';
COMMENT ON FUNCTION ordering.relay_admin(text, text, text, text, text) IS
	'transport: run an admin request a member relays for its own admins (role ordering_peer)';

REVOKE ALL ON FUNCTION
	ordering.peer_blocks(text, bigint, int),
	ordering.peer_block_hash(text, bigint),
	ordering.peer_term(text),
	ordering.relay_admin(text, text, text, text, text)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	ordering.peer_blocks(text, bigint, int),
	ordering.peer_block_hash(text, bigint),
	ordering.peer_term(text),
	ordering.relay_admin(text, text, text, text, text)
TO ordering_peer;
-- transport: end

-- worker: begin
-- ordering.join_channel(): the explicit way for this node to join a channel
-- it is a consenter of (see src/sql/join.c); usually the worker joins by itself
-- when it hears from the other consenters.
-- With expected_genesis_hash, block 0's hash (computed here from the peer's
-- document) must equal it, else 22023 and nothing is created.
CREATE FUNCTION ordering.join_channel(channel text, peer_conninfo text,
									  expected_genesis_hash bytea DEFAULT NULL)
RETURNS text
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'ordering_join_channel';
COMMENT ON FUNCTION ordering.join_channel(text, text, bytea) IS
	'create a channel this node is a consenter of from block 0 of a peer that has it (optionally: whose hash is expected_genesis_hash)';
REVOKE ALL ON FUNCTION ordering.join_channel(text, text, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ordering.join_channel(text, text, bytea) TO ordering_admin;
-- worker: end
