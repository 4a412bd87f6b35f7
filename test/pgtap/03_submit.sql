-- 03_submit: the whole flow on one server with its worker: transactions
-- are ordered into blocks in order and once per id, configuration updates
-- are blocks, roles are enforced, and the chain verifies.  Needs a running
-- worker in this database (ordering.database); the channel is committed,
-- so the test drops it at the end.
\ir preamble.psql

\set channel 'pgtap-submit'
\set config '{"max_message_count": 1, "batch_timeout": 20}'
\ir leading_channel.psql

SELECT plan(33);

SELECT results_eq($$SELECT role, is_leader FROM ordering.status WHERE channel = 'pgtap-submit'$$,
				  $$VALUES ('leader', true)$$, 'this node leads its one-node channel');

SELECT results_eq($$SELECT * FROM ordering.submit_tx('pgtap-submit', 'one')$$,
				  $$VALUES (encode(sha256('one'), 'hex'), 1::bigint, 0)$$,
				  'submit_tx: block 1, position 0, id = sha256 of the payload');
SELECT results_eq($$SELECT * FROM ordering.submit_tx('pgtap-submit', 'two', 'id-two')$$,
				  $$VALUES ('id-two', 2::bigint, 0)$$,
				  'submit_tx with an id');
SELECT applied_index AS applied_before FROM ordering.raft_state WHERE channel = 'pgtap-submit' \gset
SELECT results_eq($$SELECT * FROM ordering.submit_tx('pgtap-submit', 'two', 'id-two')$$,
				  $$VALUES ('id-two', 2::bigint, 0)$$,
				  'resubmitting an id with its payload returns its place');
SELECT cmp_ok((SELECT applied_index FROM ordering.raft_state WHERE channel = 'pgtap-submit'), '>',
			  :applied_before::bigint,
			  '... found by the worker: the resubmission went through the log (and made no block)');
SELECT applied_index AS applied_before FROM ordering.raft_state WHERE channel = 'pgtap-submit' \gset
SELECT results_eq($$SELECT * FROM ordering.submit_tx('pgtap-submit', 'two', 'id-two')$$,
				  $$VALUES ('id-two', 2::bigint, 0)$$,
				  'resubmitted again at once, it returns its place');
SELECT is((SELECT applied_index FROM ordering.raft_state WHERE channel = 'pgtap-submit'),
		  :applied_before::bigint,
		  '... found by the submitter: just after a resubmission it looks first, and nothing goes through the log');
SELECT throws_ok($$SELECT * FROM ordering.submit_tx('pgtap-submit', 'not two', 'id-two')$$,
				 '23505', 'transaction id "id-two" is already ordered on channel "pgtap-submit" with another payload',
				 'an id ordered with another payload is refused, naming the id');
SELECT throws_ok($$SELECT ordering.submit_tx_async('pgtap-submit', 'not two', 'id-two')$$,
				 '23505', NULL, '... also asynchronously');
SELECT is((SELECT payload FROM ordering.transactions WHERE channel = 'pgtap-submit' AND tx_id = 'id-two'),
		  'two'::bytea, '... and the first payload stays');
SELECT results_eq($$SELECT block_number, position FROM ordering.submit_txs('pgtap-submit', ARRAY['p3', 'p4', 'p5']::bytea[])$$,
				  $$VALUES (3::bigint, 0), (4::bigint, 0), (5::bigint, 0)$$,
				  'submit_txs orders the payloads in order');
SELECT is(ordering.submit_tx_async('pgtap-submit', 'six', 'id-six'), 'id-six',
		  'submit_tx_async returns the id at once');
SELECT ok(ordering.wait_for_block('pgtap-submit', 6, 10000), 'wait_for_block sees block 6');
SELECT is((SELECT tx_id FROM ordering.transactions WHERE channel = 'pgtap-submit' AND block_number = 6),
		  'id-six', '... which holds the asynchronous transaction');
SELECT ok(NOT ordering.wait_for_block('pgtap-submit', 100, 50), 'wait_for_block times out with false');

-- A settings update is a configuration block and takes effect.
SELECT is(ordering.update_channel_config('pgtap-submit', '{"max_message_count": 10, "batch_timeout": 300, "batch_mode": "timeout"}'),
		  7::bigint, 'update_channel_config returns the configuration block');
SELECT results_eq($$SELECT is_config, tx_count, convert_from(config, 'UTF8')::jsonb->>'change'
				   FROM ordering.blocks WHERE channel = 'pgtap-submit' AND number = 7$$,
				  $$VALUES (true, 0, 'update_config')$$, 'block 7 is the update');
SELECT is((SELECT (config->>'max_message_count')::int FROM ordering.channels WHERE channel = 'pgtap-submit'),
		  10, 'the channel has the new settings');
SELECT ok((SELECT count(DISTINCT block_number) < 4
		   FROM ordering.submit_txs('pgtap-submit', ARRAY['b1', 'b2', 'b3', 'b4']::bytea[])),
		  'with max_message_count 10 and the batch timer four transactions share blocks');
