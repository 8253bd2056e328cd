-- The whole referral as Partner Center last answered it (JSON): an opportunity change is PUT over it
-- with If-Match straight away, without reading the referral first (412 -> read and merge).
alter table sync_link add column referral_body text;

-- A referral about to be created from an opportunity: present while a POST may have been sent
-- without its link in the ledger. Only then is Partner Center searched by externalReferenceId first.
create table referral_create_attempt (
    opportunity_id varchar(64) not null primary key,
    attempted_at   timestamp with time zone not null
);
