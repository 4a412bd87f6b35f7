-- check_txs.sql: the transaction checks of one channel on this node.
--
--   { cat ACKED; echo '\.'; cat ATTEMPTED; echo '\.'; } |
--     psql -X -At -v ch=CHANNEL -f test/faults/check_txs.sql
--
-- stdin, read with two \copy ... FROM pstdin, each ended by a line "\.":
-- first the acknowledged transactions, one a line, "tx_id|block_number|position"
-- as ordering.submit_tx returned them; then every id the test ever submitted
-- (acknowledged or not), one a line.
--
-- Prints one line per problem, nothing when everything holds:
--   * an acknowledged id that is not present exactly once, or not at the
--     block and position submit_tx returned for it;
--   * a tx_id that appears more than once in the channel (the workers
--     drop repeats before they write a block; no unique index would
--     refuse one);
--   * a transaction whose id the test never submitted, or whose payload is
--     not the one the test submitted with that id: 'payload <id>', possibly
--     followed by '|' and padding.
CREATE TEMP TABLE acked (tx_id text, block_number bigint, position int);
\copy acked FROM pstdin WITH (FORMAT csv, DELIMITER '|')
CREATE TEMP TABLE attempted (tx_id text);
\copy attempted FROM pstdin WITH (FORMAT csv)

SELECT 'acknowledged ' || a.tx_id || ' (block ' || a.block_number || ' position '
       || a.position || ') found ' || count(t.tx_id) || ' times'
       || coalesce(' at ' || string_agg(t.block_number || '/' || t.position, ' '), '')
FROM acked a
LEFT JOIN ordering.transactions t ON t.channel = :'ch' AND t.tx_id = a.tx_id
GROUP BY a.tx_id, a.block_number, a.position
HAVING count(t.tx_id) <> 1
    OR NOT bool_and(t.block_number = a.block_number AND t.position = a.position)
ORDER BY a.tx_id
LIMIT 50;

SELECT 'tx_id ' || tx_id || ' appears ' || count(*) || ' times'
FROM ordering.transactions WHERE channel = :'ch'
GROUP BY tx_id HAVING count(*) > 1
ORDER BY tx_id LIMIT 50;

SELECT 'tx_id ' || t.tx_id || ' in block ' || t.block_number || ' was never submitted by the test'
FROM ordering.transactions t
WHERE t.channel = :'ch'
  AND NOT EXISTS (SELECT 1 FROM attempted a WHERE a.tx_id = t.tx_id)
ORDER BY t.block_number, t.position LIMIT 50;

SELECT 'tx_id ' || tx_id || ' in block ' || block_number || ' has a payload that is not the submitted one'
FROM ordering.transactions
WHERE channel = :'ch'
  AND split_part(convert_from(payload, 'UTF8'), '|', 1) IS DISTINCT FROM 'payload ' || tx_id
ORDER BY block_number, position LIMIT 50;
