-- Count deltas and partition checkpoints, in one table so that one INSERT stores both.
--
-- Every row of one flush has the same committed_at, so the INSERT lands in a single table
-- partition and becomes a single part, which ClickHouse makes visible atomically. That is what
-- makes counts and checkpoints move together (see docs/architecture.md).
--
-- kind = 'count': a delta for (window_start, page, event_type); sum(count) is the total.
-- kind = 'rejected': events rejected for `reason` in the processing-time window window_start.
-- kind = 'checkpoint': one Kafka partition's position and watermark after a flush. count = 1
-- on these rows, because SummingMergeTree deletes rows whose summed columns are all zero.
CREATE TABLE IF NOT EXISTS {database}.page_counts
(
    kind Enum8('count' = 1, 'checkpoint' = 2, 'rejected' = 3),
    window_start DateTime('UTC'),
    window_seconds UInt32,
    page String,
    event_type {low_cardinality_string},
    reason {low_cardinality_string},
    count UInt64,
    topic {low_cardinality_string},
    source_partition Int32,
    checkpoint_sequence UInt64,
    next_offset Int64,
    replay_from Int64,
    watermark_ms Int64,
    max_event_ms Int64,
    recent_event_ms Array(Int64),
    flush_id String,
    committed_at DateTime('UTC')
)
ENGINE = SummingMergeTree((count))
PARTITION BY toYYYYMMDD(committed_at)
ORDER BY (kind, window_start, page, event_type, reason, topic, source_partition, checkpoint_sequence)
