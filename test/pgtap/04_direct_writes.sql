-- 04_direct_writes: the worker writes its rows through the table AM
-- (src/store/direct.c), and a table changed by its owner is still written
-- as SQL would: a user's trigger on ordering.blocks, ordering.log or
-- ordering.raft_state fires, a user's CHECK constraint holds, and the
-- columns the worker fills match what the SQL defaults would give.
-- Needs a running worker in this database, as 03_submit.
\ir preamble.psql

DROP TABLE IF EXISTS public.direct_seen;
CREATE TABLE public.direct_seen (tbl text, channel text, n bigint);
CREATE OR REPLACE FUNCTION public.direct_seen_row() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO public.direct_seen
		VALUES (TG_TABLE_NAME, NEW.channel,
				(to_jsonb(NEW) ->> CASE TG_TABLE_NAME WHEN 'blocks' THEN 'number'
													  WHEN 'log' THEN 'index'
													  ELSE 'applied_index' END)::bigint);
	RETURN NEW;
END
$$;

\set channel 'pgtap-direct'
\set config '{"max_message_count": 1}'
\ir leading_channel.psql

SELECT plan(16);

-- Written directly: the defaults and the state the SQL would leave.
SELECT results_eq($$SELECT block_number FROM ordering.submit_tx('pgtap-direct', 'direct one')$$,
				  $$VALUES (1::bigint)$$, 'a submission is ordered into block 1');
SELECT ok((SELECT created_at BETWEEN now() - interval '1 minute' AND clock_timestamp()
		   FROM ordering.blocks WHERE channel = 'pgtap-direct' AND number = 1),
		  'the block''s created_at is its transaction''s time, as the column''s default');
SELECT ok((SELECT r.applied_index >= b.raft_index AND r.commit_index >= r.applied_index
		   FROM ordering.raft_state r, ordering.blocks b
		   WHERE r.channel = 'pgtap-direct' AND b.channel = r.channel AND b.number = 1),
		  'raft_state: applied through the block, committed at least that far');
SELECT ok((SELECT count(*) = 1 FROM ordering.log l, ordering.blocks b
		   WHERE b.channel = 'pgtap-direct' AND b.number = 1
			 AND l.channel = b.channel AND l.index = b.raft_index AND l.term = b.raft_term),
		  'the block''s entry is in the log with its term');
SELECT is((SELECT payload FROM ordering.transactions WHERE channel = 'pgtap-direct' AND block_number = 1),
		  'direct one'::bytea, 'the transaction''s row holds its payload');

-- A user's triggers: the worker's writes go through SQL and fire them.
CREATE TRIGGER direct_seen AFTER INSERT ON ordering.blocks
	FOR EACH ROW EXECUTE FUNCTION public.direct_seen_row();
CREATE TRIGGER direct_seen AFTER INSERT ON ordering.log
	FOR EACH ROW EXECUTE FUNCTION public.direct_seen_row();
CREATE TRIGGER direct_seen AFTER UPDATE ON ordering.raft_state
	FOR EACH ROW EXECUTE FUNCTION public.direct_seen_row();
SELECT results_eq($$SELECT block_number FROM ordering.submit_tx('pgtap-direct', 'direct two')$$,
				  $$VALUES (2::bigint)$$, 'with triggers on the tables, ordering goes on');
SELECT results_eq($$SELECT n FROM public.direct_seen WHERE tbl = 'blocks' AND channel = 'pgtap-direct'$$,
				  $$VALUES (2::bigint)$$, 'the trigger on ordering.blocks fired for block 2');
SELECT ok(EXISTS (SELECT 1 FROM public.direct_seen d, ordering.blocks b
				  WHERE d.tbl = 'log' AND d.channel = 'pgtap-direct' AND b.channel = d.channel
					AND b.number = 2 AND d.n = b.raft_index),
		  'the trigger on ordering.log fired for block 2''s entry');
