--
-- submit: transactions go into blocks in order, once per id; bad
-- submissions are refused before anything is enqueued; the chain verifies
-- in plain SQL and verify_chain finds tampering.
--
-- max_message_count = 1 makes every transaction its own block, so block
-- numbers are deterministic.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS ordering;
RESET client_min_messages;

\set ECHO none
\i test/regress_helpers.sql
\set ECHO all

SELECT ordering.create_channel('submit-ch', '{"n1": "dbname=contrib_regression user=orderer"}',
	'{"max_message_count": 1, "batch_timeout": 20}');
SELECT ordering.create_channel('small-ch', '{"n1": "dbname=contrib_regression user=orderer"}',
	'{"max_message_count": 1, "batch_timeout": 20, "absolute_max_bytes": 8, "preferred_max_bytes": 8}');
SELECT public.regress_wait_for_leader('submit-ch'), public.regress_wait_for_leader('small-ch');

-- The default id is the SHA-256 of the payload, in hex.
SELECT * FROM ordering.submit_tx('submit-ch', 'hello');
SELECT encode(sha256('hello'), 'hex') AS expected_tx_id;
SELECT * FROM ordering.submit_tx('submit-ch', 'payload two', 'tx-2');

-- An id is ordered once: resubmitting its payload returns where it already
-- is; another payload under a taken id is refused, naming the id.
SELECT * FROM ordering.submit_tx('submit-ch', 'payload two', 'tx-2');
SELECT * FROM ordering.submit_tx('submit-ch', 'hello');
SELECT public.regress_error_of(statement) FROM (VALUES
	($$SELECT ordering.submit_tx('submit-ch', 'another payload', 'tx-2')$$),
	($$SELECT ordering.submit_tx_async('submit-ch', 'another payload', 'tx-2')$$),
	($$SELECT ordering.submit_tx('submit-ch', 'another payload', encode(sha256('hello'), 'hex'))$$)
) AS taken(statement);

-- Many at once, in order.
SELECT * FROM ordering.submit_txs('submit-ch', ARRAY['a', 'b', 'c']::bytea[]);
SELECT * FROM ordering.submit_txs('submit-ch', ARRAY[]::bytea[]);
-- A repeated payload is one transaction.
SELECT * FROM ordering.submit_txs('submit-ch', ARRAY['d', 'a', 'd']::bytea[]);

-- Asynchronous: the id at once, the block later.
SELECT ordering.submit_tx_async('submit-ch', 'async payload', 'tx-async');
SELECT ordering.wait_for_block('submit-ch', 7, 10000);
SELECT block_number, position FROM ordering.transactions
WHERE channel = 'submit-ch' AND tx_id = 'tx-async';
SELECT ordering.wait_for_block('submit-ch', 1000, 100) AS far_future_block;
SELECT ordering.wait_for_block('submit-ch', 0) AS genesis_block;

-- Submitting is not transactional: a rollback does not take it back.
BEGIN;
SELECT ordering.submit_tx_async('submit-ch', 'rolled back', 'tx-rollback');
ROLLBACK;
-- The id is taken, in flight or ordered: another payload is refused (once
-- the first is in a block), the same payload gets its place.
SELECT public.regress_error_of($$SELECT ordering.submit_tx('submit-ch', 'resubmitted', 'tx-rollback')$$);
SELECT * FROM ordering.submit_tx('submit-ch', 'rolled back', 'tx-rollback');
SELECT convert_from(payload, 'UTF8') FROM ordering.transactions
WHERE channel = 'submit-ch' AND tx_id = 'tx-rollback';

-- What the chain holds.
SELECT b.number, b.tx_count, b.is_config, t.position, t.tx_id,
	   convert_from(t.payload, 'UTF8') AS payload
FROM ordering.blocks b
LEFT JOIN ordering.transactions t
	ON t.channel = b.channel AND t.block_number = b.number
WHERE b.channel = 'submit-ch'
ORDER BY b.number, t.position;

