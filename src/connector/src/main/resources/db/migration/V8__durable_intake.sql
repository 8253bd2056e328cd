-- When an accepted event was handed to a node's processing queue (null: not yet, the queue was full).
-- The inbox sweep queues again what is not queued, or was queued before the node started.
alter table webhook_inbox add column queued_at timestamp with time zone;
create index webhook_inbox_done on webhook_inbox (state, done_at);

-- A new customer being created: the database decides who creates it when several nodes see its
-- referrals at once (the primary key lets one insert win); the others wait for it, then find it.
create table customer_creation (
    customer_key  varchar(64)  not null primary key,  -- sha-256 of the account match query
    state         varchar(16)  not null,              -- creating | created
    owner         varchar(100) not null,
    updated_at    timestamp with time zone not null
);

-- The referral -> opportunity projection last written to (or recognised on) the opportunity (JSON): a
-- Partner Center change writes only the columns whose value it changes, never a seller's edit of another.
alter table sync_link add column opportunity_written text;
