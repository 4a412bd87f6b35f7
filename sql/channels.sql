--
-- channels: create_channel writes a genesis block that anyone can verify
-- with plain SQL; every bad input is refused with its SQLSTATE and changes
-- nothing; drop_channel, list_channels, verify_chain, the status view.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ordering;
RESET client_min_messages;

\set ECHO none
\i test/regress_helpers.sql
\set ECHO all

SELECT ordering.create_channel('genesis-ch',
	'{"n1": "host=localhost port=5432 dbname=contrib_regression user=orderer",
	  "n3": "host=127.0.0.1 port=3 dbname=contrib_regression user=orderer",
	  "n2": "host=127.0.0.1 port=2 dbname=contrib_regression user=orderer"}',
	'{"max_message_count": 10, "batch_timeout": 50}');

-- Defaults are filled in; raft ids follow the node names' order.
SELECT channel, config FROM ordering.channels WHERE channel = 'genesis-ch';
SELECT node, raft_id, is_learner, conninfo FROM ordering.consenters
WHERE channel = 'genesis-ch' ORDER BY raft_id;
SELECT term, vote, commit_index, applied_index, snapshot_index
FROM ordering.raft_state WHERE channel = 'genesis-ch';
-- The founder's state: an incarnation of its own, not recovering.
SELECT incarnation > 0 AS has_incarnation, recovering, recovery_reason
FROM ordering.raft_state WHERE channel = 'genesis-ch';

-- Block 0 is the genesis configuration block.
SELECT number, tx_count, is_config, raft_index, raft_term,
	   previous_hash = '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea AS zero_previous_hash
FROM ordering.blocks WHERE channel = 'genesis-ch';
SELECT jsonb_pretty(convert_from(config, 'UTF8')::jsonb) AS genesis_document
FROM ordering.blocks WHERE channel = 'genesis-ch' AND number = 0;
-- Its bytes are jsonb's canonical text.
SELECT convert_from(config, 'UTF8') = (convert_from(config, 'UTF8')::jsonb)::text AS canonical
FROM ordering.blocks WHERE channel = 'genesis-ch' AND number = 0;

-- The README's verification, in plain SQL.
SELECT b.number,
	   b.data_hash = sha256(sha256(b.config)) AS data_hash_ok,
	   b.hash = sha256(int8send(b.number) || b.previous_hash || b.data_hash) AS hash_ok
FROM ordering.blocks b WHERE b.channel = 'genesis-ch';
SELECT * FROM ordering.verify_chain('genesis-ch');