-- Bad submissions.
SELECT public.regress_error_of(statement) FROM (VALUES
	($$SELECT ordering.submit_tx('no-such-channel', 'x')$$),
	($$SELECT ordering.submit_tx('Not A Channel', 'x')$$),
	($$SELECT ordering.submit_tx(NULL, 'x')$$),
	($$SELECT ordering.submit_tx('submit-ch', NULL)$$),
	($$SELECT ordering.submit_tx('small-ch', '123456789')$$),
	($$SELECT ordering.submit_tx('submit-ch', 'x', '')$$),
	($$SELECT ordering.submit_tx('submit-ch', 'x', repeat('i', 256))$$),
	($$SELECT ordering.submit_tx_async('no-such-channel', 'x')$$),
	($$SELECT ordering.submit_tx_async('submit-ch', NULL)$$),
	($$SELECT ordering.submit_tx_async('small-ch', '123456789')$$),
	($$SELECT ordering.submit_tx_async('submit-ch', 'x', '')$$),
	($$SELECT ordering.submit_txs('no-such-channel', ARRAY['x']::bytea[])$$),
	($$SELECT ordering.submit_txs('submit-ch', NULL)$$),
	($$SELECT ordering.submit_txs('submit-ch', ARRAY['x', NULL]::bytea[])$$),
	($$SELECT ordering.submit_txs('submit-ch', ARRAY[['y1', 'y2'], ['y3', 'y4']]::bytea[])$$),
	($$SELECT ordering.submit_txs('small-ch', ARRAY['fits', '123456789']::bytea[])$$),
	($$SELECT ordering.wait_for_block('no-such-channel', 0)$$),
	($$SELECT ordering.wait_for_block('submit-ch', -1)$$),
	($$SELECT ordering.wait_for_block('submit-ch', NULL)$$),
	($$SELECT ordering.wait_for_block('submit-ch', 1000, -5)$$)
) AS bad(statement);

-- The oversized error says what the limit is.
SELECT ordering.submit_tx('small-ch', '123456789');

-- Nothing of a refused batch was enqueued: a later transaction is ordered
-- first, and 'fits' never shows up.
SELECT * FROM ordering.submit_tx('small-ch', 'later');
SELECT count(*) AS refused_batch_ordered FROM ordering.transactions
WHERE channel = 'small-ch' AND payload = 'fits';

-- A submission is not transactional (like nextval): under REPEATABLE READ
-- it waits with fresh snapshots all the same and returns the place, which
-- the transaction's own snapshot (taken by its first statement) does not
-- show.  Waiting for a block that this snapshot could never show is
-- refused.
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT tx_id, block_number > 0 AS ordered FROM ordering.submit_tx('submit-ch', 'rr', 'tx-rr');
SELECT count(*) AS rr_snapshot_shows FROM ordering.transactions
WHERE channel = 'submit-ch' AND tx_id = 'tx-rr';
SELECT tx_id = encode(sha256('rr 1'), 'hex') AS same_id, block_number > 0 AS ordered
FROM ordering.submit_txs('submit-ch', ARRAY['rr 1']::bytea[]);
SELECT public.regress_error_of($$SELECT ordering.wait_for_block('submit-ch', 1000, 10)$$);
SELECT ordering.wait_for_block('submit-ch', 1, 10) AS existing_block;
SELECT ordering.submit_tx_async('submit-ch', 'rr async', 'tx-rr-async');
COMMIT;
SELECT count(*) AS shown_after_commit FROM ordering.transactions
WHERE channel = 'submit-ch' AND tx_id = 'tx-rr';
SELECT * FROM ordering.submit_tx('submit-ch', 'rr async', 'tx-rr-async');

-- Sessions that default to SERIALIZABLE (a server's or database's
-- setting): a single statement submits and waits for a block as under
-- READ COMMITTED.
SET default_transaction_isolation = 'serializable';
SELECT tx_id, block_number > 0 AS ordered FROM ordering.submit_tx('submit-ch', 'serializable', 'tx-ser');
SELECT coalesce(max(number), 0) + 1 AS next_block FROM ordering.blocks WHERE channel = 'submit-ch' \gset
SELECT ordering.submit_tx_async('submit-ch', 'serializable async', 'tx-ser-async');
SELECT ordering.wait_for_block('submit-ch', :next_block, 10000) AS waited_for_next_block;
RESET default_transaction_isolation;

