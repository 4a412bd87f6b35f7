-- 01_schema: the names the README documents (tables, functions, roles),
-- and who may use them (least privilege, nothing for PUBLIC).
\ir preamble.psql

BEGIN;
SELECT plan(122);

SELECT has_schema('ordering');
SELECT has_table('ordering', t, 'table ordering.' || t)
FROM unnest(ARRAY['channels', 'consenters', 'raft_state', 'log', 'blocks', 'transactions']) t;
SELECT has_view('ordering', 'status', 'view ordering.status');
SELECT has_view('ordering', 'peers', 'view ordering.peers');

-- ordering.blocks and ordering.transactions as pinned.
SELECT has_column('ordering', 'blocks', c, 'blocks.' || c)
FROM unnest(ARRAY['channel', 'number', 'previous_hash', 'data_hash', 'hash', 'tx_count']) c;
SELECT col_type_is('ordering', 'blocks', 'number', 'bigint', 'blocks.number is bigint');
SELECT col_type_is('ordering', 'blocks', 'hash', 'bytea', 'blocks.hash is bytea');
SELECT col_type_is('ordering', 'blocks', 'tx_count', 'integer', 'blocks.tx_count is int');
SELECT col_is_pk('ordering', 'blocks', ARRAY['channel', 'number'], 'blocks primary key (channel, number)');
SELECT has_column('ordering', 'transactions', c, 'transactions.' || c)
FROM unnest(ARRAY['channel', 'block_number', 'position', 'tx_id', 'payload']) c;
SELECT col_is_pk('ordering', 'transactions', ARRAY['channel', 'block_number', 'position'],
				 'transactions primary key (channel, block_number, position)');
-- Not a unique index: a hash index on tx_id, the worker keeping an id to
-- one row of its channel (README.md, "Choices that differ").
SELECT has_index('ordering', 'transactions', 'transactions_tx_id', ARRAY['tx_id'],
				 'transactions has an index on tx_id');
SELECT is((SELECT amname::text FROM pg_class c JOIN pg_am a ON a.oid = c.relam
		   WHERE c.oid = 'ordering.transactions_tx_id'::regclass), 'hash',
		  'the index on tx_id is a hash index');
-- The log is a queue: autovacuum frees its deleted entries, and their TOAST
-- chunks, after any 1,000 dead rows (sql/ordering--0.2.sql).
SELECT bag_eq($$SELECT unnest(reloptions) FROM pg_class
				WHERE oid = 'ordering.log'::regclass$$,
			  ARRAY['autovacuum_vacuum_scale_factor=0',
					'autovacuum_vacuum_threshold=1000',
					'autovacuum_vacuum_cost_delay=0'],
			  'the log is vacuumed after 1,000 dead rows, unpaced');
SELECT bag_eq($$SELECT unnest(t.reloptions) FROM pg_class c
				JOIN pg_class t ON t.oid = c.reltoastrelid
				WHERE c.oid = 'ordering.log'::regclass$$,
			  ARRAY['autovacuum_vacuum_scale_factor=0',
					'autovacuum_vacuum_threshold=1000',
					'autovacuum_vacuum_cost_delay=0'],
			  'so is its TOAST table');

SELECT columns_are('ordering', 'status', ARRAY[
	'channel', 'node', 'membership', 'role', 'term', 'leader', 'commit_index',
	'applied_index', 'snapshot_index', 'last_block', 'is_leader',
	'leader_changes', 'proposal_failures', 'committed_block_number',
	'data_persist_count', 'data_persist_avg_ms', 'updated_at', 'last_error',
	'rejected_records', 'recovery_target', 'recovery', 'quiesced',
	'leader_link_error'],
	'ordering.status has the columns of the contract');
SELECT columns_are('ordering', 'peers', ARRAY[
	'channel', 'node', 'raft_id', 'is_learner', 'match_index', 'next_index',
	'state', 'recent_active', 'inflight', 'last_contact'],
	'ordering.peers has the columns of the contract');

-- Functions, with their pinned signatures and results.
SELECT has_function('ordering', 'create_channel', ARRAY['text', 'jsonb', 'jsonb']);
SELECT function_returns('ordering', 'create_channel', ARRAY['text', 'jsonb', 'jsonb'], 'text');
SELECT has_function('ordering', 'submit_tx', ARRAY['text', 'bytea', 'text']);
SELECT function_returns('ordering', 'submit_tx', ARRAY['text', 'bytea', 'text'], 'setof record');
SELECT has_function('ordering', 'submit_tx_async', ARRAY['text', 'bytea', 'text']);
SELECT function_returns('ordering', 'submit_tx_async', ARRAY['text', 'bytea', 'text'], 'text');
SELECT has_function('ordering', 'submit_txs', ARRAY['text', 'bytea[]']);
SELECT has_function('ordering', 'add_consenter', ARRAY['text', 'text', 'text']);
SELECT has_function('ordering', 'remove_consenter', ARRAY['text', 'text']);
SELECT has_function('ordering', 'transfer_leadership', ARRAY['text', 'text']);
SELECT has_function('ordering', 'update_channel_config', ARRAY['text', 'jsonb']);
SELECT has_function('ordering', 'drop_channel', ARRAY['text']);
SELECT has_function('ordering', 'wait_for_block', ARRAY['text', 'bigint', 'integer']);
SELECT function_returns('ordering', 'wait_for_block', ARRAY['text', 'bigint', 'integer'], 'boolean');
SELECT has_function('ordering', 'verify_chain', ARRAY['text']);
SELECT has_function('ordering', 'list_channels', ARRAY[]::text[]);
SELECT has_function('ordering', 'deliver', ARRAY['text', 'bytea']);
SELECT has_function('ordering', 'join_channel', ARRAY['text', 'text', 'bytea']);
SELECT function_returns('ordering', 'join_channel', ARRAY['text', 'text', 'bytea'], 'text');