-- Bad inputs: each refused with its SQLSTATE.
SELECT public.regress_error_of(statement) FROM (VALUES
	($$SELECT ordering.create_channel('genesis-ch', '{"n1": "dbname=x user=orderer"}')$$),
	($$SELECT ordering.create_channel(NULL, '{"n1": "dbname=x user=orderer"}')$$),
	($$SELECT ordering.create_channel('a1', NULL)$$),
	($$SELECT ordering.create_channel('a1', '{"n1": "dbname=x user=orderer"}', NULL)$$),
	($$SELECT ordering.create_channel('Upper', '{"n1": "dbname=x user=orderer"}')$$),
	($$SELECT ordering.create_channel('', '{"n1": "dbname=x user=orderer"}')$$),
	($$SELECT ordering.create_channel('1abc', '{"n1": "dbname=x user=orderer"}')$$),
	($$SELECT ordering.create_channel('a_b', '{"n1": "dbname=x user=orderer"}')$$),
	($$SELECT ordering.create_channel(repeat('a', 64), '{"n1": "dbname=x user=orderer"}')$$),
	($$SELECT ordering.create_channel('a1', '[]')$$),
	($$SELECT ordering.create_channel('a1', '"n1"')$$),
	($$SELECT ordering.create_channel('a1', '{}')$$),
	($$SELECT ordering.create_channel('a1', '{"n1": 5}')$$),
	($$SELECT ordering.create_channel('a1', '{"n1": "dbname=x user=orderer", "-n2": "dbname=x user=orderer"}')$$),
	($$SELECT ordering.create_channel('a1', '{"n2": "dbname=x user=orderer"}')$$),
	($$SELECT ordering.create_channel('a1', '{"n1": "host"}')$$),
	($$SELECT ordering.create_channel('a1', '{"n1": "nosuchoption=1"}')$$),
	($$SELECT ordering.create_channel('a1', '{"n1": "dbname=''x"}')$$),
	($$SELECT ordering.create_channel('a1', jsonb_build_object('n1', repeat('x', 2000)))$$),
	($$SELECT ordering.create_channel('a1',
		(SELECT jsonb_object_agg('n' || i, 'dbname=x user=orderer') FROM generate_series(1, 33) i))$$),
	($$SELECT ordering.create_channel('a1', '{"n1": "dbname=x user=orderer"}', '[1]')$$),
	($$SELECT ordering.create_channel('a1', '{"n1": "dbname=x user=orderer"}', '{"max_messages": 1}')$$),
	($$SELECT ordering.create_channel('a1', '{"n1": "dbname=x user=orderer"}', '{"max_message_count": "10"}')$$),
	($$SELECT ordering.create_channel('a1', '{"n1": "dbname=x user=orderer"}', '{"max_message_count": 1.5}')$$),
	($$SELECT ordering.create_channel('a1', '{"n1": "dbname=x user=orderer"}', '{"max_message_count": null}')$$),
	($$SELECT ordering.create_channel('a1', '{"n1": "dbname=x user=orderer"}', '{"max_message_count": 0}')$$),
	($$SELECT ordering.create_channel('a1', '{"n1": "dbname=x user=orderer"}', '{"batch_timeout": 99999999999999999999}')$$),
	($$SELECT ordering.create_channel('a1', '{"n1": "dbname=x user=orderer"}', '{"absolute_max_bytes": 16777217}')$$),
	($$SELECT ordering.create_channel('a1', '{"n1": "dbname=x user=orderer"}', '{"absolute_max_bytes": 100, "preferred_max_bytes": 200}')$$),
	($$SELECT ordering.create_channel('a1', '{"n1": "dbname=x user=orderer"}', '{"snapshot_interval_bytes": 1023}')$$),
	($$SELECT ordering.create_channel('a1', '{"n1": "dbname=x user=orderer"}', '{"election_tick": 2, "heartbeat_tick": 2}')$$),
	($$SELECT ordering.create_channel('a1', '{"n1": "dbname=x user=orderer"}', '{"batch_mode": "fast"}')$$),
	($$SELECT ordering.create_channel('a1', '{"n1": "dbname=x user=orderer"}', '{"batch_mode": 1}')$$),
	($$SELECT ordering.create_channel('a1', '{"n1": "dbname=x user=orderer"}', '{"max_inflight_blocks": 0}')$$)
) AS bad(statement);

-- An error shows what to do about it.
SELECT ordering.create_channel('a1', '{"n1": "dbname=x user=orderer"}', '{"max_messages": 1}');
SELECT ordering.create_channel('a1', '{"n2": "dbname=x user=orderer"}');

-- None of that changed anything.
SELECT count(*) AS channels FROM ordering.channels WHERE channel <> 'genesis-ch';
SELECT count(*) AS blocks FROM ordering.blocks WHERE channel <> 'genesis-ch';

-- All or nothing, in the caller's transaction.
BEGIN;
SELECT ordering.create_channel('rolled-back', '{"n1": "dbname=x user=orderer"}');
SELECT count(*) FROM ordering.blocks WHERE channel = 'rolled-back';
ROLLBACK;
SELECT count(*) AS rolled_back FROM ordering.channels WHERE channel = 'rolled-back';

-- list_channels
SELECT ordering.create_channel('second.ch-2', '{"n1": "dbname=x user=orderer", "n10": "dbname=y user=orderer", "n9": "dbname=z user=orderer"}');
SELECT channel, membership, consenters, last_block FROM ordering.list_channels()
WHERE channel IN ('genesis-ch', 'second.ch-2');