SELECT ok(EXISTS (SELECT 1 FROM public.direct_seen d, ordering.blocks b
				  WHERE d.tbl = 'raft_state' AND d.channel = 'pgtap-direct' AND b.channel = d.channel
					AND b.number = 2 AND d.n >= b.raft_index),
		  'the trigger on ordering.raft_state fired when block 2 was applied');
DROP TRIGGER direct_seen ON ordering.blocks;
DROP TRIGGER direct_seen ON ordering.log;
DROP TRIGGER direct_seen ON ordering.raft_state;

-- A user's CHECK constraint holds on the direct path too: the worker
-- cannot write the block, and writes it once the constraint is gone.
ALTER TABLE ordering.transactions ADD CONSTRAINT direct_small CHECK (length(payload) < 10) NOT VALID;
SELECT results_eq($$SELECT block_number FROM ordering.submit_tx('pgtap-direct', 'tiny')$$,
				  $$VALUES (3::bigint)$$, 'a payload the user''s constraint allows is ordered');
SELECT diag('submitted ' || ordering.submit_tx_async('pgtap-direct', 'far too long for it'));
DO $$
BEGIN
	FOR i IN 1..300 LOOP
		EXIT WHEN EXISTS (SELECT 1 FROM ordering.status WHERE channel = 'pgtap-direct'
						  AND last_error LIKE '%direct_small%');
		PERFORM pg_sleep(0.1);
	END LOOP;
END
$$;
SELECT ok((SELECT last_error LIKE '%violates check constraint "direct_small"%'
		   FROM ordering.status WHERE channel = 'pgtap-direct')
		  AND NOT EXISTS (SELECT 1 FROM ordering.transactions
						  WHERE channel = 'pgtap-direct' AND payload = 'far too long for it'),
		  'one it refuses stops the apply with the constraint''s error, and is not written');
ALTER TABLE ordering.transactions DROP CONSTRAINT direct_small;
SELECT results_eq($$SELECT block_number FROM ordering.submit_tx('pgtap-direct', 'far too long for it')$$,
				  $$VALUES (4::bigint)$$, '... and is, in the next block, once it is dropped');

-- A column whose type was changed: written through SQL, which converts,
-- never as a datum of the type the extension made (read as the new type,
-- it would be garbage or a crash).
ALTER TABLE ordering.blocks ALTER COLUMN raft_term TYPE numeric;
ALTER TABLE ordering.log ALTER COLUMN term TYPE numeric;
ALTER TABLE ordering.raft_state ALTER COLUMN log_bytes_since_snapshot TYPE numeric;
SELECT results_eq($$SELECT block_number, position FROM ordering.submit_tx('pgtap-direct', 'retyped')$$,
				  $$VALUES (5::bigint, 0)$$, 'with three columns retyped, ordering goes on');
SELECT ok((SELECT b.raft_term = l.term AND b.raft_term = r.term
		   FROM ordering.blocks b, ordering.log l, ordering.raft_state r
		   WHERE b.channel = 'pgtap-direct' AND b.number = 5 AND l.channel = b.channel
			 AND l.index = b.raft_index AND r.channel = b.channel),
		  '... the block and its log entry hold the right term');
SELECT ok((SELECT log_bytes_since_snapshot BETWEEN 1 AND 1e9 FROM ordering.raft_state
		   WHERE channel = 'pgtap-direct'),
		  '... and raft_state a sane count of log bytes');
ALTER TABLE ordering.blocks ALTER COLUMN raft_term TYPE bigint;
ALTER TABLE ordering.log ALTER COLUMN term TYPE bigint;
ALTER TABLE ordering.raft_state ALTER COLUMN log_bytes_since_snapshot TYPE bigint;
SELECT results_eq($$SELECT block_number FROM ordering.submit_tx('pgtap-direct', 'types restored')$$,
				  $$VALUES (6::bigint)$$, 'with the types restored, ordering goes on');

SELECT * FROM finish();
SELECT diag('dropped channel pgtap-direct') FROM ordering.drop_channel('pgtap-direct');
DROP TABLE public.direct_seen;
DROP FUNCTION public.direct_seen_row();