SELECT is_empty($$
	SELECT block_number FROM ordering.transactions WHERE channel = 'pgtap-submit'
	GROUP BY block_number
	HAVING min(position) <> 0 OR max(position) <> count(*) - 1
		OR count(DISTINCT position) <> count(*)
$$, 'positions in each block are 0..n-1');

-- Roles.
CREATE ROLE pgtap_ordering_reader IN ROLE ordering_reader;
CREATE ROLE pgtap_ordering_writer IN ROLE ordering_writer;
SET ROLE pgtap_ordering_reader;
SELECT throws_ok($$SELECT ordering.submit_tx('pgtap-submit', 'reader')$$, '42501', NULL,
				 'a role without ordering_writer cannot submit');
SELECT throws_ok($$SELECT ordering.submit_tx_async('pgtap-submit', 'reader')$$, '42501', NULL,
				 '... not even asynchronously');
SELECT ok((SELECT ok FROM ordering.verify_chain('pgtap-submit')), 'a reader verifies the chain');
SET ROLE pgtap_ordering_writer;
SELECT results_eq($$SELECT tx_id FROM ordering.submit_tx('pgtap-submit', 'writer', 'id-writer')$$,
				  $$VALUES ('id-writer')$$, 'a writer submits');
SELECT throws_ok($$SELECT count(*) FROM ordering.blocks$$, '42501', NULL,
				 'a writer alone cannot read the blocks');
SELECT throws_ok($$SELECT ordering.update_channel_config('pgtap-submit', '{}')$$, '42501', NULL,
				 'a writer cannot change settings');
RESET ROLE;
DROP ROLE pgtap_ordering_reader;
DROP ROLE pgtap_ordering_writer;

-- The chain, verified both ways.
SELECT results_eq($$SELECT ok, first_bad_block FROM ordering.verify_chain('pgtap-submit')$$,
				  $$VALUES (true, NULL::bigint)$$, 'verify_chain: ok');
SELECT is_empty($$
	SELECT b.number FROM ordering.blocks b
	WHERE b.channel = 'pgtap-submit'
	  AND (b.hash <> sha256(int8send(b.number) || b.previous_hash || b.data_hash)
		   OR b.previous_hash <> coalesce((SELECT p.hash FROM ordering.blocks p
										   WHERE p.channel = b.channel AND p.number = b.number - 1),
										  '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea)
		   OR b.data_hash <> CASE WHEN b.is_config THEN sha256(sha256(b.config))
								  ELSE sha256((SELECT string_agg(sha256(convert_to(t.tx_id, 'UTF8') || '\x00'::bytea || t.payload),
																 ''::bytea ORDER BY t.position)
											   FROM ordering.transactions t
											   WHERE t.channel = b.channel AND t.block_number = b.number))
							 END)
$$, 'every block verifies with plain SQL');

-- The hash covers the ids: a renamed transaction is tampering, seen by both
-- verifiers (rolled back).
BEGIN;
SAVEPOINT tamper;
UPDATE ordering.transactions SET tx_id = 'id-renamed'
WHERE channel = 'pgtap-submit' AND tx_id = 'id-two';
SELECT results_eq($$SELECT ok, first_bad_block, detail FROM ordering.verify_chain('pgtap-submit')$$,
				  $$VALUES (false, 2::bigint, 'data_hash of block 2 does not match its contents')$$,
				  'verify_chain finds a renamed transaction');
SELECT results_eq($$
	SELECT b.number FROM ordering.blocks b
	WHERE b.channel = 'pgtap-submit' AND NOT b.is_config
	  AND b.data_hash <> sha256((SELECT string_agg(sha256(convert_to(t.tx_id, 'UTF8') || '\x00'::bytea || t.payload),
												   ''::bytea ORDER BY t.position)
								 FROM ordering.transactions t
								 WHERE t.channel = b.channel AND t.block_number = b.number))
$$, $$VALUES (2::bigint)$$, '... and so does plain SQL');
ROLLBACK TO SAVEPOINT tamper;
-- Moving a payload to another id of the same block is the same tampering.
UPDATE ordering.transactions t SET tx_id = CASE t.position WHEN 0 THEN 'swap-b' ELSE 'swap-a' END
WHERE channel = 'pgtap-submit' AND position < 2
  AND block_number = (SELECT block_number FROM ordering.transactions
					  WHERE channel = 'pgtap-submit' AND payload = 'b1');
SELECT is((SELECT ok FROM ordering.verify_chain('pgtap-submit')), false,
		  'verify_chain finds ids swapped within a block');
ROLLBACK;
SELECT is((SELECT ok FROM ordering.verify_chain('pgtap-submit')), true,
		  'after the rollback the chain verifies again');
SELECT is((SELECT last_block FROM ordering.status WHERE channel = 'pgtap-submit'),
		  (SELECT max(number) FROM ordering.blocks WHERE channel = 'pgtap-submit'),
		  'ordering.status shows the last block');

SELECT * FROM finish();
SELECT diag('dropped channel pgtap-submit') FROM ordering.drop_channel('pgtap-submit');
