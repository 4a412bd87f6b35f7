--
-- admin: settings updates and membership changes go through the Raft log
-- and each writes a configuration block; bad requests are refused before
-- they reach the worker and change nothing.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ordering;
RESET client_min_messages;

\set ECHO none
\i test/regress_helpers.sql
\set ECHO all

-- The configuration blocks of a channel, with what changed.
CREATE FUNCTION pg_temp.config_blocks(channel_name text)
RETURNS TABLE (number bigint, change text, max_message_count int,
			   consenters jsonb)
LANGUAGE sql AS $$
	SELECT b.number, d->>'change', (d->'config'->>'max_message_count')::int,
		   d->'consenters'
	FROM ordering.blocks b,
		 LATERAL (SELECT convert_from(b.config, 'UTF8')::jsonb) AS doc(d)
	WHERE b.channel = channel_name AND b.is_config
	ORDER BY b.number
$$;

SELECT ordering.create_channel('admin-ch', '{"n1": "dbname=contrib_regression user=orderer"}',
	'{"max_message_count": 1, "batch_timeout": 20}');
SELECT public.regress_wait_for_leader('admin-ch');
SELECT * FROM ordering.submit_tx('admin-ch', 'first');

-- A settings update writes a configuration block with the full settings.
SELECT ordering.update_channel_config('admin-ch', '{"max_message_count": 3, "batch_timeout": 500}');
SELECT * FROM pg_temp.config_blocks('admin-ch');
SELECT config->'max_message_count' AS max_message_count,
	   config->'batch_timeout' AS batch_timeout,
	   config->'absolute_max_bytes' AS absolute_max_bytes
FROM ordering.channels WHERE channel = 'admin-ch';

-- The new batch size is in effect: three transactions, one block.
SELECT count(DISTINCT block_number) AS blocks, array_agg(position ORDER BY position) AS positions
FROM ordering.submit_txs('admin-ch', ARRAY['x1', 'x2', 'x3']::bytea[]);

-- Bad requests: refused, nothing changes.
SELECT public.regress_error_of(statement) FROM (VALUES
	($$SELECT ordering.update_channel_config('no-such-channel', '{}')$$),
	($$SELECT ordering.update_channel_config(NULL, '{}')$$),
	($$SELECT ordering.update_channel_config('admin-ch', NULL)$$),
	($$SELECT ordering.update_channel_config('admin-ch', '[]')$$),
	($$SELECT ordering.update_channel_config('admin-ch', '{"batch_size": 5}')$$),
	($$SELECT ordering.update_channel_config('admin-ch', '{"max_message_count": true}')$$),
	($$SELECT ordering.update_channel_config('admin-ch', '{"preferred_max_bytes": 20000000}')$$),
	($$SELECT ordering.update_channel_config('admin-ch', '{"max_message_count": 0}')$$),
	($$SELECT ordering.add_consenter('no-such-channel', 'n2', 'dbname=x user=orderer')$$),
	($$SELECT ordering.add_consenter('admin-ch', NULL, 'dbname=x user=orderer')$$),
	($$SELECT ordering.add_consenter('admin-ch', 'n2', NULL)$$),
	($$SELECT ordering.add_consenter('admin-ch', 'bad name', 'dbname=x user=orderer')$$),
	($$SELECT ordering.add_consenter('admin-ch', 'n2', 'port')$$),
	($$SELECT ordering.add_consenter('admin-ch', 'n1', 'dbname=x user=orderer')$$),
	($$SELECT ordering.remove_consenter('no-such-channel', 'n1')$$),
	($$SELECT ordering.remove_consenter('admin-ch', 'n9')$$),
	($$SELECT ordering.remove_consenter('admin-ch', 'n1')$$),
	($$SELECT ordering.remove_consenter('admin-ch', NULL)$$),
	($$SELECT ordering.update_consenter('no-such-channel', 'n1', 'dbname=x user=orderer')$$),
	($$SELECT ordering.update_consenter('admin-ch', 'n9', 'dbname=x user=orderer')$$),
	($$SELECT ordering.update_consenter('admin-ch', NULL, 'dbname=x user=orderer')$$),
	($$SELECT ordering.update_consenter('admin-ch', 'n1', NULL)$$),
	($$SELECT ordering.update_consenter('admin-ch', 'n1', 'port')$$),
	($$SELECT ordering.update_consenter('admin-ch', 'n1', 'dbname=x user=someone_else')$$),
	($$SELECT ordering.update_consenter('admin-ch', 'n1', 'dbname=x')$$),
	($$SELECT ordering.transfer_leadership('admin-ch', 'n9')$$),
	($$SELECT ordering.transfer_leadership('no-such-channel', 'n1')$$)
) AS bad(statement);
SELECT * FROM pg_temp.config_blocks('admin-ch');
SELECT node, raft_id, is_learner FROM ordering.consenters WHERE channel = 'admin-ch';

-- A node is added as a learner, and removed again; each change is a
-- configuration block.  (n2 does not run: a learner is not in the quorum.)
SELECT ordering.add_consenter('admin-ch', 'n2', 'host=127.0.0.1 port=1 dbname=contrib_regression user=orderer');
SELECT node, raft_id, is_learner FROM ordering.consenters WHERE channel = 'admin-ch' ORDER BY raft_id;
SELECT public.regress_error_of($$SELECT ordering.transfer_leadership('admin-ch', 'n2')$$);
SELECT ordering.remove_consenter('admin-ch', 'n2');
SELECT node, raft_id, is_learner FROM ordering.consenters WHERE channel = 'admin-ch' ORDER BY raft_id;
SELECT * FROM pg_temp.config_blocks('admin-ch');
SELECT * FROM ordering.verify_chain('admin-ch');

-- A consenter's address changes in place: same raft id, same role, one
-- configuration block; the channel goes on ordering.
SELECT ordering.update_consenter('admin-ch', 'n1', 'hostaddr=127.0.0.1 port=5433 dbname=contrib_regression user=orderer');
SELECT node, raft_id, is_learner, conninfo FROM ordering.consenters WHERE channel = 'admin-ch';
SELECT number, change, consenters FROM pg_temp.config_blocks('admin-ch') ORDER BY number DESC LIMIT 1;
SELECT tx_id, block_number > 0 AS ordered FROM ordering.submit_tx('admin-ch', 'after the update');
SELECT * FROM ordering.verify_chain('admin-ch');

SELECT ordering.drop_channel('admin-ch');