-- The whole chain, verified with plain SQL (README.md's hash rules).
WITH checked AS (
	SELECT b.number, b.previous_hash, b.data_hash, b.hash,
		   CASE WHEN b.is_config THEN sha256(sha256(b.config))
				ELSE sha256(coalesce((SELECT string_agg(sha256(convert_to(t.tx_id, 'UTF8')
															   || '\x00'::bytea || t.payload),
														''::bytea ORDER BY t.position)
									  FROM ordering.transactions t
									  WHERE t.channel = b.channel
										AND t.block_number = b.number),
									 ''::bytea))
		   END AS computed_data_hash,
		   coalesce(lag(b.hash) OVER (ORDER BY b.number),
					'\x0000000000000000000000000000000000000000000000000000000000000000'::bytea)
		   AS computed_previous_hash,
		   b.number = row_number() OVER (ORDER BY b.number) - 1 AS numbered_in_order
	FROM ordering.blocks b
	WHERE b.channel = 'submit-ch'
)
SELECT count(*) AS blocks,
	   bool_and(numbered_in_order) AS no_gaps,
	   bool_and(previous_hash = computed_previous_hash) AS links_ok,
	   bool_and(data_hash = computed_data_hash) AS data_hashes_ok,
	   bool_and(hash = sha256(int8send(number) || previous_hash || data_hash)) AS hashes_ok
FROM checked;
SELECT * FROM ordering.verify_chain('submit-ch');

-- verify_chain finds tampering (rolled back each time).
BEGIN;
UPDATE ordering.transactions SET payload = 'B' WHERE channel = 'submit-ch' AND tx_id = encode(sha256('b'), 'hex');
SELECT * FROM ordering.verify_chain('submit-ch');
ROLLBACK;
BEGIN;
-- The hash covers the ids: renaming a transaction is tampering too.
UPDATE ordering.transactions SET tx_id = 'tx-renamed' WHERE channel = 'submit-ch' AND tx_id = 'tx-2';
SELECT * FROM ordering.verify_chain('submit-ch');
ROLLBACK;
BEGIN;
UPDATE ordering.blocks SET tx_count = 2 WHERE channel = 'submit-ch' AND number = 3;
SELECT * FROM ordering.verify_chain('submit-ch');
ROLLBACK;
BEGIN;
DELETE FROM ordering.blocks WHERE channel = 'submit-ch' AND number = 2;
SELECT * FROM ordering.verify_chain('submit-ch');
ROLLBACK;
BEGIN;
-- The last blocks deleted: what is left links up, but this node applied
-- more (raft_state keeps the head).
DELETE FROM ordering.transactions WHERE channel = 'submit-ch' AND block_number >= 5;
DELETE FROM ordering.blocks WHERE channel = 'submit-ch' AND number >= 5;
SELECT * FROM ordering.verify_chain('submit-ch');
ROLLBACK;
BEGIN;
-- The last block rewritten whole: no block after it breaks the link.
UPDATE ordering.transactions SET payload = 'X'
WHERE channel = 'submit-ch' AND block_number = (SELECT max(number) FROM ordering.blocks WHERE channel = 'submit-ch');
UPDATE ordering.blocks b SET data_hash = (SELECT sha256(string_agg(sha256(convert_to(t.tx_id, 'UTF8') || '\x00'::bytea || t.payload), '' ORDER BY t.position))
										  FROM ordering.transactions t
										  WHERE t.channel = b.channel AND t.block_number = b.number)
WHERE channel = 'submit-ch' AND number = (SELECT max(number) FROM ordering.blocks WHERE channel = 'submit-ch');
UPDATE ordering.blocks SET hash = sha256(int8send(number) || previous_hash || data_hash)
WHERE channel = 'submit-ch' AND number = (SELECT max(number) FROM ordering.blocks WHERE channel = 'submit-ch');
SELECT * FROM ordering.verify_chain('submit-ch');
ROLLBACK;
BEGIN;
-- Transactions without a normal block are found (no foreign key keeps them out).
INSERT INTO ordering.transactions VALUES ('submit-ch', 99, 0, 'orphan', 'o');
SELECT * FROM ordering.verify_chain('submit-ch');
ROLLBACK;
BEGIN;
INSERT INTO ordering.transactions VALUES ('submit-ch', 0, 0, 'on-genesis', 'g');
SELECT * FROM ordering.verify_chain('submit-ch');
ROLLBACK;
BEGIN;
UPDATE ordering.transactions SET position = 1 WHERE channel = 'submit-ch' AND block_number = 1;
SELECT * FROM ordering.verify_chain('submit-ch');
ROLLBACK;
BEGIN;
-- A whole block rewritten consistently still breaks the link to the next.
UPDATE ordering.transactions SET payload = 'X' WHERE channel = 'submit-ch' AND block_number = 3;
UPDATE ordering.blocks b SET data_hash = (SELECT sha256(sha256(convert_to(t.tx_id, 'UTF8') || '\x00'::bytea || t.payload))
										  FROM ordering.transactions t
										  WHERE t.channel = b.channel AND t.block_number = b.number)
WHERE channel = 'submit-ch' AND number = 3;
UPDATE ordering.blocks SET hash = sha256(int8send(number) || previous_hash || data_hash) WHERE channel = 'submit-ch' AND number = 3;
SELECT * FROM ordering.verify_chain('submit-ch');
ROLLBACK;
SELECT * FROM ordering.verify_chain('submit-ch');

-- Many transactions through the small submission queue (256kB in
-- test/regress.conf): it wraps around and fills up; order is kept.
SELECT ordering.create_channel('bulk-ch', '{"n1": "dbname=contrib_regression user=orderer"}',
	'{"max_message_count": 500, "batch_timeout": 50}');
SELECT public.regress_wait_for_leader('bulk-ch');
SELECT count(*) AS submitted, count(DISTINCT tx_id) AS distinct_ids,
	   count(DISTINCT block_number) > 1 AS several_blocks
FROM ordering.submit_txs('bulk-ch',
	ARRAY(SELECT convert_to(lpad(i::text, 200, 'x'), 'UTF8') FROM generate_series(1, 3000) i));
SELECT bool_and(place = ltrim(convert_from(payload, 'UTF8'), 'x')::int) AS in_submission_order,
	   count(*) AS transactions
FROM (SELECT payload, row_number() OVER (ORDER BY block_number, position) AS place
	  FROM ordering.transactions WHERE channel = 'bulk-ch') t;
SELECT ok, blocks > 1 AS several_blocks FROM ordering.verify_chain('bulk-ch');
-- A transaction larger than the whole queue can never be taken.
SELECT ordering.submit_tx('bulk-ch', convert_to(repeat('y', 300000), 'UTF8'));
SELECT ordering.drop_channel('bulk-ch');
-- drop_channel deletes the transactions too (no foreign key cascades).
SELECT count(*) AS bulk_transactions_left FROM ordering.transactions WHERE channel = 'bulk-ch';

-- A block per transaction, up to 100 in flight: a ready applies many
-- batches in one transaction, more than it writes in subtransactions
-- (the rest are probed first); every transaction is ordered once.
SELECT ordering.create_channel('many-ch', '{"n1": "dbname=contrib_regression user=orderer"}',
	'{"max_message_count": 1, "max_inflight_blocks": 100}');
SELECT public.regress_wait_for_leader('many-ch');
SELECT count(*) AS submitted, count(DISTINCT block_number) AS blocks
FROM ordering.submit_txs('many-ch',
	ARRAY(SELECT convert_to('m' || i, 'UTF8') FROM generate_series(1, 400) i));
SELECT count(*) AS transactions, count(DISTINCT tx_id) AS distinct_ids,
	   bool_and(position = 0) AS one_per_block
FROM ordering.transactions WHERE channel = 'many-ch';
SELECT ok, blocks FROM ordering.verify_chain('many-ch');
SELECT ordering.drop_channel('many-ch');

-- With a trigger on ordering.transactions the rows go through INSERT (the
-- table AM path would skip it), so the trigger sees every row.
CREATE TABLE public.tx_seen (tx_id text);
CREATE FUNCTION public.tx_seen_note() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN INSERT INTO public.tx_seen VALUES (NEW.tx_id); RETURN NEW; END$$;
CREATE TRIGGER tx_seen AFTER INSERT ON ordering.transactions
	FOR EACH ROW EXECUTE FUNCTION public.tx_seen_note();
SELECT count(*) AS submitted FROM ordering.submit_txs('submit-ch', ARRAY['seen-1', 'seen-2']::bytea[]);
SELECT count(*) AS seen_by_trigger FROM public.tx_seen
WHERE tx_id IN (encode(sha256('seen-1'), 'hex'), encode(sha256('seen-2'), 'hex'));
DROP TRIGGER tx_seen ON ordering.transactions;
DROP FUNCTION public.tx_seen_note();
DROP TABLE public.tx_seen;

-- Without a quorum nothing is ordered: submit_tx gives up after
-- ordering.submit_timeout, and says resubmitting is safe.
SELECT ordering.create_channel('no-quorum-ch', '{"n1": "dbname=contrib_regression user=orderer",
	"n2": "host=127.0.0.1 port=1 dbname=contrib_regression user=orderer",
	"n3": "host=127.0.0.1 port=1 dbname=contrib_regression user=orderer"}');
SET ordering.submit_timeout = '300ms';
SELECT * FROM ordering.submit_tx('no-quorum-ch', 'stuck', 'tx-stuck');
SELECT * FROM ordering.submit_txs('no-quorum-ch', ARRAY['s1', 's2']::bytea[]);
RESET ordering.submit_timeout;
-- Reads keep working.
SELECT * FROM ordering.verify_chain('no-quorum-ch');
SELECT ordering.drop_channel('no-quorum-ch');

-- This node leads both channels; the view shows it.
SELECT channel, node, membership, role, leader, is_leader,
	   term >= 1 AS has_term, commit_index >= applied_index AS indexes_ordered,
	   last_block = (SELECT max(number) FROM ordering.blocks b
					 WHERE b.channel = s.channel) AS last_block_current,
	   last_error
FROM ordering.status s
WHERE channel IN ('submit-ch', 'small-ch') ORDER BY channel;

-- A channel without Raft state here (restored from a dump) is an archive:
-- every way of submitting is refused (55000).  Rolled back.
BEGIN;
DELETE FROM ordering.raft_state WHERE channel = 'small-ch';
SELECT public.regress_error_of(statement) FROM (VALUES
	($$SELECT ordering.submit_tx('small-ch', 'x')$$),
	($$SELECT ordering.submit_tx_async('small-ch', 'x')$$),
	($$SELECT ordering.submit_txs('small-ch', ARRAY['x']::bytea[])$$)
) AS archive(statement);
ROLLBACK;

-- The settings and places are read through the tables' indexes, checked
-- first: a missing one is 42P01, another one in its place XX001, never a
-- wrong answer.  Rolled back.
BEGIN;
DROP INDEX ordering.transactions_tx_id;
SELECT public.regress_error_of($$SELECT ordering.submit_tx_async('submit-ch', 'payload two', 'tx-2')$$);
CREATE INDEX transactions_tx_id ON ordering.transactions (tx_id);
SELECT public.regress_error_of($$SELECT ordering.submit_tx_async('submit-ch', 'payload two', 'tx-2')$$);
ROLLBACK;
BEGIN;
DROP INDEX ordering.transactions_tx_id;
CREATE INDEX transactions_tx_id ON ordering.transactions USING hash (payload);
SELECT public.regress_error_of($$SELECT ordering.submit_tx_async('submit-ch', 'payload two', 'tx-2')$$);
ROLLBACK;

-- The index on tx_id is a hash index, not a unique one: the worker keeps
-- an id to one row of its channel.  A second row written by hand is
-- reported (XX001), never taken for the place, and verify_chain names it.
-- The same id on another channel is no repeat.  Rolled back.
BEGIN;
INSERT INTO ordering.transactions (channel, block_number, position, tx_id, payload)
	SELECT 'small-ch', 1000, 0, tx_id, payload FROM ordering.transactions
	WHERE channel = 'submit-ch' AND tx_id = 'tx-2';
SELECT * FROM ordering.submit_tx('submit-ch', 'payload two', 'tx-2');
INSERT INTO ordering.transactions (channel, block_number, position, tx_id, payload)
	SELECT channel, 1000, 0, tx_id, payload FROM ordering.transactions
	WHERE channel = 'submit-ch' AND tx_id = 'tx-2';
SELECT public.regress_error_of($$SELECT ordering.submit_tx('submit-ch', 'payload two', 'tx-2')$$);
SELECT public.regress_error_of($$SELECT ordering.submit_tx_async('submit-ch', 'payload two', 'tx-2')$$);
SELECT * FROM ordering.verify_chain('submit-ch');
ROLLBACK;
BEGIN;
SET LOCAL client_min_messages = warning;
ALTER TABLE ordering.channels DROP CONSTRAINT channels_pkey CASCADE;
RESET client_min_messages;
CREATE UNIQUE INDEX channels_pkey ON ordering.channels (channel) WHERE channel <> '';
SELECT public.regress_error_of($$SELECT ordering.submit_tx_async('submit-ch', 'payload two', 'tx-2')$$);
ROLLBACK;
SELECT ordering.submit_tx_async('submit-ch', 'payload two', 'tx-2') AS after_rollback;

SELECT ordering.drop_channel('submit-ch');
SELECT ordering.drop_channel('small-ch');

-- The backend keeps the OIDs of what it reads by key: dropping and
-- creating the extension again in one session must not leave it reading
-- the old tables.
DROP EXTENSION ordering;
SELECT public.regress_error_of($$SELECT ordering.submit_tx('submit-ch', 'x')$$);
CREATE EXTENSION ordering;
SELECT public.regress_error_of($$SELECT ordering.submit_tx('submit-ch', 'x')$$);
SELECT ordering.create_channel('again-ch', '{"n1": "dbname=contrib_regression user=orderer"}',
	'{"max_message_count": 1, "batch_timeout": 20}');
SELECT public.regress_wait_for_leader('again-ch');
SELECT * FROM ordering.submit_tx('again-ch', 'again', 'tx-again');
SELECT * FROM ordering.submit_txs('again-ch', ARRAY['again 2', 'again 2']::bytea[]);
SELECT * FROM ordering.submit_tx('again-ch', 'again', 'tx-again');
SELECT public.regress_error_of($$SELECT ordering.submit_tx('again-ch', 'other', 'tx-again')$$);
SELECT ordering.drop_channel('again-ch');
