-- 02_chain: create_channel's genesis block verifies with plain SQL (the
-- README's hash rules); verify_chain finds tampering.  All in one
-- transaction, rolled back.
\ir preamble.psql

BEGIN;
SELECT plan(21);

SELECT is(ordering.create_channel('pgtap-chain',
	'{"n1": "dbname=x user=orderer", "n2": "host=10.9.9.2 dbname=x user=orderer", "n3": "host=10.9.9.3 dbname=x user=orderer"}',
	'{"max_message_count": 7}'), 'pgtap-chain', 'create_channel returns the channel name');

SELECT results_eq($$SELECT node, raft_id FROM ordering.consenters
				   WHERE channel = 'pgtap-chain' ORDER BY node$$,
				  $$VALUES ('n1', 1::bigint), ('n2', 2), ('n3', 3)$$,
				  'raft ids 1..n follow the node names');
SELECT is((SELECT config FROM ordering.channels WHERE channel = 'pgtap-chain'),
		  '{"max_message_count": 7, "absolute_max_bytes": 10485760,
			"preferred_max_bytes": 2097152, "batch_timeout": 200,
			"batch_mode": "adaptive", "max_inflight_blocks": 1,
			"snapshot_interval_bytes": 16777216, "election_tick": 10,
			"heartbeat_tick": 1}'::jsonb,
		  'settings are stored with every default filled in');
SELECT results_eq($$SELECT number, tx_count, is_config, raft_index, raft_term
				   FROM ordering.blocks WHERE channel = 'pgtap-chain'$$,
				  $$VALUES (0::bigint, 0, true, 0::bigint, 0::bigint)$$,
				  'one block: the genesis configuration block');

-- The README's definitions, in plain SQL.
SELECT is(previous_hash, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea,
		  'previous_hash of block 0 is 32 zero bytes')
FROM ordering.blocks WHERE channel = 'pgtap-chain' AND number = 0;
SELECT is(data_hash, sha256(sha256(config)),
		  'data_hash = sha256(sha256(configuration document))')
FROM ordering.blocks WHERE channel = 'pgtap-chain' AND number = 0;
SELECT is(hash, sha256(int8send(number) || previous_hash || data_hash),
		  'hash = sha256(int8send(number) || previous_hash || data_hash)')
FROM ordering.blocks WHERE channel = 'pgtap-chain' AND number = 0;

-- The configuration document.
SELECT is(convert_from(config, 'UTF8'), (convert_from(config, 'UTF8')::jsonb)::text,
		  'the document is canonical jsonb text')
FROM ordering.blocks WHERE channel = 'pgtap-chain' AND number = 0;
SELECT is(convert_from(config, 'UTF8')::jsonb,
		  jsonb_build_object(
			'channel', 'pgtap-chain',
			'change', 'genesis',
			'config', (SELECT c.config FROM ordering.channels c WHERE c.channel = 'pgtap-chain'),
			'consenters', '{"n1": {"id": 1, "conninfo": "dbname=x user=orderer", "learner": false},
							"n2": {"id": 2, "conninfo": "host=10.9.9.2 dbname=x user=orderer", "learner": false},
							"n3": {"id": 3, "conninfo": "host=10.9.9.3 dbname=x user=orderer", "learner": false}}'::jsonb),
		  'the document names the channel, consenters, settings and change')
FROM ordering.blocks WHERE channel = 'pgtap-chain' AND number = 0;

SELECT results_eq($$SELECT ok, blocks, first_bad_block, detail FROM ordering.verify_chain('pgtap-chain')$$,
				  $$VALUES (true, 1::bigint, NULL::bigint, NULL::text)$$,
				  'verify_chain: the genesis chain is ok');

-- Bad inputs and their SQLSTATEs are the pg_regress tests' (sql/channels.sql,
-- sql/admin.sql, sql/submit.sql): each call, its error and that it changed
-- nothing.

-- Tampering (savepoints keep the channel intact for the next check).
SAVEPOINT tamper;
UPDATE ordering.blocks SET config = convert_to(convert_from(config, 'UTF8') || ' ', 'UTF8')
WHERE channel = 'pgtap-chain';
SELECT results_eq($$SELECT ok, first_bad_block FROM ordering.verify_chain('pgtap-chain')$$,
				  $$VALUES (false, 0::bigint)$$, 'a changed configuration document is found');
SELECT isnt(data_hash, sha256(sha256(config)), '... and plain SQL sees it too')
FROM ordering.blocks WHERE channel = 'pgtap-chain';
ROLLBACK TO SAVEPOINT tamper;
UPDATE ordering.blocks SET hash = sha256('forged') WHERE channel = 'pgtap-chain';
SELECT results_eq($$SELECT ok, first_bad_block, detail FROM ordering.verify_chain('pgtap-chain')$$,
				  $$VALUES (false, 0::bigint, 'hash of block 0 does not match its header')$$,
				  'a forged hash is found');
ROLLBACK TO SAVEPOINT tamper;
UPDATE ordering.blocks SET previous_hash = sha256('forged') WHERE channel = 'pgtap-chain';
SELECT results_eq($$SELECT ok, first_bad_block FROM ordering.verify_chain('pgtap-chain')$$,
				  $$VALUES (false, 0::bigint)$$, 'a forged previous_hash is found');
ROLLBACK TO SAVEPOINT tamper;
UPDATE ordering.blocks SET tx_count = 1 WHERE channel = 'pgtap-chain';
SELECT results_eq($$SELECT ok, first_bad_block FROM ordering.verify_chain('pgtap-chain')$$,
				  $$VALUES (false, 0::bigint)$$, 'a wrong tx_count is found');
ROLLBACK TO SAVEPOINT tamper;
SELECT results_eq($$SELECT ok FROM ordering.verify_chain('pgtap-chain')$$,
				  $$VALUES (true)$$, 'after the rollback the chain verifies again');

-- list_channels and status see the channel.
SELECT results_eq($$SELECT membership, consenters, last_block FROM ordering.list_channels()
				   WHERE channel = 'pgtap-chain'$$,
				  $$VALUES ('consenter', ARRAY['n1', 'n2', 'n3'], 0::bigint)$$,
				  'list_channels shows the channel');
SELECT results_eq($$SELECT node FROM ordering.status WHERE channel = 'pgtap-chain'$$,
				  $$VALUES (current_setting('ordering.node_name'))$$,
				  'ordering.status has a row for the channel');

-- drop_channel
SELECT lives_ok($$SELECT ordering.drop_channel('pgtap-chain')$$, 'drop_channel');
SELECT is((SELECT count(*) FROM ordering.blocks WHERE channel = 'pgtap-chain'), 0::bigint,
		  'drop_channel removes the blocks');
SELECT lives_ok($$SELECT ordering.create_channel('pgtap-chain', '{"n1": "dbname=x user=orderer"}')$$,
				'the name of a dropped channel can be used again');

SELECT * FROM finish();
ROLLBACK;
