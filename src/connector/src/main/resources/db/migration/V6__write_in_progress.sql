-- Set just before the connector PUTs a referral and cleared when the answer is recorded: Partner
-- Center's webhook for that very write can arrive first, and must then wait to be recognised as ours.
alter table sync_link add column writing_since timestamp with time zone;
