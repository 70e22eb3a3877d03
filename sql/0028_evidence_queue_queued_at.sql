-- /ready and /metrics read the age of the oldest queued evidence event on every probe and scrape. min(queued_at) had no
-- index, so it read the whole queue: some 300,000 rows while a province-sized fast-track's events wait to be logged.
--
-- The primary key cannot stand in for it: an id is drawn when its row is inserted, while queued_at is the writer's clock
-- when its statement was prepared (`Dependencies.now`), so a transaction that began earlier can insert later and get a
-- larger id with an older time, and instances' clocks differ. With this index the oldest is one index probe.
--
-- The queue is small in normal running (the sequencer drains it every 200 ms), so building the index in the migration's
-- transaction holds writers back only briefly.

CREATE INDEX evidence_queue_queued_at ON evidence_queue (queued_at);
