-- verify_chain.sql: checks one channel's chain on this node in plain SQL,
-- per README.md, "How blocks are hashed and verified": the one check the multi-server TAP tests
-- (test/tap/OrderingCluster.pm) and the fault tests (test/faults/) share.
-- Prints nothing when the chain verifies, else one line per bad block.
--
--   psql -X -At -v ch=CHANNEL -f test/verify_chain.sql
--
-- Checks: numbers 0..N without gaps; block 0 is a configuration block whose
-- previous_hash is 32 zero bytes; previous_hash(N) = hash(N-1);
-- data_hash = sha256(sha256(config)) of a configuration block (which has no
-- transactions), = sha256(sha256(item_0) || ... || sha256(item_k-1)) of a
-- normal block, whose positions are 0..tx_count-1 and which is not empty,
-- where item_i = convert_to(tx_id_i, 'UTF8') || '\x00' || payload_i (so a
-- renamed transaction breaks the chain too);
-- hash = sha256(int8send(number) || previous_hash || data_hash); no
-- transaction id in two rows of the channel.
-- Each block's transactions are read through the primary key, and no
-- join of the whole sets is left to the planner: with statistics from when
-- the channel was small (a catch-up just filled it, or ANALYZE last ran on
-- another channel's rows), it ran them as nested loops over sequential
-- scans, over a minute for 20,000 blocks (TAP 110 with seed 67467).  So
-- sequential scans are off for the session, and transactions outside the
-- blocks are found by their block numbers: past the last block, or below
-- 0 (one missing in between is reported as missing blocks).
SET enable_seqscan = off;
WITH b AS (
	SELECT number, previous_hash, data_hash, hash, tx_count, is_config, config,
	       coalesce(lag(number) OVER (ORDER BY number) + 1, 0) AS expected_number,
	       lag(hash) OVER (ORDER BY number) AS prev_hash
	FROM ordering.blocks WHERE channel = :'ch'
), checks AS (
	SELECT b.number,
	  CASE WHEN b.number <> b.expected_number
	       THEN 'blocks ' || b.expected_number || '..' || (b.number - 1) || ' are missing' END AS c1,
	  CASE WHEN b.number = 0 AND b.previous_hash <> decode(repeat('00', 32), 'hex')
	       THEN 'previous_hash of block 0 is not 32 zero bytes'
	       WHEN b.number > 0 AND b.previous_hash IS DISTINCT FROM b.prev_hash
	       THEN 'previous_hash is not the hash of the previous block' END AS c2,
	  CASE WHEN b.number = 0 AND NOT b.is_config
	       THEN 'block 0 is not a configuration block' END AS c3,
	  CASE WHEN b.is_config AND b.data_hash IS DISTINCT FROM sha256(sha256(b.config))
	       THEN 'data_hash is not sha256(sha256(config))'
	       WHEN b.is_config AND (b.tx_count <> 0 OR t.n > 0)
	       THEN 'configuration block with transactions'
	       WHEN NOT b.is_config AND t.n = 0
	       THEN 'normal block without transactions'
	       WHEN NOT b.is_config AND b.data_hash IS DISTINCT FROM t.dh
	       THEN 'data_hash does not match its transactions'
	       WHEN NOT b.is_config AND b.tx_count <> t.n
	       THEN 'tx_count ' || b.tx_count || ' but ' || t.n || ' transactions'
	       WHEN NOT b.is_config AND (t.minpos <> 0 OR t.maxpos <> t.n - 1)
	       THEN 'positions are not 0..n-1' END AS c4,
	  CASE WHEN b.hash IS DISTINCT FROM sha256(int8send(b.number) || b.previous_hash || b.data_hash)
	       THEN 'hash is not sha256(int8send(number) || previous_hash || data_hash)' END AS c5
	FROM b CROSS JOIN LATERAL (
		SELECT count(*) AS n, min(position) AS minpos, max(position) AS maxpos,
		       sha256(string_agg(sha256(convert_to(tx_id, 'UTF8') || '\x00'::bytea || payload),
		                         ''::bytea ORDER BY position)) AS dh
		FROM ordering.transactions
		WHERE channel = :'ch' AND block_number = b.number) t
)
SELECT coalesce(string_agg('block ' || number || ': ' || concat_ws('; ', c1, c2, c3, c4, c5),
                           E'\n' ORDER BY number), '')
       || CASE WHEN NOT EXISTS (SELECT 1 FROM b) THEN 'no blocks' ELSE '' END
       || coalesce((SELECT E'\ntransactions in block ' || min(t2.block_number) || ' which does not exist'
                    FROM ordering.transactions t2
                    WHERE t2.channel = :'ch'
                      AND (t2.block_number < 0
                           OR t2.block_number > (SELECT coalesce(max(b2.number), -1)
                                                 FROM ordering.blocks b2 WHERE b2.channel = :'ch'))
                    HAVING count(*) > 0), '')
       || coalesce((SELECT E'\ntransaction id ' || tx_id || ' is ordered twice'
                    FROM ordering.transactions t3 WHERE t3.channel = :'ch'
                    GROUP BY tx_id HAVING count(*) > 1 LIMIT 1), '')
FROM checks
WHERE c1 IS NOT NULL OR c2 IS NOT NULL OR c3 IS NOT NULL OR c4 IS NOT NULL OR c5 IS NOT NULL;
