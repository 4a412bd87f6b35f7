-- 02_chain: create_channel's genesis block verifies with plain SQL (the
-- README's hash rules); bad inputs raise their SQLSTATE and change nothing;
-- verify_chain finds tampering.  All in one transaction, rolled back.
\set ECHO none
\set QUIET 1
\pset format unaligned
\pset tuples_only true
\pset pager off
\set ON_ERROR_STOP true
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS ordering;

BEGIN;
SELECT plan(42);

SELECT is(ordering.create_channel('pgtap-chain',
	'{"n1": "dbname=x", "n2": "host=10.9.9.2 dbname=x", "n3": "host=10.9.9.3 dbname=x"}',
	'{"max_message_count": 7}'), 'pgtap-chain', 'create_channel returns the channel name');

SELECT results_eq($$SELECT node, raft_id FROM ordering.consenters
				   WHERE channel = 'pgtap-chain' ORDER BY node$$,
				  $$VALUES ('n1', 1::bigint), ('n2', 2), ('n3', 3)$$,
				  'raft ids 1..n follow the node names');
SELECT is((SELECT config FROM ordering.channels WHERE channel = 'pgtap-chain'),
		  '{"max_message_count": 7, "absolute_max_bytes": 10485760,
			"preferred_max_bytes": 2097152, "batch_timeout": 200,
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
			'consenters', '{"n1": {"id": 1, "conninfo": "dbname=x", "learner": false},
							"n2": {"id": 2, "conninfo": "host=10.9.9.2 dbname=x", "learner": false},
							"n3": {"id": 3, "conninfo": "host=10.9.9.3 dbname=x", "learner": false}}'::jsonb),
		  'the document names the channel, consenters, settings and change')
FROM ordering.blocks WHERE channel = 'pgtap-chain' AND number = 0;

SELECT results_eq($$SELECT ok, blocks, first_bad_block, detail FROM ordering.verify_chain('pgtap-chain')$$,
				  $$VALUES (true, 1::bigint, NULL::bigint, NULL::text)$$,
				  'verify_chain: the genesis chain is ok');

-- Bad inputs.
SELECT throws_ok($$SELECT ordering.create_channel('pgtap-chain', '{"n1": "dbname=x"}')$$,
				 '42710', 'channel "pgtap-chain" already exists', 'duplicate channel: 42710');
SELECT throws_ok($$SELECT ordering.create_channel('Bad', '{"n1": "dbname=x"}')$$,
				 '22023', NULL, 'invalid channel name: 22023');
SELECT throws_ok($$SELECT ordering.create_channel(NULL, '{"n1": "dbname=x"}')$$,
				 '22004', NULL, 'NULL channel: 22004');
SELECT throws_ok($$SELECT ordering.create_channel('pgtap-x', NULL)$$,
				 '22004', NULL, 'NULL consenters: 22004');
SELECT throws_ok($$SELECT ordering.create_channel('pgtap-x', '["n1"]')$$,
				 '22023', NULL, 'consenters not an object: 22023');
SELECT throws_ok($$SELECT ordering.create_channel('pgtap-x', '{"n1": ["dbname=x"]}')$$,
				 '22023', NULL, 'conninfo not a string: 22023');
SELECT throws_ok($$SELECT ordering.create_channel('pgtap-x', '{"n2": "dbname=x"}')$$,
				 '22023', NULL, 'consenters without this node: 22023');
SELECT throws_ok($$SELECT ordering.create_channel('pgtap-x', '{"n1": "host=a port"}')$$,
				 '22023', 'invalid connection string for node "n1"', 'malformed conninfo: 22023');
SELECT throws_ok($$SELECT ordering.create_channel('pgtap-x', '{"n1": "dbname=x"}', '{"max_message_count": -1}')$$,
				 '22023', NULL, 'setting out of range: 22023');
SELECT throws_ok($$SELECT ordering.create_channel('pgtap-x', '{"n1": "dbname=x"}', '{"unknown": 1}')$$,
				 '22023', 'unknown setting "unknown"', 'unknown setting: 22023');
SELECT throws_ok($$SELECT ordering.create_channel('pgtap-x', '{"n1": "dbname=x"}', '{"batch_timeout": "1s"}')$$,
				 '22023', NULL, 'setting of the wrong type: 22023');
SELECT is((SELECT count(*) FROM ordering.channels WHERE channel = 'pgtap-x'), 0::bigint,
		  'refused channels left no row');
SELECT throws_ok($$SELECT ordering.drop_channel('pgtap-x')$$,
				 '42704', 'channel "pgtap-x" does not exist', 'drop of an unknown channel: 42704');
SELECT throws_ok($$SELECT * FROM ordering.verify_chain('pgtap-x')$$,
				 '42704', NULL, 'verify_chain of an unknown channel: 42704');
SELECT throws_ok($$SELECT ordering.submit_tx('pgtap-x', 'p')$$,
				 '42704', 'channel "pgtap-x" does not exist', 'submit_tx to an unknown channel: 42704');
SELECT throws_ok($$SELECT ordering.submit_tx('pgtap-chain', NULL)$$,
				 '22004', NULL, 'NULL payload: 22004');
SELECT throws_ok($$SELECT ordering.submit_tx('pgtap-chain', 'p', repeat('x', 300))$$,
				 '22023', NULL, 'transaction id too long: 22023');
SELECT throws_ok($$SELECT ordering.add_consenter('pgtap-chain', 'n1', 'dbname=x')$$,
				 '42710', NULL, 'adding a consenter twice: 42710');
SELECT throws_ok($$SELECT ordering.add_consenter('pgtap-chain', 'n4', 'dbname=''x')$$,
				 '22023', NULL, 'adding a consenter with a bad conninfo: 22023');
SELECT throws_ok($$SELECT ordering.remove_consenter('pgtap-chain', 'n4')$$,
				 '42704', 'node "n4" is not a consenter of channel "pgtap-chain"',
				 'removing an unknown node: 42704');
SELECT throws_ok($$SELECT ordering.update_channel_config('pgtap-chain', '{"max_message_count": 0}')$$,
				 '22023', NULL, 'updating to a bad setting: 22023');

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
SELECT lives_ok($$SELECT ordering.create_channel('pgtap-chain', '{"n1": "dbname=x"}')$$,
				'the name of a dropped channel can be used again');

SELECT * FROM finish();
ROLLBACK;