-- Tampering is detected (inside a transaction that is rolled back).
BEGIN;
UPDATE ordering.blocks SET config = convert_to(replace(convert_from(config, 'UTF8'), '"max_message_count": 10', '"max_message_count": 99'), 'UTF8')
WHERE channel = 'genesis-ch' AND number = 0;
SELECT * FROM ordering.verify_chain('genesis-ch');
ROLLBACK;
BEGIN;
UPDATE ordering.blocks SET previous_hash = sha256('x') WHERE channel = 'genesis-ch' AND number = 0;
SELECT * FROM ordering.verify_chain('genesis-ch');
ROLLBACK;
BEGIN;
UPDATE ordering.blocks SET hash = sha256('x') WHERE channel = 'genesis-ch' AND number = 0;
SELECT * FROM ordering.verify_chain('genesis-ch');
ROLLBACK;
SELECT * FROM ordering.verify_chain('genesis-ch');
SELECT public.regress_error_of($$SELECT * FROM ordering.verify_chain('no-such-channel')$$);
SELECT public.regress_error_of($$SELECT * FROM ordering.verify_chain(NULL)$$);

-- The status view: one row per channel of this node.
\d ordering.status
\d ordering.peers
SELECT channel, node FROM ordering.status
WHERE channel IN ('genesis-ch', 'second.ch-2') ORDER BY channel;

-- create_channel, join_channel and drop_channel write in the caller's
-- transaction: a read-only one is refused with 25006, naming the function,
-- and nothing is written.
SET default_transaction_read_only = on;
SELECT public.regress_error_of(statement) FROM (VALUES
	($$SELECT ordering.create_channel('read-only-ch', '{"n1": "dbname=x user=orderer"}')$$),
	($$SELECT ordering.drop_channel('second.ch-2')$$),
	($$SELECT ordering.join_channel('read-only-ch', 'dbname=x user=orderer')$$)
) AS refused(statement);
RESET default_transaction_read_only;
BEGIN READ ONLY;
SELECT ordering.drop_channel('second.ch-2');
ROLLBACK;
SELECT (SELECT count(*) FROM ordering.channels WHERE channel = 'read-only-ch') AS created,
	   (SELECT count(*) FROM ordering.blocks WHERE channel = 'second.ch-2') AS kept_blocks;

-- drop_channel removes every row; the name can be used again.
SELECT ordering.drop_channel('second.ch-2');
SELECT count(*) FROM ordering.consenters WHERE channel = 'second.ch-2';
SELECT public.regress_error_of($$SELECT ordering.drop_channel('second.ch-2')$$);
SELECT public.regress_error_of($$SELECT ordering.drop_channel(NULL)$$);
SELECT ordering.create_channel('second.ch-2', '{"n1": "dbname=x user=orderer"}');
SELECT ordering.drop_channel('second.ch-2');

-- drop_channel deletes from every table itself: with
-- session_replication_role = replica no foreign-key cascade fires.
SELECT ordering.create_channel('replica-ch', '{"n1": "dbname=x user=orderer"}');
SET session_replication_role = replica;
SELECT ordering.drop_channel('replica-ch');
RESET session_replication_role;
SELECT (SELECT count(*) FROM ordering.consenters WHERE channel = 'replica-ch') AS consenters,
	   (SELECT count(*) FROM ordering.raft_state WHERE channel = 'replica-ch') AS raft_state,
	   (SELECT count(*) FROM ordering.raft_peers WHERE channel = 'replica-ch') AS raft_peers,
	   (SELECT count(*) FROM ordering.catchups WHERE channel = 'replica-ch') AS catchups,
	   (SELECT count(*) FROM ordering.log WHERE channel = 'replica-ch') AS log,
	   (SELECT count(*) FROM ordering.blocks WHERE channel = 'replica-ch') AS blocks;
SELECT ordering.create_channel('replica-ch', '{"n1": "dbname=x user=orderer"}');
SELECT ordering.drop_channel('replica-ch');
SELECT ordering.drop_channel('genesis-ch');
SELECT count(*) AS channels_left FROM ordering.channels
WHERE channel IN ('genesis-ch', 'second.ch-2');

-- pg_dump keeps the ledger: the chain's tables are extension configuration
-- tables (dumped with their rows); the Raft state, log and peers are not.
SELECT c.relname FROM pg_extension e, unnest(e.extconfig) t(oid)
JOIN pg_class c ON c.oid = t.oid
WHERE e.extname = 'ordering' ORDER BY 1;
