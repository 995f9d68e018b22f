-- The newest checkpoint of every Kafka partition that has written one.
CREATE VIEW IF NOT EXISTS {database}.partition_checkpoints AS
SELECT
    topic,
    source_partition,
    max(checkpoint_sequence) AS sequence,
    argMax(next_offset, checkpoint_sequence) AS next_offset,
    argMax(watermark_ms, checkpoint_sequence) AS watermark_ms,
    max(committed_at) AS committed_at
FROM {database}.page_counts
WHERE kind = 'checkpoint'
GROUP BY topic, source_partition;

-- Counts per (window, page, event type). A window is final once every partition's watermark
-- has passed its end: no event can change it after that, late ones go to the dead-letter topic.
CREATE VIEW IF NOT EXISTS {database}.window_counts AS
SELECT
    window_start,
    page,
    event_type,
    sum(count) AS events,
    (toInt64(toUInt32(window_start)) + any(window_seconds)) * 1000
        <= (SELECT min(watermark_ms) FROM {database}.partition_checkpoints) AS is_final
FROM {database}.page_counts
WHERE kind = 'count'
GROUP BY window_start, page, event_type
;

-- Rejected events per processing-time window and reason, for the share of invalid and late events.
CREATE VIEW IF NOT EXISTS {database}.rejection_counts AS
SELECT window_start, reason, sum(count) AS events
FROM {database}.page_counts
WHERE kind = 'rejected'
GROUP BY window_start, reason