-- 0.2: the block hash covers transaction ids (no upgrade from 0.1).
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'ordering'), '0.2',
		  'the extension is version 0.2');

-- Functions that write run as the owner, with a fixed search_path.
SELECT is_definer('ordering', f, 'ordering.' || f || ' is SECURITY DEFINER')
FROM unnest(ARRAY['create_channel', 'drop_channel', 'update_channel_config',
				  'add_consenter', 'remove_consenter', 'transfer_leadership',
				  'submit_tx', 'submit_tx_async', 'submit_txs']) f;
SELECT is_empty($$
	SELECT p.proname FROM pg_proc p
	WHERE p.pronamespace = 'ordering'::regnamespace AND p.prosecdef
	  AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)
$$, 'every SECURITY DEFINER function sets search_path');

-- Roles.
SELECT has_role(r) FROM unnest(ARRAY['ordering_admin', 'ordering_writer', 'ordering_reader', 'ordering_peer']) r;
SELECT is_member_of('ordering_reader', 'ordering_admin');
SELECT is_member_of('ordering_writer', 'ordering_admin');

-- Nothing for PUBLIC.
SELECT is_empty($$
	SELECT p.oid::regprocedure FROM pg_proc p
	WHERE p.pronamespace = 'ordering'::regnamespace
	  AND (p.proacl IS NULL OR EXISTS (SELECT 1 FROM aclexplode(p.proacl) a
									   WHERE a.grantee = 0))
$$, 'PUBLIC may execute no function of ordering');
SELECT is_empty($$
	SELECT c.relname FROM pg_class c
	WHERE c.relnamespace = 'ordering'::regnamespace
	  AND EXISTS (SELECT 1 FROM aclexplode(c.relacl) a WHERE a.grantee = 0)
$$, 'PUBLIC may read no table of ordering');
SELECT schema_privs_are('ordering', 'public', ARRAY[]::text[], 'PUBLIC has no privilege on schema ordering');

-- Each role: exactly what the contract grants.
SELECT function_privs_are('ordering', f, args, 'ordering_writer', ARRAY['EXECUTE'])
FROM (VALUES ('submit_tx', ARRAY['text', 'bytea', 'text']),
			 ('submit_tx_async', ARRAY['text', 'bytea', 'text']),
			 ('submit_txs', ARRAY['text', 'bytea[]'])) AS f(f, args);
SELECT function_privs_are('ordering', f, args, r, ARRAY[]::text[])
FROM (VALUES ('submit_tx', ARRAY['text', 'bytea', 'text']),
			 ('create_channel', ARRAY['text', 'jsonb', 'jsonb']),
			 ('add_consenter', ARRAY['text', 'text', 'text'])) AS f(f, args),
	 unnest(ARRAY['ordering_reader', 'ordering_peer']) r
WHERE NOT (f = 'submit_tx' AND r = 'ordering_writer');
SELECT function_privs_are('ordering', f, args, 'ordering_admin', ARRAY['EXECUTE'])
FROM (VALUES ('create_channel', ARRAY['text', 'jsonb', 'jsonb']),
			 ('drop_channel', ARRAY['text']),
			 ('update_channel_config', ARRAY['text', 'jsonb']),
			 ('add_consenter', ARRAY['text', 'text', 'text']),
			 ('remove_consenter', ARRAY['text', 'text']),
			 ('transfer_leadership', ARRAY['text', 'text'])) AS f(f, args);
SELECT function_privs_are('ordering', f, args, 'ordering_reader', ARRAY['EXECUTE'])
FROM (VALUES ('wait_for_block', ARRAY['text', 'bigint', 'integer']),
			 ('verify_chain', ARRAY['text']),
			 ('list_channels', ARRAY[]::text[])) AS f(f, args);
SELECT function_privs_are('ordering', 'deliver', ARRAY['text', 'bytea'], 'ordering_peer', ARRAY['EXECUTE']);
SELECT function_privs_are('ordering', 'deliver', ARRAY['text', 'bytea'], r, ARRAY[]::text[])
FROM unnest(ARRAY['ordering_admin', 'ordering_writer', 'ordering_reader']) r;
SELECT table_privs_are('ordering', t, 'ordering_reader', ARRAY['SELECT'])
FROM unnest(ARRAY['blocks', 'transactions', 'channels', 'consenters', 'status', 'peers']) t;
SELECT table_privs_are('ordering', t, r, ARRAY[]::text[])
FROM unnest(ARRAY['blocks', 'transactions', 'channels', 'consenters']) t,
	 unnest(ARRAY['ordering_writer', 'ordering_peer']) r;
-- An admin reads through ordering_reader, and may write nothing directly.
SELECT table_privs_are('ordering', t, 'ordering_admin', ARRAY['SELECT'])
FROM unnest(ARRAY['blocks', 'transactions', 'channels', 'consenters']) t;
SELECT table_privs_are('ordering', t, 'ordering_admin', ARRAY['SELECT'])
FROM unnest(ARRAY['log', 'raft_state', 'raft_peers']) t;
SELECT table_privs_are('ordering', t, r, ARRAY[]::text[])
FROM unnest(ARRAY['log', 'raft_state', 'raft_peers']) t,
	 unnest(ARRAY['ordering_reader', 'ordering_writer', 'ordering_peer']) r;

SELECT * FROM finish();
ROLLBACK;
