-- Where the Dataverse change detection stands (delta link of change tracking, or the modifiedon
-- watermark), kept across restarts so a restart never re-reads everything.
create table sync_cursor (
    name        varchar(100) not null primary key,
    cursor_value text,
    updated_at  timestamp with time zone not null
);

-- The shared fields as they were on each side at the last sync (JSON), for the three-way merge that
-- settles concurrent edits by field owner.
alter table sync_link add column referral_projection text;
